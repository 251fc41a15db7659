"""The macOS stand-ins (launchctl, open, osascript), the real Secret Service fixture and the
in-memory keyring behave as documented in tests/standins."""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.standins import BIN_DIR, StandIns, wait_until

UID = os.getuid()
DOMAIN = f"gui/{UID}"


def write_plist(path: Path, mode: int = 0o644, **job) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(plistlib.dumps(job))
    path.chmod(mode)
    return path


def run(standins: StandIns, *argv: str, **extra: str) -> subprocess.CompletedProcess:
    """Run a tool BY NAME, found through PATH, like the wizard does."""
    env = {**os.environ, **standins.env, **extra}
    return subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=30,
                          stdin=subprocess.DEVNULL)


def alive(pid: int | None) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except (FileNotFoundError, TypeError):
        return False


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def print_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(" = ")
        if sep:
            fields.setdefault(key, value)
    return fields


# --- calls.jsonl, launchctl setenv/getenv --------------------------------------------------------

def test_tools_are_found_on_path_and_every_call_is_logged_with_its_exact_argv(standins):
    for tool in ("launchctl", "open", "osascript"):
        assert os.access(BIN_DIR / tool, os.X_OK)
        assert (BIN_DIR / tool).read_text().startswith("#!/usr/bin/env python3\n")
    value = 'a b "c" $HOME \\n'
    assert run(standins, "launchctl", "setenv", "OPENCLAW_GATEWAY_TOKEN", value).returncode == 0
    run(standins, "osascript", "-e", 'application "OpenClaw" is running')
    run(standins, "open", "/nowhere/OpenClaw.app")
    assert standins.calls("launchctl") == [["setenv", "OPENCLAW_GATEWAY_TOKEN", value]]
    assert standins.calls() == [
        ["launchctl", "setenv", "OPENCLAW_GATEWAY_TOKEN", value],
        ["osascript", "-e", 'application "OpenClaw" is running'],
        ["open", "/nowhere/OpenClaw.app"],
    ]
    standins.clear_calls()
    assert standins.calls() == []


def test_setenv_getenv_unsetenv(standins):
    got = run(standins, "launchctl", "getenv", "OPENCLAW_GATEWAY_TOKEN")
    assert (got.returncode, got.stdout, got.stderr) == (0, "", "")
    assert run(standins, "launchctl", "setenv", "OPENCLAW_GATEWAY_TOKEN", "tok en").returncode == 0
    got = run(standins, "launchctl", "getenv", "OPENCLAW_GATEWAY_TOKEN")
    assert (got.returncode, got.stdout) == (0, "tok en\n")
    assert standins.launchd_env() == {"OPENCLAW_GATEWAY_TOKEN": "tok en"}
    assert run(standins, "launchctl", "unsetenv", "OPENCLAW_GATEWAY_TOKEN").returncode == 0
    assert run(standins, "launchctl", "getenv", "OPENCLAW_GATEWAY_TOKEN").stdout == ""
    assert standins.launchd_env() == {}
    assert run(standins, "launchctl", "setenv", "ONLY_A_NAME").returncode != 0


def test_refuses_to_run_without_state_and_rejects_unknown_subcommands(standins, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "STANDIN_STATE"}
    done = subprocess.run([str(BIN_DIR / "launchctl"), "getenv", "X"], capture_output=True, text=True, env=env)
    assert done.returncode != 0 and "STANDIN_STATE" in done.stderr
    assert run(standins, "launchctl", "load", "-w", str(tmp_path / "x.plist")).returncode == 64
    got = run(standins, "launchctl", "print", "gui/4242424/x")
    assert got.returncode != 0


# --- bootstrap, print, kickstart, bootout --------------------------------------------------------

def test_bootstrap_runs_the_program_and_print_shows_its_pid(standins, tmp_path):
    run(standins, "launchctl", "setenv", "OPENCLAW_GATEWAY_TOKEN", "from-launchd")
    plist = write_plist(tmp_path / "LaunchAgents" / "test.sleep.plist", Label="test.sleep",
                        ProgramArguments=["sleep", "60"], RunAtLoad=True)
    done = run(standins, "launchctl", "bootstrap", DOMAIN, str(plist), CALLER_ONLY="1")
    assert (done.returncode, done.stderr) == (0, "")
    pid = standins.job_pid("test.sleep")
    assert pid and alive(pid) and comm(pid) == "sleep"
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x0060\x00"
    assert os.getpgid(pid) == pid and os.getsid(pid) == pid  # detached: its own session
    env = standins.process_env(pid)
    assert env["OPENCLAW_GATEWAY_TOKEN"] == "from-launchd"
    assert env["PATH"] == "/usr/bin:/bin:/usr/sbin:/sbin" and "CALLER_ONLY" not in env  # launchd's env
    printed = run(standins, "launchctl", "print", f"{DOMAIN}/test.sleep")
    assert printed.returncode == 0
    fields = print_fields(printed.stdout)
    assert fields["state"] == "running" and fields["pid"] == str(pid)
    assert fields["path"] == str(plist.resolve())
    record = standins.loaded()["test.sleep"]
    assert record["pid"] == pid and alive(record["supervisor_pid"]) and record["plist"] == str(plist.resolve())
    listed = run(standins, "launchctl", "list")
    assert f"{pid}\t0\ttest.sleep" in listed.stdout


def test_bootstrap_of_a_loaded_label_or_a_bad_plist_fails_with_5(standins, tmp_path):
    plist = write_plist(tmp_path / "a.plist", Label="test.twice", ProgramArguments=["sleep", "60"], RunAtLoad=True)
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(plist)).returncode == 0
    first = standins.job_pid("test.twice")
    again = run(standins, "launchctl", "bootstrap", DOMAIN, str(plist))
    assert again.returncode == 5 and "Bootstrap failed: 5: Input/output error" in again.stderr
    assert standins.job_pid("test.twice") == first and len(standins.loaded()) == 1

    garbage = tmp_path / "garbage.plist"
    garbage.write_text("not a plist")
    no_label = write_plist(tmp_path / "nolabel.plist", ProgramArguments=["sleep", "1"])
    writable = write_plist(tmp_path / "writable.plist", mode=0o666, Label="test.w", ProgramArguments=["sleep", "1"])
    for bad in (garbage, no_label, writable, tmp_path / "missing.plist"):
        done = run(standins, "launchctl", "bootstrap", DOMAIN, str(bad))
        assert done.returncode == 5 and "Bootstrap failed: 5" in done.stderr, bad
    assert "bad ownership/permissions" in run(standins, "launchctl", "bootstrap", DOMAIN, str(writable)).stderr
    assert list(standins.loaded()) == ["test.twice"]


def test_keepalive_restarts_an_exiting_job_after_the_throttle_interval(standins, tmp_path):
    starts = tmp_path / "starts.txt"
    plist = write_plist(tmp_path / "flap.plist", Label="test.flap", KeepAlive=True, ThrottleInterval=1,
                        ProgramArguments=["/bin/sh", "-c", f'date +%s.%N >> "{starts}"; exit 3'])
    began = time.monotonic()
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(plist)).returncode == 0  # KeepAlive: starts at load
    assert wait_until(lambda: starts.exists() and len(starts.read_text().split()) >= 2, timeout=4)
    times = [float(t) for t in starts.read_text().split()]
    assert 0.9 <= times[1] - times[0] < 2.0  # one start per ThrottleInterval, not a storm
    assert time.monotonic() - began < 3
    assert wait_until(lambda: standins.loaded()["test.flap"]["starts"] >= 2, timeout=2)  # recorded after the spawn
    assert wait_until(lambda: standins.loaded()["test.flap"]["last_exit"] == 3, timeout=2)
    assert "last exit code = 3" in run(standins, "launchctl", "print", f"{DOMAIN}/test.flap").stdout


def test_keepalive_restarts_a_killed_job_and_kickstart_k_restarts_at_once(standins, tmp_path):
    plist = write_plist(tmp_path / "tunnel.plist", Label="test.tunnel", KeepAlive=True, RunAtLoad=True,
                        ThrottleInterval=1, ProgramArguments=["sleep", "60"])
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(plist)).returncode == 0
    first = standins.job_pid("test.tunnel")
    os.kill(first, 9)
    assert wait_until(lambda: standins.job_pid("test.tunnel") not in (None, first), timeout=4)
    second = standins.job_pid("test.tunnel")
    assert alive(second) and not alive(first)
    assert standins.loaded()["test.tunnel"]["last_signal"] == 9

    # ThrottleInterval does not delay kickstart -k
    slow = write_plist(tmp_path / "slow.plist", Label="test.slow", KeepAlive=True, ThrottleInterval=10,
                       ProgramArguments=["sleep", "60"])
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(slow)).returncode == 0
    before = standins.job_pid("test.slow")
    began = time.monotonic()
    done = run(standins, "launchctl", "kickstart", "-k", "-p", f"{DOMAIN}/test.slow")
    after = standins.job_pid("test.slow")
    assert done.returncode == 0 and done.stdout == f"{after}\n"
    assert after not in (None, before) and not alive(before) and time.monotonic() - began < 5
    assert standins.loaded()["test.slow"]["starts"] == 2

    missing = run(standins, "launchctl", "kickstart", "-k", f"{DOMAIN}/test.nothing")
    assert missing.returncode == 113 and "Could not find service" in missing.stderr
    printed = run(standins, "launchctl", "print", f"{DOMAIN}/test.nothing")
    assert printed.returncode == 113 and 'Could not find service "test.nothing" in domain for port' in printed.stderr


def test_a_job_without_runatload_waits_for_kickstart_with_its_plist_settings(standins, tmp_path):
    run(standins, "launchctl", "setenv", "FROM_SETENV", "yes")
    workdir = tmp_path / "work"
    workdir.mkdir()
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    out.write_text("earlier\n")
    plist = write_plist(tmp_path / "once.plist", Label="test.once", WorkingDirectory=str(workdir),
                        StandardOutPath=str(out), StandardErrorPath=str(err),
                        EnvironmentVariables={"FROM_PLIST": "p"},
                        ProgramArguments=["/bin/sh", "-c", 'pwd; echo "$FROM_SETENV $FROM_PLIST"; echo oops >&2'])
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(plist)).returncode == 0
    fields = print_fields(run(standins, "launchctl", "print", f"{DOMAIN}/test.once").stdout)
    assert fields["state"] == "not running" and "pid" not in fields and fields["runs"] == "0"
    assert run(standins, "launchctl", "kickstart", f"{DOMAIN}/test.once").returncode == 0
    assert wait_until(lambda: standins.loaded()["test.once"]["last_exit"] == 0, timeout=3)
    assert out.read_text() == f"earlier\n{workdir}\nyes p\n"  # appended
    assert err.read_text() == "oops\n"
    time.sleep(0.1)
    assert standins.loaded()["test.once"]["starts"] == 1  # no KeepAlive: not restarted


def test_bootout_stops_the_job_and_its_supervisor(standins, tmp_path):
    plist = write_plist(tmp_path / "tunnel.plist", Label="test.tunnel", KeepAlive=True, RunAtLoad=True,
                        ThrottleInterval=1, ProgramArguments=["sleep", "60"])
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(plist)).returncode == 0
    record = standins.loaded()["test.tunnel"]
    done = run(standins, "launchctl", "bootout", f"{DOMAIN}/test.tunnel")
    assert (done.returncode, done.stderr) == (0, "")
    assert not alive(record["pid"]) and not alive(record["supervisor_pid"])
    assert standins.loaded() == {}
    assert run(standins, "launchctl", "print", f"{DOMAIN}/test.tunnel").returncode == 113
    again = run(standins, "launchctl", "bootout", f"{DOMAIN}/test.tunnel")
    assert again.returncode == 3 and "Boot-out failed: 3: No such process" in again.stderr

    # a job that sleeps through SIGTERM is killed after 1 s; bootout by plist path works too
    stubborn = write_plist(tmp_path / "stubborn.plist", Label="test.stubborn", RunAtLoad=True,
                           ProgramArguments=["/bin/sh", "-c", "trap '' TERM; sleep 60"])
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(stubborn)).returncode == 0
    pid = standins.job_pid("test.stubborn")
    assert wait_until(lambda: len(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()) == 1, 2)
    child = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
    began = time.monotonic()
    assert run(standins, "launchctl", "bootout", DOMAIN, str(stubborn)).returncode == 0
    assert 0.9 < time.monotonic() - began < 3
    assert not alive(pid) and not alive(child) and standins.loaded() == {}


# --- open, osascript ---------------------------------------------------------------------------

def test_open_starts_the_app_with_launchd_env_and_osascript_quits_it(standins):
    app = standins.install_app("OpenClaw")
    run(standins, "launchctl", "setenv", "OPENCLAW_GATEWAY_TOKEN", "tok-1")
    done = run(standins, "open", str(app), CALLER_ONLY="1")
    assert (done.returncode, done.stderr) == (0, "")
    pid = standins.app_pid("OpenClaw")
    assert pid and comm(pid) == "OpenClaw"
    pgrep = subprocess.run(["pgrep", "-x", "OpenClaw"], capture_output=True, text=True)
    assert pid in [int(p) for p in pgrep.stdout.split()]
    env = standins.process_env(pid)
    assert env["OPENCLAW_GATEWAY_TOKEN"] == "tok-1" and "CALLER_ONLY" not in env
    assert os.getsid(pid) == pid
    assert run(standins, "osascript", "-e", 'application "OpenClaw" is running').stdout == "true\n"
    assert run(standins, "open", "-a", "OpenClaw").returncode == 0
    assert standins.app_pid("OpenClaw") == pid  # already running: not started twice

    quit_ = run(standins, "osascript", "-e", 'quit app "OpenClaw"')
    assert (quit_.returncode, quit_.stderr) == (0, "")
    assert not os.path.exists(f"/proc/{pid}")  # gone, not even a zombie
    pgrep = subprocess.run(["pgrep", "-x", "OpenClaw"], capture_output=True, text=True)
    assert str(pid) not in pgrep.stdout.split()  # (another test run may have its own OpenClaw)
    assert standins.app_pid("OpenClaw") is None
    assert run(standins, "osascript", "-e", 'quit app "OpenClaw"').returncode == 0  # not running: fine
    assert run(standins, "osascript", "-e", 'application "OpenClaw" is running').stdout == "false\n"
    assert standins.calls("osascript")[1] == ["-e", 'quit app "OpenClaw"']


def test_open_and_osascript_errors(standins, tmp_path):
    missing = run(standins, "open", str(tmp_path / "Nope.app"))
    assert missing.returncode == 1 and missing.stderr == f"The file {tmp_path / 'Nope.app'} does not exist.\n"
    (tmp_path / "folder").mkdir()
    assert run(standins, "open", str(tmp_path / "folder")).returncode == 1
    assert run(standins, "open", "-a", "Nope").returncode == 1
    for script in (["-e", 'display dialog "hi"'], ["-e", 'quit app "OpenClaw"', "-e", "x"], ["quit"]):
        assert run(standins, "osascript", *script).returncode == 1
    assert standins.app_pid() is None


def test_a_running_app_keeps_its_old_environment_until_restarted(standins):
    standins.install_app("OpenClaw", bundle_id="ai.openclaw.mac")
    old = standins.start_app("OpenClaw")  # opened before the token was set
    assert "OPENCLAW_GATEWAY_TOKEN" not in standins.process_env(old)
    assert standins.calls() == []  # preconditions are not logged
    run(standins, "launchctl", "setenv", "OPENCLAW_GATEWAY_TOKEN", "new")
    assert run(standins, "open", "-b", "ai.openclaw.mac").returncode == 0
    assert standins.app_pid() == old and "OPENCLAW_GATEWAY_TOKEN" not in standins.process_env(old)
    run(standins, "osascript", "-e", 'quit app "OpenClaw"')
    assert run(standins, "open", "-a", "OpenClaw").returncode == 0
    new = standins.app_pid()
    assert new != old and standins.process_env(new)["OPENCLAW_GATEWAY_TOKEN"] == "new"


# --- cleanup -----------------------------------------------------------------------------------

def test_cleanup_leaves_no_process_behind(tmp_path):
    world = StandIns(tmp_path / "world")
    try:
        tools_env = {**os.environ, **world.env}
        for label, argv in (("test.keep", ["sleep", "60"]), ("test.deaf", ["/bin/sh", "-c", "trap '' TERM; sleep 60"])):
            plist = write_plist(tmp_path / f"{label}.plist", Label=label, KeepAlive=True, ThrottleInterval=1,
                                ProgramArguments=argv)
            subprocess.run(["launchctl", "bootstrap", DOMAIN, str(plist)], env=tools_env, check=True)
        world.install_app("OpenClaw")
        subprocess.run(["open", "-a", "OpenClaw"], env=tools_env, check=True)
        world.start_app("Other")
        pids = world.processes()
        assert len(pids) >= 8  # 2 supervisors + 2 jobs (+ sleep under sh) + 2 keepers + 2 apps
    finally:
        world.cleanup()
    assert world.processes() == []
    assert not [pid for pid in pids if alive(pid)]
    assert not [pid for pid in pids if os.path.exists(f"/proc/{pid}") and comm(pid) in ("OpenClaw", "Other")]


# --- keyrings ----------------------------------------------------------------------------------

KEYRING_CLIENT = """
import sys, keyring
kr = keyring.get_keyring()
print(type(kr).__module__ + "." + type(kr).__name__)
if sys.argv[1] == "set":
    keyring.set_password("openclaw-remote:test", "gateway-token", sys.argv[2])
else:
    print(keyring.get_password("openclaw-remote:test", "gateway-token"))
"""


def test_secret_service_stores_and_reads_back_a_password_from_subprocesses(secret_service, tmp_path):
    env = {**os.environ, **secret_service, "HOME": str(tmp_path)}
    assert env["PYTHON_KEYRING_BACKEND"] == "keyring.backends.SecretService.Keyring"
    stored = subprocess.run([sys.executable, "-c", KEYRING_CLIENT, "set", "s3cret token"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.strip() == "keyring.backends.SecretService.Keyring"
    read = subprocess.run([sys.executable, "-c", KEYRING_CLIENT, "get"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines()[1] == "s3cret token"
    assert secret_service.get_password("openclaw-remote:test", "gateway-token") == "s3cret token"
    assert secret_service.get_password("openclaw-remote:test", "nobody") is None
    keyrings = secret_service.root / "data" / "keyrings"
    assert (keyrings / "login.keyring").exists()  # in the temp dir, never the real home
    assert not (tmp_path / ".local").exists()


def test_memory_keyring(memory_keyring):
    import keyring
    from keyring.errors import PasswordDeleteError

    assert keyring.get_keyring() is memory_keyring
    assert keyring.get_password("svc", "user") is None
    keyring.set_password("svc", "user", "pw")
    assert keyring.get_password("svc", "user") == "pw"
    assert keyring.get_credential("svc", None).password == "pw"
    keyring.delete_password("svc", "user")
    with pytest.raises(PasswordDeleteError):
        keyring.delete_password("svc", "user")
    assert memory_keyring.store == {}
    assert type(memory_keyring).priority == 1
