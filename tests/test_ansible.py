"""docs/examples/ansible run for real: ansible-playbook (ansible-core), connection local, three
"Macs" that are three scratch homes, against the real sshd and the gateway stand-in, with the
steps that can run on Linux. First play: changed on each; second: changed=0; each home has its
block and its tunnel; the token is in no play output, log or file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from plugins import _gateway
from tests.conftest import REPO, snapshot
from tests.harness import ports
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.test_remote import kill_recorded_tunnel, ssh_processes_for

pytestmark = pytest.mark.timeout(240)
EXAMPLE = REPO / "docs" / "examples" / "ansible"
STEPS = ["ssh-config", "ssh-key", "token", "tunnel"]  # app-restart and autostart need macOS (or systemd)
HOSTS = ["mac1", "mac2", "mac3"]
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def local_host(home, steps, extra_args) -> dict:
    """One "Mac": this machine over connection local, the wizard under test working in ``home``."""
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    return {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "openclaw_remote_become": False,  # no sudo here; a Mac admin's become_user is the default
        "openclaw_remote_gui_session": False,  # no launchd session on Linux: the wizard runs directly
        "openclaw_remote_install": False,  # the wizard under test, not one from PyPI
        "openclaw_remote_command": [sys.executable, "-m", "wizard"],
        "openclaw_remote_home": str(home), "openclaw_remote_steps": steps, "openclaw_remote_extra_args": extra_args,
    }


def player(tmp_path, hosts: dict, group_vars: dict):
    """``play(*args, playbook_file=...)``: ansible-playbook on this inventory, with Ansible's home,
    temp files and log under tmp_path (never the real ~/.ansible), the token from a vars file."""
    inventory = tmp_path / "inventory.yml"  # JSON is YAML
    inventory.write_text(json.dumps({"openclaw_macs": {"hosts": hosts, "vars": group_vars}}))
    vault = tmp_path / "vault.yml"  # what `ansible-vault` would decrypt: the token's only file
    vault.write_text(json.dumps({"openclaw_gateway_token": GATEWAY_TOKEN}))
    admin = tmp_path / "admin"
    admin.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "OPENCLAW_", "SSH_"))}
    env.update(HOME=str(admin), ANSIBLE_HOME=str(admin / ".ansible"), ANSIBLE_LOCAL_TEMP=str(admin / "tmp"),
               ANSIBLE_REMOTE_TEMP=str(admin / "remote-tmp"), ANSIBLE_LOG_PATH=str(admin / "ansible.log"),
               ANSIBLE_CONFIG=str(EXAMPLE / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS="3", LANG="C.UTF-8")
    playbook = shutil.which("ansible-playbook", path=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}")
    assert playbook, "ansible-core is in the test extra: pip install -e '.[test]'"

    def play(*extra: str, playbook_file: str = "site.yml") -> subprocess.CompletedProcess:
        return subprocess.run([playbook, "-i", str(inventory), "-e", f"@{vault}", *extra, str(EXAMPLE / playbook_file)],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
                              stdin=subprocess.DEVNULL)

    return play, admin


@pytest.fixture
def fleet(tmp_path, sshd, gateway, secret_service):
    if not sshd.supports_password:
        pytest.skip("needs root for the password user (CI runs as root)")
    sshd.revoke_all_keys()  # each home's new key is copied with ssh-copy-id and the password
    homes = {name: tmp_path / name for name in HOSTS}
    hosts = {name: local_host(home, STEPS, ["--local-port", str(ports.free_port()), "--remote-port",
                                            str(gateway.port), "--accept-host-key"])
             for name, home in homes.items()}
    play, admin = player(tmp_path, hosts, {
        "openclaw_remote_host": sshd.host, "openclaw_remote_user": sshd.user, "openclaw_remote_port": sshd.port,
        "openclaw_remote_environment": {"PYTHONPATH": str(REPO), "OPENCLAW_REMOTE_PLATFORM": "linux",
                                        "OPENCLAW_REMOTE_SSH_PASSWORD": sshd.password, **secret_service},
    })
    world = type("Fleet", (), {"homes": homes, "hosts": hosts, "play": staticmethod(play), "admin": admin,
                               "sshd": sshd, "keyring": secret_service})
    try:
        yield world
    finally:
        for home in homes.values():
            kill_recorded_tunnel(home)


def recap(result, hosts=HOSTS) -> dict[str, tuple[int, ...]]:
    found = {host: tuple(map(int, counts)) for host, *counts in RECAP.findall(result.stdout)}
    assert set(found) == set(hosts), result.stdout + result.stderr
    return found  # host -> (ok, changed, unreachable, failed)


def test_the_playbook_sets_up_three_homes_then_reports_changed_0(fleet):
    first = fleet.play("-vvv")  # the most Ansible says: still no token
    assert first.returncode == 0, first.stdout + first.stderr
    assert {host: counts[1:] for host, counts in recap(first).items()} == {host: (1, 0, 0) for host in HOSTS}
    for name, home in fleet.homes.items():
        local_port = int(fleet.hosts[name]["openclaw_remote_extra_args"][1])  # its own, from its host vars
        config = (home / ".ssh" / "config").read_text()
        assert "Host remote-gateway" in config and f"Port {fleet.sshd.port}" in config, name
        assert f"LocalForward 127.0.0.1:{local_port} " in config, name
        assert os.path.exists(home / ".ssh" / "id_ed25519"), name  # its own key, copied to the sshd
        assert len(ssh_processes_for(home)) == 1, name  # its own tunnel, named by its own config
        assert _gateway.probe(local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK, name

    # The token came on the wizard's stdin and is in the keyring (one Secret Service for the three):
    assert fleet.keyring.get_password("openclaw-remote:remote-gateway", "gateway-token") == GATEWAY_TOKEN
    assert "token: changed" in first.stdout

    second = fleet.play()
    assert second.returncode == 0, second.stdout + second.stderr
    assert {host: counts[1:] for host, counts in recap(second).items()} == {host: (0, 0, 0) for host in HOSTS}
    assert all(f"{step}: done" in second.stdout for step in STEPS)  # the report task: each step already done
    for home in fleet.homes.values():
        assert len(ssh_processes_for(home)) == 1  # the same tunnel, not a second one

    collected = fleet.admin / "status"
    looked = fleet.play("-e", f"openclaw_remote_status_dir={collected}", playbook_file="status.yml")
    assert looked.returncode == 0, looked.stdout + looked.stderr
    assert {host: counts[2:] for host, counts in recap(looked).items()} == {host: (0, 0) for host in HOSTS}
    for name in HOSTS:  # each Mac's status --json, kept on the controller
        report = json.loads((collected / f"{name}.json").read_text())
        layers = {check["name"]: check["status"] for check in report["checks"]}
        assert report["schema"] == 1 and layers["ssh-config"] == layers["gateway-handshake"] == "ok", (name, report)

    log = (fleet.admin / "ansible.log").read_text()
    assert "PLAY RECAP" in log and "Run openclaw-remote" in log  # Ansible's log of both plays
    for text in (first.stdout, first.stderr, second.stdout, second.stderr, looked.stdout, log):
        assert GATEWAY_TOKEN not in text
    written = [path for root in (*fleet.homes.values(), fleet.admin) for path in root.rglob("*") if path.is_file()]
    assert not [str(path) for path in written if GATEWAY_TOKEN.encode() in path.read_bytes()]


def test_a_host_the_wizard_refuses_fails_with_its_words_and_the_others_go_on(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    hosts = {"good": local_host(good, ["ssh-config"], []),
             "bad": {**local_host(bad, ["ssh-config"], []), "openclaw_remote_host": "gw example"}}
    play, _admin = player(tmp_path, hosts, {
        "openclaw_remote_host": "gw.example", "openclaw_remote_user": "u",
        "openclaw_remote_environment": {"PYTHONPATH": str(REPO), "OPENCLAW_REMOTE_PLATFORM": "linux"}})
    before = snapshot(bad)
    result = play()
    assert result.returncode == 2, result.stdout  # Ansible's "some host failed"
    counts = recap(result, hosts)
    assert counts["good"][1:] == (1, 0, 0) and counts["bad"][3] == 1
    assert "openclaw-remote exited 2" in result.stdout and "whitespace" in result.stdout  # the wizard's own words
    assert snapshot(bad) == before and "Host remote-gateway" in (good / ".ssh" / "config").read_text()


def test_the_example_inventory_gives_each_mac_what_the_role_requires(tmp_path):
    inventory = subprocess.run(
        [shutil.which("ansible-inventory", path=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"),
         "-i", str(EXAMPLE / "inventory.example.yml"), "--list"],
        env={**os.environ, "HOME": str(tmp_path), "ANSIBLE_HOME": str(tmp_path / ".ansible")},
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert inventory.returncode == 0, inventory.stderr
    found = json.loads(inventory.stdout)
    macs = found["openclaw_macs"]["hosts"]
    assert len(macs) == 2
    for mac in macs:
        facts = found["_meta"]["hostvars"][mac]
        assert facts["openclaw_remote_host"] and facts["openclaw_remote_user"] and facts["openclaw_remote_account"]
