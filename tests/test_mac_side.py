"""token, app-restart and autostart: macOS tools replaced by recording stand-ins on PATH (what
they are asked to run is run for real), a real Secret Service, the real sshd and gateway."""

from __future__ import annotations

import json
import os
import re
import time
import plistlib
import shlex
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from plugins import _gateway
from tests.conftest import REPO, snapshot
from tests.harness import ports
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.standins import BIN_DIR, wait_until
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(120)
UID = os.getuid()
LABEL = "bot.molt.ssh-tunnel"
SSH_PASSWORD_VAR = "OPENCLAW_REMOTE_SSH_PASSWORD"


@pytest.fixture
def mac(request, home, cli, mac_backend, sshd, gateway, remote_openclaw):
    """A Mac as far as the wizard can tell (tests/harness/mac.py: the real tools on macOS, the
    stand-ins elsewhere), OpenClaw.app installed; on the remote, OpenClaw's CLI reporting the
    gateway stand-in.

    A test marked ``real_mac`` runs on a real Mac too, so it gets no ``standins`` here (only
    ``backend``, which works on both), a unique tunnel label and host alias (the real launchd and
    Keychain are shared by every test on the runner) and a key that is already authorized: a Mac
    runner is not root, so sshd has no password user there for ssh-copy-id, and the same test
    body meets the same world on both backends."""
    on_real_macs = request.node.get_closest_marker("real_mac") is not None
    if not sshd.supports_password and not on_real_macs:
        pytest.skip("needs root for the password user (CI runs as root)")
    sshd.revoke_all_keys()
    (home / "Library" / "Logs").mkdir(parents=True)
    app_name = f"OpenClaw{os.getpid() % 10**7}"  # pgrep -x is machine-wide: another test run's app is not ours
    app = mac_backend.install_app(app_name)
    local_port = ports.free_port()
    label, alias = (mac_backend.label, mac_backend.alias) if on_real_macs else (LABEL, "remote-gateway")
    cli.env.update(mac_backend.env)
    cli.env["OPENCLAW_GATEWAY_TOKEN"] = GATEWAY_TOKEN
    flags = ["--host", sshd.host, "--port", str(sshd.port), "--user", sshd.user, "--local-port", str(local_port),
             "--remote-port", str(gateway.port), "--app", str(app), "--accept-host-key"]
    if on_real_macs:
        flags += ["--label", label, "--alias", alias]
    world = type("Mac", (), {"flags": flags, "app": app, "app_name": app_name, "local_port": local_port,
                             "backend": mac_backend, "label": label, "alias": alias,
                             "standins": None if on_real_macs else mac_backend.standins,
                             "sshd": sshd, "gateway": gateway})
    if on_real_macs:
        authorize_a_key(home, sshd)
    else:
        cli.env[SSH_PASSWORD_VAR] = sshd.password
    yield world
    from tests.test_remote import kill_recorded_tunnel

    kill_recorded_tunnel(home)


def authorize_a_key(home: Path, sshd) -> None:
    """The wizard's default key (~/.ssh/id_ed25519), already authorized on the remote: its
    ssh-key step then finds the login working and needs no password."""
    key = home / ".ssh" / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "openclaw-remote-test", "-f", str(key)],
                   check=True, capture_output=True)
    sshd.authorize(key.with_name("id_ed25519.pub").read_text())


def _encrypted(key) -> bool:
    return subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", str(key)], capture_output=True).returncode != 0


READ_ONLY = ("print", "managername", "getenv", "list")  # launchctl subcommands that change nothing


def launchctl_changes(standins) -> list[list[str]]:
    """The launchctl calls that could have changed something (the session check only reads)."""
    return [call for call in standins.calls("launchctl") if call[0] not in READ_ONLY]


def plist(home, label):
    return home / "Library" / "LaunchAgents" / f"{label}.plist"


def files_containing(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.real_mac
def test_full_setup_of_six_steps_leaves_one_tunnel_owned_by_launchd(cli, home, mac):
    result = cli("setup", "--yes", *mac.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    mac_ = mac.backend
    assert mac_.getenv("OPENCLAW_GATEWAY_TOKEN") == GATEWAY_TOKEN
    assert mac_.loaded("openclaw-remote.token-push") and mac_.loaded(mac.label)
    assert mac_.keychain_item(f"openclaw-remote:{mac.alias}") == GATEWAY_TOKEN

    job = plistlib.loads(plist(home, mac.label).read_bytes())
    assert job["ProgramArguments"][0] == "/usr/bin/ssh" and job["ProgramArguments"][-1] == mac.alias
    assert "-N" in job["ProgramArguments"] and "BatchMode=yes" in job["ProgramArguments"]
    assert job["KeepAlive"] is True and job["RunAtLoad"] is True and job["ThrottleInterval"] == 30
    assert oct(plist(home, mac.label).stat().st_mode & 0o777) == "0o644"

    # The plist's own ProgramArguments, run by launchd, forward the port:
    assert mac_.ssh_tunnels(home) == [mac_.job_pid(mac.label)]
    hello = _gateway.probe(mac.local_port, GATEWAY_TOKEN)
    assert hello.kind == _gateway.HELLO_OK
    app_pid = mac_.app_pid(mac.app)
    assert app_pid and mac_.app_env(app_pid, "OPENCLAW_GATEWAY_TOKEN") == GATEWAY_TOKEN

    again = cli("setup", "--yes", *mac.flags)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already done, nothing to change") == 7
    assert mac_.ssh_tunnels(home) == [mac_.job_pid(mac.label)]

    # Secrets: the token only in the Keychain and launchd; never in a file or in the output.
    assert files_containing(home, GATEWAY_TOKEN) == []
    assert GATEWAY_TOKEN not in result.stdout + result.stderr + again.stdout + again.stderr
    launchctl = mac_.calls("launchctl")
    if launchctl is not None:  # the stand-ins also log what each tool was asked (a real Mac does not)
        assert ["bootstrap", f"gui/{UID}", str(plist(home, "openclaw-remote.token-push"))] in launchctl
        assert ["bootstrap", f"gui/{UID}", str(plist(home, mac.label))] in launchctl
        assert mac_.calls("open") == [[str(mac.app)]]  # it was not running: just opened
        assert mac_.calls("osascript") == []
        calls = [call for tool in ("launchctl", "open", "osascript") for call in mac_.calls(tool)]
        # ... the wizard's setenv and the login agent's (RunAtLoad runs `token push` at once):
        with_token = [c for c in calls if GATEWAY_TOKEN in " ".join(c)]
        assert with_token and all(c == ["setenv", "OPENCLAW_GATEWAY_TOKEN", GATEWAY_TOKEN] for c in with_token)


def test_full_setup_with_ssh_copy_id_keeps_the_password_out_of_every_file_output_and_call(cli, home, mac):
    result = cli("setup", "--yes", *mac.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "openclaw-remote@remote-gateway" in mac.sshd.authorized_keys()  # ssh-copy-id, with the password
    assert files_containing(home, mac.sshd.password) == []
    assert mac.sshd.password not in result.stdout + result.stderr
    calls = [call for tool in ("launchctl", "open", "osascript") for call in mac.standins.calls(tool)]
    assert calls and not any(mac.sshd.password in " ".join(c) for c in calls)


def test_guided_setup_of_six_steps_typed_in_a_real_terminal(home, mac, cli):
    env = {**cli.env}
    del env[SSH_PASSWORD_VAR], env["OPENCLAW_GATEWAY_TOKEN"]
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "setup", "--port", str(mac.sshd.port),
                                           "--local-port", str(mac.local_port), "--remote-port", str(mac.gateway.port)],
                          env=env, encoding="utf-8", timeout=30, dimensions=(40, 200))
    for prompt, text in [("Host alias", None), ("Remote machine", mac.sshd.host), ("user name", mac.sshd.user),
                         ("ssh key to use", None), ("Where OpenClaw.app", str(mac.app)), ("launchd label", None)]:
        child.expect(prompt)
        if text is not None:
            child.send("\x15" + text)
        child.send("\r")
    # No ssh agent in this terminal: no passphrase is offered (the tunnel could never unlock the key).
    child.expect("no ssh agent is running, so the new key gets no passphrase")
    child.expect("Trust this host key")
    child.send("y")
    child.expect("Password for your account")
    child.send(mac.sshd.password + "\r")
    child.expect("Fetch the token from the remote machine over ssh")  # offered first; typed here
    child.send("n")
    # A wrong token is tried on the Gateway through the new tunnel, refused, and asked again.
    child.expect(r"Gateway token \(hidden")  # the prompt, not the step's heading
    child.send("a-typo-in-the-token\r")
    child.expect(r"rejected this token \(AUTH_TOKEN_MISMATCH\); please type it again \(1 of 3\)")
    child.expect(r"Gateway token \(hidden")
    child.send(GATEWAY_TOKEN + "\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "changed: ssh-config, ssh-key, tunnel, token, app-restart, autostart" in child.before
    assert not _encrypted(home / ".ssh" / "id_ed25519")
    assert "a-typo-in-the-token" not in child.before
    assert GATEWAY_TOKEN not in child.before and mac.sshd.password not in child.before
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK


def test_token_push_agent_restores_the_variable_after_a_reboot(cli, home, mac):
    assert cli("run", "ssh-config", "ssh-key", "token", "--yes", *mac.flags).returncode == 0
    agent = plistlib.loads(plist(home, "openclaw-remote.token-push").read_bytes())
    # The agent already ran once at load (RunAtLoad); let it finish before "logging out".
    assert wait_until(lambda: mac.standins.loaded()["openclaw-remote.token-push"].get("last_exit") is not None,
                      timeout=30)
    mac.standins.run("launchctl", "unsetenv", "OPENCLAW_GATEWAY_TOKEN")  # what a logout does
    assert "OPENCLAW_GATEWAY_TOKEN" not in mac.standins.launchd_env()
    launchd_like = {**{k: v for k, v in mac.standins.launchd_env().items()}, "HOME": str(home),
                    "PATH": f"{BIN_DIR}:/usr/bin:/bin", **mac.standins.env}
    done = subprocess.run(agent["ProgramArguments"], env=launchd_like, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert mac.standins.launchd_env()["OPENCLAW_GATEWAY_TOKEN"] == GATEWAY_TOKEN
    assert GATEWAY_TOKEN not in done.stdout + done.stderr


def test_stale_token_in_launchd_is_named_without_printing_either_value(cli, home, mac):
    mac.standins.setenv("OPENCLAW_GATEWAY_TOKEN", "stale-value-from-last-year")
    result = cli("run", "token", "--yes", *mac.flags)
    assert result.returncode == 0, result.stderr
    assert "different OPENCLAW_GATEWAY_TOKEN" in result.stderr
    assert "stale-value-from-last-year" not in result.stdout + result.stderr
    assert GATEWAY_TOKEN not in result.stdout + result.stderr
    assert mac.standins.launchd_env()["OPENCLAW_GATEWAY_TOKEN"] == GATEWAY_TOKEN


def test_token_rejected_by_the_gateway_is_reported_plainly_and_not_stored(cli, home, mac):
    assert cli("run", "ssh-config", "ssh-key", "token", "tunnel", "--yes", *mac.flags).returncode == 0
    launchd_before = mac.standins.launchd_env().get("OPENCLAW_GATEWAY_TOKEN")
    result = cli("run", "token", "--yes", *mac.flags, env={"OPENCLAW_GATEWAY_TOKEN": "not-the-gateway-token"})
    assert result.returncode == 1
    assert "AUTH_TOKEN_MISMATCH" in result.stderr and "The token was not stored" in result.stderr
    assert "not-the-gateway-token" not in result.stdout + result.stderr
    assert mac.standins.launchd_env().get("OPENCLAW_GATEWAY_TOKEN") == launchd_before == GATEWAY_TOKEN
    assert "ok    Gateway handshake with the stored token" in cli("status").stdout  # the working one is kept


def test_a_rejected_token_typed_three_times_is_never_stored(cli, home, mac):
    assert cli("run", "ssh-config", "ssh-key", "tunnel", "--yes", *mac.flags).returncode == 0
    env = {**cli.env}
    del env["OPENCLAW_GATEWAY_TOKEN"]
    # echo=False: what is typed ahead of a prompt is not echoed by the terminal itself, so that
    # the output read here is only the wizard's.
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "run", "token"], env=env, encoding="utf-8", timeout=30,
                          dimensions=(40, 200), echo=False)
    import io

    child.logfile_read = seen = io.StringIO()
    child.expect("Host alias")
    child.send("\r")
    child.expect("Fetch the token from the remote machine over ssh")
    child.send("n")
    for attempt in (1, 2, 3):
        child.expect(r"Gateway token \(hidden")
        child.send(f"wrong-token-{attempt}\r")
    child.expect(pexpect.EOF)
    child.close()
    output = seen.getvalue()
    assert child.exitstatus == 1 and "The token was not stored" in output
    assert "please type it again (2 of 3)" in output and "wrong-token-" not in output
    assert files_containing(home, "wrong-token-") == []
    keyring_read = subprocess.run([sys.executable, "-c", "import keyring; print(keyring.get_password("
                                   "'openclaw-remote:remote-gateway', 'gateway-token'))"],
                                  env=env, capture_output=True, text=True)
    assert keyring_read.stdout.strip() == "None", keyring_read.stdout + keyring_read.stderr


# On a real Mac the first quit may show the Automation dialog, which nobody answers on a runner:
# the wizard then waits its CONSENT_TIMEOUT (120 s) and falls back to SIGTERM. Never run there.
@pytest.mark.real_mac
@pytest.mark.timeout(300)
def test_app_restart_quits_and_reopens_an_app_that_lacks_the_token(cli, home, mac):
    mac_ = mac.backend
    mac_.start_app(mac.app)  # opened before the token existed
    mac_.clear_calls()
    assert cli("run", "token", "--yes", *mac.flags).returncode == 0
    # The login agent ran at load, pushed the token and restarted the app, as it does at login:
    holds_token = wait_until(lambda: (pid := mac_.app_pid(mac.app))
                             and mac_.app_env(pid, "OPENCLAW_GATEWAY_TOKEN") == GATEWAY_TOKEN and pid, timeout=30)
    assert holds_token, "the login agent did not restart the app with the token"
    if mac_.calls("open") is not None:
        assert mac_.calls("open") == [[str(mac.app)]] and mac_.calls("osascript") == []
    old_pid = mac_.app_pid(mac.app)
    mac_.setenv("OPENCLAW_GATEWAY_TOKEN", "a-token-set-after-the-app-started")
    mac_.clear_calls()
    # On a runner nobody answers the Automation dialog: the wizard waits its CONSENT_TIMEOUT, then SIGTERM.
    result = cli("run", "app-restart", "--yes", *mac.flags, timeout=240)
    assert result.returncode == 0, result.stderr
    from plugins.app_restart import QUIT_SCRIPT

    if mac_.calls("osascript") is not None:
        assert mac_.calls("osascript") == [[*QUIT_SCRIPT, "ai.openclaw.mac"]]  # the bundle id, an argument
        assert mac_.calls("open") == [[str(mac.app)]]
    new_pid = mac_.app_pid(mac.app)
    assert new_pid and new_pid != old_pid
    assert mac_.app_env(new_pid, "OPENCLAW_GATEWAY_TOKEN") == "a-token-set-after-the-app-started"
    again = cli("run", "app-restart", "--yes", *mac.flags)
    assert "already done" in again.stdout and mac_.app_pid(mac.app) == new_pid


def test_app_not_installed_is_said_and_nothing_runs(cli, home, mac):
    result = cli("run", "app-restart", "--yes", "--app", "/Applications/Nowhere/OpenClaw.app")
    assert result.returncode == 2 and "not installed at /Applications/Nowhere/OpenClaw.app" in result.stderr
    assert mac.standins.calls("open") == [] and mac.standins.calls("osascript") == []


@pytest.mark.parametrize("flag,value", [("--app", "/tmp/not-an-app"), ("--app", "relative/OpenClaw.app"),
                                        ("--app", '/Applications/x" & (do shell script "touch /tmp/p") & ".app'),
                                        ("--label", "has space"), ("--label", "has/slash"), ("--label", "-dash")])
def test_bad_app_path_or_label_is_rejected_before_anything_is_written(cli, home, mac, flag, value):
    before = snapshot(home)
    result = cli("setup", "--yes", *mac.flags, flag, value)
    assert result.returncode == 2 and flag in result.stderr
    assert snapshot(home) == before and mac.standins.calls() == []


def test_leftover_agents_are_removed_the_legacy_one_without_asking(cli, home, mac):
    agents = home / "Library" / "LaunchAgents"
    agents.mkdir(parents=True)
    for label in ("com.openclaw.ssh-tunnel", "ai.openclaw.ssh-tunnel"):
        (agents / f"{label}.plist").write_bytes(plistlib.dumps(
            {"Label": label, "ProgramArguments": ["/bin/sleep", "300"], "RunAtLoad": True}))
        assert mac.standins.run("launchctl", "bootstrap", f"gui/{UID}", str(agents / f"{label}.plist")).returncode == 0
    assert cli("run", "ssh-config", "ssh-key", "token", "tunnel", "--yes", *mac.flags).returncode == 0
    mac.standins.clear_calls()

    refused = cli("run", "autostart", "--yes", *mac.flags)
    assert refused.returncode == 1 and "--remove-other-agents" in refused.stderr
    assert mac.standins.calls("launchctl") and launchctl_changes(mac.standins) == []

    done = cli("run", "autostart", "--yes", "--remove-other-agents", *mac.flags)
    assert done.returncode == 0, done.stderr
    launchctl = mac.standins.calls("launchctl")
    assert ["bootout", f"gui/{UID}/com.openclaw.ssh-tunnel"] in launchctl
    assert ["bootout", f"gui/{UID}/ai.openclaw.ssh-tunnel"] in launchctl
    assert sorted(p.name for p in agents.iterdir()) == [f"{LABEL}.plist", "openclaw-remote.token-push.plist"]
    assert set(mac.standins.loaded()) == {LABEL, "openclaw-remote.token-push"}
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]


def test_changed_agent_is_replaced_with_bootout_then_bootstrap(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    agent = plist(home, LABEL)
    job = plistlib.loads(agent.read_bytes())
    agent.write_bytes(plistlib.dumps({**job, "ThrottleInterval": 1}))  # edited by hand
    mac.standins.clear_calls()
    assert cli("run", "autostart", "--yes", *mac.flags).returncode == 0
    launchctl = [c for c in mac.standins.calls("launchctl") if c[0] in ("bootout", "bootstrap")]
    assert launchctl == [["bootout", f"gui/{UID}/{LABEL}"], ["bootstrap", f"gui/{UID}", str(agent)]]
    assert plistlib.loads(agent.read_bytes())["ThrottleInterval"] == 30
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]


def test_a_new_local_port_restarts_the_agent_so_it_forwards_the_new_port(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    new_port = ports.free_port()
    flags = list(mac.flags)
    flags[flags.index("--local-port") + 1] = str(new_port)
    mac.standins.clear_calls()
    result = cli("run", "ssh-config", "autostart", "--yes", *flags)  # the tunnel step not run
    assert result.returncode == 0, result.stderr
    assert ["kickstart", "-k", f"gui/{UID}/{LABEL}"] in mac.standins.calls("launchctl")
    assert _gateway.probe(new_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]


def test_app_not_installed_asks_for_the_path_again(cli, home, mac):
    env = {**cli.env}
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "run", "app-restart"], env=env, encoding="utf-8",
                          timeout=30, dimensions=(40, 200))
    child.expect("Where OpenClaw.app is installed")
    child.send("\x15/Applications/Elsewhere/OpenClaw.app\r")
    child.expect("not installed at /Applications/Elsewhere/OpenClaw.app")
    child.expect("Where OpenClaw.app is installed")
    child.send("\x15" + str(mac.app) + "\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert mac.standins.calls("open") == [[str(mac.app)]]


def test_no_usable_keyring_stops_with_how_to_get_one(cli, home, mac):
    result = cli("run", "token", "--yes", env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert result.returncode == 1 and "no usable keyring" in result.stderr and "Secret Service" in result.stderr
    assert files_containing(home, GATEWAY_TOKEN) == []


def test_dry_run_shows_plists_and_commands_with_the_token_masked(cli, home, mac):
    before = snapshot(home)
    result = cli("setup", "--dry-run", "--yes", *mac.flags)
    assert result.returncode == 0, result.stderr
    assert "$ launchctl setenv OPENCLAW_GATEWAY_TOKEN ****" in result.stdout
    assert f"+\t<string>{LABEL}</string>" in result.stdout and "<key>ThrottleInterval</key>" in result.stdout
    assert f"$ launchctl bootstrap gui/{UID} {plist(home, LABEL)}" in result.stdout
    assert GATEWAY_TOKEN not in result.stdout + result.stderr
    assert snapshot(home) == before
    assert launchctl_changes(mac.standins) == []
    assert mac.standins.calls("open") == mac.standins.calls("osascript") == []


@pytest.fixture
def linux(cli, sshd, gateway, standins):
    """Linux as the wizard sees it: the systemctl stand-in on PATH (it really runs the unit's
    ExecStart); every unit process it started is killed afterwards."""
    if not sshd.supports_password:
        pytest.skip("needs root for the password user (CI runs as root)")
    sshd.revoke_all_keys()
    local_port = ports.free_port()
    cli.env.update(OPENCLAW_REMOTE_PLATFORM="linux", STANDIN_STATE=standins.env["STANDIN_STATE"],
                   PATH=f"{REPO / 'tests' / 'fakes'}:{os.environ['PATH']}", **{SSH_PASSWORD_VAR: sshd.password})
    flags = ["--host", sshd.host, "--port", str(sshd.port), "--user", sshd.user, "--local-port", str(local_port),
             "--remote-port", str(gateway.port), "--accept-host-key"]
    yield type("Linux", (), {"flags": flags, "local_port": local_port})
    state = Path(standins.env["STANDIN_STATE"]) / "systemd-pids.json"
    for pid in (json.loads(state.read_text()).values() if state.exists() else []):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def test_linux_systemd_unit_verifies_offline_and_its_execstart_forwards(cli, home, standins, tmp_path, linux):
    result = cli("run", "ssh-config", "ssh-key", "tunnel", "autostart", "--yes", *linux.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    unit = home / ".config" / "systemd" / "user" / f"{LABEL}.service"
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    check = subprocess.run(["systemd-analyze", "verify", "--user", str(unit)], capture_output=True, text=True,
                           env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert check.returncode == 0 and check.stderr == "", check.stderr
    text = unit.read_text()
    assert "Restart=always" in text and "RestartSec=30" in text
    calls = [c for c in standins.calls("systemctl")]
    assert ["--user", "enable", "--now", f"{LABEL}.service"] in calls
    # The unit's ExecStart, run for real by the stand-in, is the one tunnel left:
    assert len(ssh_processes_for(home)) == 1
    assert _gateway.probe(linux.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert shlex.split(exec_start[len("ExecStart="):])[-1] == "remote-gateway"


def status_json(cli):
    result = cli("status", "--json")
    return result.returncode, json.loads(result.stdout)


@pytest.mark.real_mac
def test_status_after_setup_is_all_ok_and_follows_the_documented_schema(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    code, report = status_json(cli)
    assert code == 0 and report["ok"] is True, report
    documented = json.loads(re.search(r"```json\n(.*?)```", (REPO / "docs/status.md").read_text(), re.S).group(1))
    assert set(report) == set(documented)
    assert report["schema"] == 1
    names = [check["name"] for check in report["checks"]]
    assert names == [
        "ssh-config",
        "key-login",
        "openclaw-gateway-agent",
        "openclaw-app-tunnel",
        "openclaw-config-token",
        "tunnel-process",
        "local-port",
        "remote-gateway",
        "gateway-http",
        "gateway-handshake",
        "token-keyring",
        "token-launchd",
        "token-agent",
        "app-token",
        "autostart-agent",
        "other-agents",
    ]
    for check in report["checks"]:
        assert set(check) == set(documented["checks"][0]) and check["status"] == "ok"
    by_name = {check["name"]: check for check in report["checks"]}
    assert by_name["tunnel-process"]["details"] == {"pid": mac.backend.job_pid(mac.label), "manager": "launchd"}
    assert by_name["gateway-handshake"]["details"]["protocol"] == 4
    assert GATEWAY_TOKEN not in json.dumps(report)


def test_status_names_the_failing_layers_and_stays_quick_when_the_remote_is_gone(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    mac.standins.run("launchctl", "bootout", f"gui/{UID}/{LABEL}")  # tunnel down, agent unloaded
    mac.sshd.stop()
    try:
        started = time.monotonic()
        code, report = status_json(cli)
        elapsed = time.monotonic() - started
        text = cli("status")
    finally:
        mac.sshd.start()
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert code == 1 and report["ok"] is False
    assert statuses["ssh-config"] == statuses["token-keyring"] == "ok"
    assert statuses["key-login"] == statuses["tunnel-process"] == statuses["autostart-agent"] == "fail"
    http = next(check for check in report["checks"] if check["name"] == "gateway-http")
    assert http["reason"] == f"no tunnel: nothing listens on 127.0.0.1:{mac.local_port}"
    assert elapsed < 8, elapsed  # a bound, not a benchmark: checks run at once with short timeouts
    assert (
        text.returncode == 1 and "fail  key login (BatchMode): the remote machine refused the connection" in text.stdout
    )
