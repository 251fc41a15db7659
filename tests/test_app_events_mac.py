"""Apple events to OpenClaw.app as macOS handles them: the Automation (TCC) consent dialog that
blocks osascript until the user answers, a refusal (-1743) or no answer (-1712), and the app
addressed by its bundle id. The osascript stand-in models the dialog (tests/standins/bin/osascript)."""

from __future__ import annotations

import pytest

from plugins.app_restart import QUIT_SCRIPT
from tests.test_mac_side import mac  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(120)


NEWER = "a-token-set-after-the-app-started"


def app_without_the_token(cli, mac) -> int:
    """The app runs, and launchd has a token it does not have: app-restart must restart it. (The
    token step's login agent already restarted it at load, with SIGTERM: no Apple event.)"""
    from tests.standins import wait_until

    mac.standins.start_app(mac.app_name, mac.app)
    assert cli("run", "token", "--yes", *mac.flags).returncode == 0
    assert wait_until(lambda: mac.standins.job_pid("openclaw-remote.token-push") is None, 10)
    assert mac.standins.calls("osascript") == []
    mac.standins.clear_calls()
    mac.standins.setenv("OPENCLAW_GATEWAY_TOKEN", NEWER)
    return mac.standins.app_pid()


def restart(cli, mac, env=None):
    old_pid = app_without_the_token(cli, mac)
    done = cli("run", "app-restart", "--yes", *mac.flags, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    new_pid = mac.standins.app_pid()
    assert new_pid and new_pid != old_pid
    assert mac.standins.process_env(new_pid)["OPENCLAW_GATEWAY_TOKEN"] == NEWER
    return done


def test_the_user_is_told_before_the_dialog_and_given_time_to_answer(cli, mac):
    mac.standins.automation_user("allow", after=3.0)  # slower than a glance
    done = restart(cli, mac)
    told = done.stdout.find("macOS may ask whether your terminal may control")
    assert told >= 0, done.stdout
    assert [p["app"] for p in mac.standins.automation_prompts()] == [mac.app_name]
    assert mac.standins.calls("osascript") == [[*QUIT_SCRIPT, "ai.openclaw.mac"]]  # by bundle id, as an argument


def test_a_refusal_is_recognised_and_the_app_gets_sigterm_after_saying_so(cli, mac):
    mac.standins.automation_user("deny")
    done = restart(cli, mac)
    assert "error -1743" in done.stderr and "SIGTERM" in done.stderr
    assert "Privacy & Security > Automation" in done.stderr


def test_no_answer_in_time_is_recognised_too(cli, mac):
    mac.standins.automation_user("none", after=1.0)
    done = restart(cli, mac, env={"STANDIN_TCC_TIMEOUT": "1"})
    assert "nobody answered" in done.stderr and "SIGTERM" in done.stderr


def test_an_app_without_a_bundle_id_is_not_sent_apple_events(cli, mac):
    import plistlib

    info = mac.app / "Contents" / "Info.plist"
    data = plistlib.loads(info.read_bytes())
    del data["CFBundleIdentifier"]
    info.write_bytes(plistlib.dumps(data))
    done = restart(cli, mac)
    assert mac.standins.calls("osascript") == [] and "names no bundle id" in done.stderr


# --- ps -E on a Mac (BSD ps cannot run on Linux: its two output shapes are given here) -----------

class PsWorld:
    """``ctx.run`` answering ``ps -E -ww -o command= -p PID`` as BSD ps does: the command, then
    the environment when ps may show it, nothing more when it may not (Apple platform binaries)."""

    def __init__(self, output: str):
        self.output = output
        self.calls = []

    def run(self, argv, timeout):
        from wizard.runner import Result

        self.calls.append(argv)
        return Result(0, self.output, "")


@pytest.mark.parametrize("output, expected", [
    ("/Applications/OpenClaw.app/Contents/MacOS/OpenClaw PATH=/usr/bin:/bin HOME=/Users/ada "
     "OPENCLAW_GATEWAY_TOKEN=abc\n", "abc"),
    ("/Applications/OpenClaw.app/Contents/MacOS/OpenClaw PATH=/usr/bin:/bin HOME=/Users/ada\n", None),
    ("/Applications/OpenClaw.app/Contents/MacOS/OpenClaw\n", "UNSEEN"),
    ("", "UNSEEN"),
])
def test_ps_e_output_without_any_environment_is_unseen_not_absent(monkeypatch, tmp_path, output, expected):
    from plugins import _app

    monkeypatch.setattr(_app, "PROC", tmp_path / "no-proc")
    world = PsWorld(output)
    got = _app.process_env_value(world, 4242, "OPENCLAW_GATEWAY_TOKEN")
    assert (got is _app.UNSEEN) if expected == "UNSEEN" else got == expected
    assert world.calls == [["ps", "-E", "-ww", "-o", "command=", "-p", "4242"]]


def test_in_a_terminal_a_refusal_asks_the_user_to_quit_the_app(cli, mac):
    import os
    import signal
    import sys

    import pexpect

    old_pid = app_without_the_token(cli, mac)
    mac.standins.automation_user("deny")
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "run", "app-restart", *mac.flags], env=cli.env,
                          encoding="utf-8", timeout=30, dimensions=(40, 200))
    child.expect("error -1743")
    child.expect("yourself now")
    os.kill(old_pid, signal.SIGTERM)  # the user presses ⌘Q
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    new_pid = mac.standins.app_pid()
    assert new_pid and new_pid != old_pid
    assert mac.standins.process_env(new_pid)["OPENCLAW_GATEWAY_TOKEN"] == NEWER
