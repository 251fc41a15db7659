"""doctor: every fault the issue lists is made for real (an ssh killed, a port held, a key deleted on
the test sshd, the gateway stopped, a second agent loaded with the stand-in launchctl), then
diagnosed by ``doctor`` and repaired by ``doctor --fix``."""

from __future__ import annotations

import plistlib
import re
import subprocess
import sys

import pytest

from plugins import _gateway
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.standins import wait_until
from tests.test_mac_side import LABEL, UID, mac, plist, status_json  # noqa: F401  (mac is a fixture)
from tests.test_remote import kill_recorded_tunnel, ssh_processes_for

pytestmark = pytest.mark.timeout(180)
STEPS_UP_TO_TUNNEL = ("ssh-config", "ssh-key", "token", "tunnel")


def statuses(cli) -> dict[str, str]:
    _code, report = status_json(cli)
    return {check["name"]: check["status"] for check in report["checks"]}


def failing(cli) -> set[str]:
    return {name for name, status in statuses(cli).items() if status != "ok"}


def setup(cli, mac, *steps):
    result = cli("run", *steps, "--yes", *mac.flags) if steps else cli("setup", "--yes", *mac.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def diagnose(cli, **env):
    result = cli("doctor", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout


def repair(cli, **env):
    result = cli("doctor", "--fix", "--yes", env=env)
    assert GATEWAY_TOKEN not in result.stdout + result.stderr
    return result


def test_all_well_says_so_and_exits_0(cli, home, mac):
    setup(cli, mac)
    result = cli("doctor")
    assert result.returncode == 0 and "nothing to repair" in result.stdout


def test_tunnel_down_is_started_again(cli, home, mac):
    setup(cli, mac, *STEPS_UP_TO_TUNNEL)
    kill_recorded_tunnel(home)
    assert wait_until(lambda: not ssh_processes_for(home), timeout=5)
    out = diagnose(cli)
    assert f"tunnel process: no ssh tunnel holds port {mac.local_port}" in out
    assert "The tunnel is down" in out and "tunnel.log" in out
    assert "local port: nothing listens" in out and "follows from 'tunnel-process'" in out
    fixed = repair(cli)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "every layer is ok now" in fixed.stdout
    assert "Repairing 'tunnel process'" in fixed.stdout and "tunnel ready in" in fixed.stdout
    # autostart was never set up: doctor installed it too, and the agent took the tunnel over
    assert "Repairing 'autostart agent'" in fixed.stdout
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK


def test_port_held_by_a_stranger_is_named_and_left_alone(cli, home, mac):
    setup(cli, mac, *STEPS_UP_TO_TUNNEL)
    kill_recorded_tunnel(home)
    assert wait_until(lambda: not ssh_processes_for(home), timeout=5)
    stranger = subprocess.Popen([sys.executable, "-c", (
        "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        f"s.bind(('127.0.0.1', {mac.local_port})); s.listen(); print('ok', flush=True); time.sleep(120)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert stranger.stdout.readline() == "ok\n"
        out = diagnose(cli)
        who = f"(pid {stranger.pid})"
        assert f"port {mac.local_port} is held by python" in out and who in out
        assert "Stop that program" in out and "--local-port N" in out
        assert "doctor cannot do it for you" in out
        fixed = repair(cli)
        assert fixed.returncode == 1 and "still failing: tunnel-process" in fixed.stderr
        assert stranger.poll() is None  # not ours: never killed
    finally:
        stranger.kill()
        stranger.wait()


def test_orphaned_ssh_of_ours_is_stopped_and_the_agent_takes_the_port(cli, home, mac):
    setup(cli, mac)
    job = plist(home, LABEL)
    mac.standins.run("launchctl", "bootout", f"gui/{UID}/{LABEL}")
    assert wait_until(lambda: not ssh_processes_for(home), timeout=10)
    # What an earlier run or a hand-typed `ssh -N` leaves behind, then the agent loaded again:
    args = plistlib.loads(job.read_bytes())["ProgramArguments"]
    orphan = subprocess.Popen(args, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                              env={**cli.env})
    try:
        assert wait_until(lambda: _gateway.probe(mac.local_port, GATEWAY_TOKEN).ok, timeout=10)
        assert mac.standins.run("launchctl", "bootstrap", f"gui/{UID}", str(job)).returncode == 0
        # the agent's own ssh cannot bind the port and exits (ExitOnForwardFailure)
        assert wait_until(lambda: mac.standins.loaded()[LABEL].get("last_exit") is not None, timeout=20)
        out = diagnose(cli)
        assert f"held by an orphaned ssh of ours (pid {orphan.pid}), not by the launchd agent" in out
        fixed = repair(cli)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert orphan.wait(timeout=5) is not None
        assert ["kickstart", "-k", f"gui/{UID}/{LABEL}"] in mac.standins.calls("launchctl")
        assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait()


def test_two_tunnel_agents_loaded_the_other_is_unloaded_and_removed_with_a_backup(cli, home, mac):
    setup(cli, mac)
    ours = plistlib.loads(plist(home, LABEL).read_bytes())
    other = plist(home, "ai.openclaw.ssh-tunnel")
    other.write_bytes(plistlib.dumps({**ours, "Label": "ai.openclaw.ssh-tunnel"}))
    assert mac.standins.run("launchctl", "bootstrap", f"gui/{UID}", str(other)).returncode == 0
    out = diagnose(cli)
    assert "other OpenClaw tunnel agents: would fight over the port: ai.openclaw.ssh-tunnel" in out
    assert f"launchctl bootout gui/{UID}/ai.openclaw.ssh-tunnel" in out
    fixed = repair(cli)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert not other.exists()
    backups = list((home / ".config/openclaw-remote/backups/Library/LaunchAgents").iterdir())
    assert [plistlib.loads(b.read_bytes())["Label"] for b in backups] == ["ai.openclaw.ssh-tunnel"]
    assert set(mac.standins.loaded()) == {LABEL, "openclaw-remote.token-push"}
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]


def test_stale_token_in_launchd_is_pushed_again_and_the_app_restarted(cli, home, mac):
    setup(cli, mac)
    mac.standins.setenv("OPENCLAW_GATEWAY_TOKEN", "stale-token-from-last-year")
    # the app was (re)opened since, so it runs with the stale value
    assert mac.standins.run("osascript", "-e", f'quit app "{mac.app_name}"').returncode == 0
    assert wait_until(lambda: mac.standins.app_pid() is None, timeout=10)
    assert mac.standins.run("open", str(mac.app)).returncode == 0
    app_before = wait_until(mac.standins.app_pid, timeout=10)
    assert mac.standins.process_env(app_before)["OPENCLAW_GATEWAY_TOKEN"] == "stale-token-from-last-year"
    out = diagnose(cli)
    assert "launchd holds a different OPENCLAW_GATEWAY_TOKEN than the keyring (stale)" in out
    assert "re-run: openclaw-remote run token app-restart" in out
    fixed = repair(cli)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "stale-token-from-last-year" not in out + fixed.stdout + fixed.stderr
    assert mac.standins.launchd_env()["OPENCLAW_GATEWAY_TOKEN"] == GATEWAY_TOKEN
    assert mac.standins.app_pid() != app_before
    assert mac.standins.process_env(mac.standins.app_pid())["OPENCLAW_GATEWAY_TOKEN"] == GATEWAY_TOKEN


def test_token_rejected_by_the_gateway_asks_for_the_new_one(cli, home, mac):
    setup(cli, mac)
    mac.gateway.token = "rotated-token-on-the-gateway"
    out = diagnose(cli)
    assert "the Gateway rejected the stored token (AUTH_TOKEN_MISMATCH)" in out
    assert "Copy the token from the Gateway's configuration" in out
    unchanged = repair(cli)  # nobody gave the new token: the stored one is kept, and still refused
    assert unchanged.returncode == 1 and "gateway-handshake" in unchanged.stderr
    fixed = repair(cli, OPENCLAW_GATEWAY_TOKEN="rotated-token-on-the-gateway")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "rotated-token-on-the-gateway" not in fixed.stdout + fixed.stderr
    assert mac.standins.launchd_env()["OPENCLAW_GATEWAY_TOKEN"] == "rotated-token-on-the-gateway"


def test_gateway_not_running_on_the_remote_is_started_over_ssh(cli, home, mac, remote_openclaw):
    setup(cli, mac)
    mac.gateway.stop()
    remote_openclaw.configure(service="stopped")
    try:
        out = diagnose(cli)
        assert "Gateway liveness (HTTP /healthz): the tunnel is up but nothing answers behind it" in out
        assert "Gateway on the remote machine (openclaw gateway status): the Gateway service is not running" in out
        assert "follows from 'remote-gateway'" in out and "gateway start" in out
        remote_openclaw.when_started(mac.gateway.start)  # the remote's service manager
        fixed = repair(cli)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    finally:
        mac.gateway.start()  # (does nothing when it runs)
    assert remote_openclaw.state()["service"] == "running"
    assert cli("doctor").returncode == 0


def test_key_login_broken_copies_the_key_again(cli, home, mac):
    setup(cli, mac)
    mac.sshd.revoke_all_keys()  # the key removed from authorized_keys on the remote
    out = diagnose(cli)
    assert "key login (BatchMode): the remote machine refused the key" in out
    assert "copies the key again with ssh-copy-id" in out
    fixed = repair(cli)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert (home / ".ssh/id_ed25519.pub").read_text().split()[1] in mac.sshd.authorized_keys()
    assert mac.sshd.password not in fixed.stdout + fixed.stderr


@pytest.mark.parametrize("fault", ["removed", "edited"])
def test_ssh_config_block_removed_or_edited_by_hand_is_written_back(cli, home, mac, fault):
    config = home / ".ssh/config"
    config.write_text("# mine\nHost elsewhere\n    User me\n")
    setup(cli, mac)
    text = config.read_text()
    if fault == "removed":
        start, end = text.index("# >>> openclaw-remote"), text.index("<<<\n") + 4
        config.write_text(text[:start] + text[end:])
    else:
        config.write_text(text.replace("ExitOnForwardFailure yes", "ExitOnForwardFailure no"))
    out = diagnose(cli)
    assert "ssh config block: " in out and ("was removed" if fault == "removed" else "edited by hand") in out
    fixed = repair(cli)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert config.read_text() == text
    assert config.read_text().endswith("# mine\nHost elsewhere\n    User me\n")


def test_agent_plist_present_but_not_loaded_is_loaded_again(cli, home, mac):
    setup(cli, mac)
    mac.standins.run("launchctl", "bootout", f"gui/{UID}/{LABEL}")
    assert wait_until(lambda: not ssh_processes_for(home), timeout=10)
    out = diagnose(cli)
    assert f"autostart agent: {LABEL} is present but not loaded" in out
    assert f"launchctl bootstrap gui/{UID} {plist(home, LABEL)}" in out  # the tunnel's fix loads it
    mac.standins.clear_calls()
    fixed = repair(cli)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert ["bootstrap", f"gui/{UID}", str(plist(home, LABEL))] in mac.standins.calls("launchctl")
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]


def test_fix_without_yes_and_without_a_terminal_changes_nothing(cli, home, mac):
    setup(cli, mac, *STEPS_UP_TO_TUNNEL)
    kill_recorded_tunnel(home)
    assert wait_until(lambda: not ssh_processes_for(home), timeout=5)
    result = cli("doctor", "--fix")
    assert result.returncode == 1 and "pass --yes" in result.stderr
    assert ssh_processes_for(home) == []
    dry = cli("doctor", "--fix", "--dry-run")
    assert dry.returncode == 1 and "would do:" in dry.stdout and "ssh -F" in dry.stdout
    assert ssh_processes_for(home) == []


def test_doctor_in_a_terminal_asks_nothing_it_already_knows(cli, home, mac):
    import pexpect

    setup(cli, mac)
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "doctor"], env=cli.env, encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)  # the spinner's cursor codes hold a '?'
    assert "?" not in shown and "nothing to repair" in child.before


def test_a_protocol_mismatch_seen_only_by_the_handshake_is_explained(cli, home, mac):
    setup(cli, mac)
    mac.gateway.protocols = (9,)
    out = diagnose(cli)
    assert "ok    Gateway liveness (HTTP /healthz)" in out  # only the handshake sees it
    assert "Update OpenClaw on this Mac or on the remote machine" in out
    assert "follows from" not in out


def test_a_gateway_on_another_remote_port_is_followed_there(cli, home, mac, remote_openclaw):
    from tests.harness.gateway import GatewayStandIn

    setup(cli, mac)
    with GatewayStandIn(token=GATEWAY_TOKEN) as moved:  # the Gateway now listens on another port there
        remote_openclaw.configure(port=moved.port)
        mac.gateway.stop()
        try:
            out = diagnose(cli)
            assert f"the Gateway listens on port {moved.port} there, the tunnel forwards to {mac.gateway.port}" in out
            fixed = repair(cli)
            assert fixed.returncode == 0, fixed.stdout + fixed.stderr
            assert f"127.0.0.1:{moved.port}" in (home / ".ssh/config").read_text()
            assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK
            assert moved.connects  # the handshake went to the moved Gateway, through the restarted tunnel
        finally:
            mac.gateway.start()
    from tests.test_remote import state_of

    assert state_of(home)["answers"]["remote_port"] == moved.port
