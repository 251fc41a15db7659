"""Check before the first write: what can be known up front stops setup with one message per
problem and a home byte for byte as it was (exit 2 for answers, 1 for a machine that cannot do a
step); a dry run shows the plan, says which steps a real run would stop at, and exits the same."""

from __future__ import annotations


import pytest

from tests.conftest import snapshot
from tests.test_mac_side import launchctl_changes, linux, mac  # noqa: F401  (fixtures)
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(180)
LINUX_STEPS = ("ssh-config", "ssh-key", "tunnel", "autostart")  # the linux fixture has no keyring


def refused(result, code: int, *words: str) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def test_setup_with_yes_and_no_token_writes_nothing(cli, home, mac):
    del cli.env["OPENCLAW_GATEWAY_TOKEN"]
    before = snapshot(home)
    refused(cli("setup", "--yes", *mac.flags), 2, "Nothing was changed", "token: no Gateway token",
            "OPENCLAW_GATEWAY_TOKEN", "--token-stdin")
    assert snapshot(home) == before and launchctl_changes(mac.standins) == []
    assert ssh_processes_for(home) == []


def test_every_problem_is_named_at_once(cli, home, mac, tmp_path):
    del cli.env["OPENCLAW_GATEWAY_TOKEN"], cli.env["OPENCLAW_REMOTE_SSH_PASSWORD"]
    flags = list(mac.flags)
    flags[flags.index("--app") + 1] = str(tmp_path / "Nowhere" / "OpenClaw.app")
    before = snapshot(home)
    err = refused(cli("setup", "--yes", *flags), 2, "ssh-key: a new key", "token: no Gateway token",
                  "app-restart: OpenClaw.app is not installed")
    assert err.count("\n  ") == 3 and snapshot(home) == before


def test_no_usable_keyring_stops_before_anything_and_says_what_still_works(cli, home, mac):
    before = snapshot(home)
    err = refused(cli("setup", "--yes", *mac.flags, env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}),
                  1, "token: no usable keyring", "'openclaw-remote run ssh-config ssh-key tunnel'")
    assert "Traceback" not in err
    assert snapshot(home) == before and ssh_processes_for(home) == []
    # What it says works does work, without any keyring.
    rest = cli("run", "ssh-config", "ssh-key", "tunnel", "--yes", *mac.flags,
               env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert len(ssh_processes_for(home)) == 1


def test_two_secrets_cannot_share_standard_input_and_the_message_says_how(cli, home, mac):
    before = snapshot(home)
    refused(cli("setup", "--yes", "--token-stdin", "--password-stdin", *mac.flags, input="x\n"), 2,
            "--token-stdin", "--password-stdin", "OPENCLAW_GATEWAY_TOKEN")
    assert snapshot(home) == before


def test_no_systemd_user_manager_stops_autostart_before_anything(cli, home, linux, standins):
    before = snapshot(home)
    err = refused(cli("run", *LINUX_STEPS, "--yes", *linux.flags, env={"STANDIN_SYSTEMD_NO_BUS": "1"}), 1,
                  "autostart: no systemd user manager", "Failed to connect to bus")
    assert "'openclaw-remote run ssh-config ssh-key tunnel'" in err
    assert snapshot(home) == before and ssh_processes_for(home) == []
    dry = cli("run", *LINUX_STEPS, "--dry-run", "--yes", *linux.flags, env={"STANDIN_SYSTEMD_NO_BUS": "1"})
    assert dry.returncode == 1 and "A real run would stop before changing anything" in dry.stderr
    assert "would do:" in dry.stdout and snapshot(home) == before


def test_doctor_starts_a_detached_tunnel_when_no_user_manager_can(cli, home, linux, standins):
    assert cli("run", *LINUX_STEPS, "--yes", *linux.flags).returncode == 0  # the unit runs the tunnel
    cli("tunnel", "stop")
    assert ssh_processes_for(home) == []
    no_bus = {"STANDIN_SYSTEMD_NO_BUS": "1"}  # the next login has no user manager
    fixed = cli("doctor", "--fix", "--yes", env=no_bus)
    out = fixed.stdout + fixed.stderr
    assert "ok    tunnel process: pid" in out and "run by a detached ssh" in out, out
    assert len(ssh_processes_for(home)) == 1
    # the working detached tunnel is not reported as a failure for lack of the agent
    status = cli("status", env=no_bus).stdout
    assert "ok    tunnel process" in status and "orphaned" not in status


def test_a_dry_run_asks_for_no_secret(home, mac, cli):
    import sys

    import pexpect

    env = {**cli.env}
    del env["OPENCLAW_GATEWAY_TOKEN"], env["OPENCLAW_REMOTE_SSH_PASSWORD"]
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "setup", "--dry-run", *mac.flags], env=env,
                          encoding="utf-8", timeout=30, dimensions=(40, 200))
    while True:
        index = child.expect(
            [
                r"Host alias\)|ssh key to use|label\)",
                r"Password for your account|Gateway token \(hidden|Passphrase for the new",
                pexpect.EOF,
            ]
        )
        if index == 0:
            child.send("\r")
        else:
            break
    assert index == 2, "a dry run asked for a secret: " + child.before[-300:] + child.after
    child.close()
    assert "Dry run: nothing was changed." in child.before


@pytest.mark.parametrize("where", [".ssh/config", ".ssh/id_ed25519", "Library/LaunchAgents/bot.molt.ssh-tunnel.plist",
                                   "Library/LaunchAgents/openclaw-remote.token-push.plist"])
def test_a_directory_where_a_step_writes_a_file_is_named_before_anything(cli, home, mac, where):
    (home / where).mkdir(parents=True)
    before = snapshot(home)
    refused(cli("setup", "--yes", *mac.flags), 2, f"{home / where} is not a regular file", "Nothing was changed")
    assert snapshot(home) == before and launchctl_changes(mac.standins) == []


def test_an_unreachable_host_and_a_missing_password_are_named_together(cli, home, mac):
    del cli.env["OPENCLAW_REMOTE_SSH_PASSWORD"]
    flags = list(mac.flags)
    flags[flags.index("--host") + 1] = "no-such-host.invalid"
    err = refused(cli("run", "ssh-config", "ssh-key", "--yes", *flags), 1, "DNS", "OPENCLAW_REMOTE_SSH_PASSWORD")
    assert err.count("ssh-key:") == 1  # one step, one line, both problems


def test_doctor_does_not_offer_to_start_a_tunnel_that_key_login_would_stop(cli, home):
    assert cli("run", "ssh-config", "--yes", "--host", "no-such-host.invalid", "--user", "alice").returncode == 0
    out = cli("doctor").stdout
    assert "key login (BatchMode)" in out
    tunnel = out[out.index("\ntunnel process: no ssh tunnel"):].strip().split("\n\n")[0]  # its explanation
    assert "follows from 'key-login'" in tunnel and "fix:" not in tunnel and "-N" not in tunnel


def test_tunnel_commands_on_a_home_where_nothing_was_set_up_say_so(cli, home):
    for action in ("start", "stop", "restart"):
        result = cli("tunnel", action)
        assert result.returncode == 1 and "nothing is set up" in result.stderr, (action, result.stderr)


def test_a_home_that_is_a_file_is_named_as_such(cli, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    result = cli("status", "--home", str(afile))
    assert result.returncode == 2 and "not a directory" in result.stderr and "mkdir" not in result.stderr
