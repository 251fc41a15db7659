"""The token after a reboot (issue 13): the login agent runs only macOS's own programs (sh,
security, launchctl), reads a Keychain item that trusts /usr/bin/security, and leaves OpenClaw.app
holding the token even when the app started first. Stand-ins for what cannot run on Linux
(launchctl, open, security over a real Secret Service); the real sshd, tunnel and gateway."""

from __future__ import annotations

import json
import os
import plistlib
import sys

import pexpect
import pytest

from plugins import _gateway, _ports
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.standins import BIN_DIR, wait_until
from tests.standins import _standin_lib as lib
from tests.standins.reboot import log_in, shut_down
from tests.test_mac_side import LABEL, files_containing, mac, plist, status_json  # noqa: F401  (mac: fixture)
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(180)
UID = os.getuid()
PUSH = "openclaw-remote.token-push"
VARIABLE = "OPENCLAW_GATEWAY_TOKEN"
SERVICE = "openclaw-remote:remote-gateway"


def push_finished(world) -> bool:
    record = world.loaded().get(PUSH) or {}
    return record.get("last_exit") is not None and world.job_pid(PUSH) is None


def checks(cli) -> dict[str, dict]:
    _code, report = status_json(cli)
    return {check["name"]: check for check in report["checks"]}


def test_after_a_reboot_the_app_started_first_ends_up_holding_the_token_through_one_tunnel(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    session = {name: value for name, value in mac.standins.launchd_env().items() if name != VARIABLE}

    shut_down(mac.standins, session)
    assert VARIABLE not in mac.standins.launchd_env() and ssh_processes_for(home) == []
    mac.standins.clear_calls()
    first = mac.standins.start_app(mac.app_name, mac.app, cli.env)  # the login item wins the race
    assert VARIABLE not in mac.standins.process_env(first)
    assert log_in(mac.standins, home, cli.env) == [f"{LABEL}.plist", f"{PUSH}.plist"]

    assert wait_until(lambda: push_finished(mac.standins), timeout=30)
    log = (home / "Library" / "Logs" / f"{PUSH}.log").read_text()
    assert mac.standins.loaded()[PUSH]["last_exit"] == 0, log
    now = mac.standins.app_pid()
    assert now is not None and now != first  # quit and opened again, by the agent, nobody else
    assert mac.standins.process_env(now)[VARIABLE] == GATEWAY_TOKEN
    assert mac.standins.calls("open") == [[str(mac.app)]] and mac.standins.calls("osascript") == []
    assert wait_until(lambda: _ports.accepting(mac.local_port), timeout=10)
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]  # one tunnel, launchd's
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK

    # Nothing asked for a password on the way, and the token travelled in no argv but setenv's.
    assert not (mac.standins.state / "keychain-dialogs.jsonl").exists()
    with_token = [call for call in mac.standins.calls() if GATEWAY_TOKEN in " ".join(call)]
    assert with_token == [["launchctl", "setenv", VARIABLE, GATEWAY_TOKEN]]
    assert [call[:2] for call in mac.standins.calls("security")] == [["find-generic-password", "-s"]]
    assert files_containing(home, GATEWAY_TOKEN) == []
    assert "started without the token: restarting it" in log and GATEWAY_TOKEN not in log

    code, report = status_json(cli)
    assert code == 0, [c for c in report["checks"] if c["status"] != "ok"]
    by_name = {check["name"]: check for check in report["checks"]}
    assert by_name["app-token"]["details"] == {"pid": now}
    assert by_name["token-agent"]["details"] == {"program": "/bin/sh"}
    assert GATEWAY_TOKEN not in json.dumps(report)


def test_after_a_reboot_an_app_opened_after_the_push_is_left_alone(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    shut_down(mac.standins, {k: v for k, v in mac.standins.launchd_env().items() if k != VARIABLE})
    mac.standins.clear_calls()
    log_in(mac.standins, home, cli.env)
    assert wait_until(lambda: push_finished(mac.standins), timeout=30)
    assert mac.standins.loaded()[PUSH]["last_exit"] == 0 and mac.standins.app_pid() is None
    late = mac.standins.start_app(mac.app_name, mac.app, cli.env)  # the login item came second
    assert mac.standins.process_env(late)[VARIABLE] == GATEWAY_TOKEN
    assert checks(cli)["app-token"]["status"] == "ok"
    assert mac.standins.calls("open") == []  # the agent did not touch an app that was not running


def test_an_app_without_the_token_is_caught_by_status_and_restarted_by_doctor_fix(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    pid = mac.standins.app_pid()
    mac.standins.setenv(VARIABLE, "a-rotated-token-the-app-never-saw")
    found = checks(cli)["app-token"]
    assert found["status"] == "fail" and found["details"] == {"pid": pid}
    assert "a-rotated-token" not in found["reason"] and GATEWAY_TOKEN not in found["reason"]
    mac.standins.setenv(VARIABLE, GATEWAY_TOKEN)
    mac.standins.run("osascript", "-e", f'quit app "{mac.app_name}"')
    mac.standins.setenv(VARIABLE, "")  # opened while launchd had nothing: the app runs without
    mac.standins.start_app(mac.app_name, mac.app, cli.env)
    mac.standins.setenv(VARIABLE, GATEWAY_TOKEN)
    doctor = cli("doctor")
    assert doctor.returncode == 1 and "OpenClaw.app holds the token launchd has" in doctor.stdout
    fixed = cli("doctor", "--fix", "--yes")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert mac.standins.process_env(mac.standins.app_pid())[VARIABLE] == GATEWAY_TOKEN
    assert checks(cli)["app-token"]["status"] == "ok"
    assert GATEWAY_TOKEN not in doctor.stdout + fixed.stdout + fixed.stderr


def test_an_agent_whose_python_is_gone_is_caught_by_status_and_rewritten_by_doctor_fix(cli, home, mac, tmp_path):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    # What an earlier version wrote: the agent ran `python -m wizard token push` from a uv/pipx
    # environment; then the environment was rebuilt (or Homebrew upgraded Python).
    python = tmp_path / "tool-env" / "bin" / "python3"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    path = plist(home, PUSH)
    old = {"Label": PUSH, "ProgramArguments": [str(python), "-m", "wizard", "token", "push", "--alias",
                                              "remote-gateway", "--home", str(home)],
           "RunAtLoad": True, "StandardErrorPath": str(home / "Library" / "Logs" / f"{PUSH}.log")}
    path.write_bytes(plistlib.dumps(old))
    assert mac.standins.run("launchctl", "bootout", f"gui/{UID}/{PUSH}").returncode == 0
    assert mac.standins.run("launchctl", "bootstrap", f"gui/{UID}", str(path)).returncode == 0
    python.unlink()

    found = checks(cli)["token-agent"]
    assert found["status"] == "fail" and f"its program {python} does not exist" in found["reason"]
    # At the next login it cannot start, and the app would run without the token:
    shut_down(mac.standins, {k: v for k, v in mac.standins.launchd_env().items() if k != VARIABLE})
    log_in(mac.standins, home, cli.env)
    assert wait_until(lambda: mac.standins.loaded()[PUSH].get("last_exit") is not None, timeout=10)
    assert mac.standins.loaded()[PUSH]["last_exit"] != 0 and VARIABLE not in mac.standins.launchd_env()

    fixed = cli("doctor", "--fix", "--yes")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    job = plistlib.loads(path.read_bytes())
    assert job["ProgramArguments"][:2] == ["/bin/sh", "-c"] and str(python) not in job["ProgramArguments"]
    assert sys.executable not in job["ProgramArguments"] and "wizard" not in job["ProgramArguments"]
    assert checks(cli)["token-agent"]["status"] == "ok"
    assert mac.standins.launchd_env()[VARIABLE] == GATEWAY_TOKEN  # the new agent ran at load
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_token_agent_names_an_agent_of_an_earlier_version_and_a_missing_one(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    path = plist(home, PUSH)
    job = plistlib.loads(path.read_bytes())
    job["ProgramArguments"] = [sys.executable, "-m", "wizard", "token", "push"]  # its Python still exists
    path.write_bytes(plistlib.dumps(job))
    assert "is not the agent this version writes" in checks(cli)["token-agent"]["reason"]
    path.unlink()
    assert "is missing" in checks(cli)["token-agent"]["reason"]
    assert cli("doctor", "--fix", "--yes").returncode == 0
    assert checks(cli)["token-agent"]["status"] == "ok"


# --- the Keychain, through security ----------------------------------------------------------

@pytest.fixture
def keychain(standins, secret_service, monkeypatch):
    """This process's own environment: the security stand-in first on PATH, over the Secret Service."""
    for name, value in {**standins.env, **secret_service}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("OPENCLAW_REMOTE_PLATFORM", "darwin")
    return standins


def security(world, *args, **kwargs):
    return world.run("security", *args, **kwargs)


def test_the_keychain_item_trusts_security_and_the_token_is_in_no_argv(keychain):
    from plugins import _keyring

    assert isinstance(_keyring._backend(), _keyring.Keychain)
    assert _keyring.get_token("remote-gateway") is None
    _keyring.set_token("remote-gateway", GATEWAY_TOKEN)
    assert _keyring.get_token("remote-gateway") == GATEWAY_TOKEN
    acl = lib.load_json(keychain.state, "keychain-acl.json", {})
    assert acl == {f"{SERVICE}\tgateway-token": ["/usr/bin/security"]}
    _keyring.set_token("remote-gateway", "a-second-token")  # replaced: deleted, then added again
    assert _keyring.get_token("remote-gateway") == "a-second-token"
    assert not any(GATEWAY_TOKEN in " ".join(c) or "a-second-token" in " ".join(c) for c in keychain.calls())
    _keyring.delete_token("remote-gateway")
    _keyring.delete_token("remote-gateway")  # already gone is fine
    assert _keyring.get_token("remote-gateway") is None
    assert not (keychain.state / "keychain-dialogs.jsonl").exists()


def test_a_token_longer_than_security_reads_is_refused_before_anything_is_written(keychain):
    from plugins import _keyring
    from wizard import StepFailed

    with pytest.raises(StepFailed, match="at most 127 bytes"):
        _keyring.set_token("remote-gateway", "x" * 128)
    assert keychain.calls("security") == []


def test_a_locked_keychain_is_said_plainly(keychain):
    from plugins import _keyring
    from wizard import StepFailed

    (keychain.state / "keychain-locked").touch()
    with pytest.raises(StepFailed, match="login Keychain is locked"):
        _keyring.get_token("remote-gateway")


def test_security_standin_behaves_as_apples_does(standins, secret_service):
    env = {**secret_service}
    missing = security(standins, "find-generic-password", "-s", "svc", "-a", "acct", "-w", env=env)
    assert missing.returncode == 44 and "could not be found in the keychain" in missing.stderr
    assert security(standins, "delete-generic-password", "-s", "svc", "-a", "acct", env=env).returncode == 44
    assert security(standins, "add-generic-password", "-s", "svc", "-a", "acct", "-w", "one", env=env).returncode == 0
    again = security(standins, "add-generic-password", "-s", "svc", "-a", "acct", "-w", "two", env=env)
    assert again.returncode == 45 and "already exists" in again.stderr
    assert security(standins, "add-generic-password", "-U", "-T", "/Applications/X.app", "-s", "svc", "-a", "acct",
                    "-w", "two", env=env).returncode == 0
    found = security(standins, "find-generic-password", "-s", "svc", "-a", "acct", "-w", env=env)
    assert found.stdout == "two\n"
    # -U kept the access list of the item as first created:
    assert lib.load_json(standins.state, "keychain-acl.json", {})["svc\tacct"] == ["/usr/bin/security"]

    # An item some other program created (keyring's macOS backend from a Python): the read
    # needs a dialog nobody answers.
    secret_service.set_password("other", "acct", "made-by-python")
    denied = security(standins, "find-generic-password", "-s", "other", "-a", "acct", "-w", env=env)
    assert denied.returncode == 51 and denied.stdout == ""
    assert lib.read_lines(standins.state, "keychain-dialogs.jsonl") == [
        {"service": "other", "account": "acct", "app": "/usr/bin/security"}]
    (standins.state / "keychain-locked").touch()
    locked = security(standins, "find-generic-password", "-s", "svc", "-a", "acct", "-w", env=env)
    assert locked.returncode == 36 and "User interaction is not allowed" in locked.stderr


def test_security_standin_prompts_twice_and_keeps_an_empty_password_when_they_differ(standins, secret_service):
    env = {**os.environ, **standins.env, **secret_service}
    argv = ["add-generic-password", "-s", "svc", "-a", "acct", "-w"]
    child = pexpect.spawn(str(BIN_DIR / "security"), argv, env=env, encoding="utf-8", timeout=20)
    child.expect_exact("password data for new item:")
    child.sendline("typed-once")
    child.expect_exact("retype password for new item:")
    child.sendline("typed-otherwise")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and "passwords don't match" in child.before
    assert secret_service.get_password("svc", "acct") == ""


def test_an_item_made_by_an_earlier_version_through_python_is_named_not_read_with_a_dialog(keychain, secret_service):
    from plugins import _keyring
    from wizard import StepFailed

    secret_service.set_password(SERVICE, "gateway-token", GATEWAY_TOKEN)  # keyring's own item: trusts a Python
    with pytest.raises(StepFailed, match="made by an earlier version") as failure:
        _keyring.get_token("remote-gateway")
    assert GATEWAY_TOKEN not in str(failure.value)
    assert len(lib.read_lines(keychain.state, "keychain-dialogs.jsonl")) == 1


def test_a_replacement_the_keychain_did_not_keep_puts_the_previous_token_back(keychain, tmp_path, monkeypatch):
    """security exits 0 when its two prompts disagree (here a wrapper answers the second one
    wrongly, as a mistyped retype would): the read-back catches it, and the old token stays."""
    from plugins import _keyring
    from wizard import StepFailed

    _keyring.set_token("remote-gateway", GATEWAY_TOKEN)
    shaky = tmp_path / "shaky"
    shaky.mkdir()
    wrapper = shaky / "security"
    # The first add: both prompts answered, the retype differently; security then stores an
    # empty password and exits 0 (the stand-in's -w "" does exactly that). Later adds go through.
    wrapper.write_text(f"""#!{sys.executable}
import getpass, os, sys
real = {str(BIN_DIR / 'security')!r}
args = sys.argv[1:]
if args[:1] == ["add-generic-password"] and not os.path.exists({str(shaky / 'used')!r}):
    open({str(shaky / 'used')!r}, "w").close()
    getpass.getpass("password data for new item: ")
    getpass.getpass("retype password for new item: ")
    os.execv(real, [real, *args[:-1], "-U", "-w", ""])
os.execv(real, [real, *args])
""")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shaky}:{os.environ['PATH']}")
    with pytest.raises(StepFailed, match="did not keep the token"):
        _keyring.set_token("remote-gateway", "the-new-token")
    assert _keyring.get_token("remote-gateway") == GATEWAY_TOKEN
