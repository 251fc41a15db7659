"""Recovering from a failed step: undo carries on past a failing step, removes what a failed or
interrupted step left behind, acts on what setup recorded (never on today's answers), and a state
file that is not what the wizard wrote is refused with exit 2, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.conftest import Cli, snapshot
from tests.harness import ports
from tests.standins import wait_until
from tests.test_mac_side import LABEL, linux, mac, plist  # noqa: F401  (linux, mac are fixtures)
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(180)
KEY_FILES = {".ssh/id_ed25519", ".ssh/id_ed25519.pub"}
STATE = ".config/openclaw-remote/state.json"
USER_CONFIG = "Host mine\n    User me\n"
# An alias no other test session on the machine uses at the same time (tunnels are found by it).
ALIAS = ["--alias", f"rec{os.getpid()}"]


def dirs(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_dir())


def state_of(home: Path) -> dict:
    return json.loads((home / STATE).read_text())


def without_privilege(*argv: str) -> list[str]:
    """Root reads any file; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH it meets file modes
    as every other user does (mode 000, a read-only directory)."""
    if os.geteuid() != 0:
        return list(argv)
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *argv]


def run_unprivileged(cli: Cli, *args: str):
    return subprocess.run(without_privilege(sys.executable, "-m", "wizard", *args), env=cli.env, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=60)


# temp files ------------------------------------------------------------------------------------

def test_only_our_own_temp_files_are_cleaned_up_next_to_the_config(cli, home):
    ssh = home / ".ssh"
    (ssh / "config").write_text(USER_CONFIG)
    (ssh / ".config.notes.tmp").write_text("my notes\n")  # the user's: it must survive
    (ssh / ".config.openclaw-remote-k1ll3d.tmp").write_text("half a file")  # a killed wizard's
    result = cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "u")
    assert result.returncode == 0, result.stderr
    assert (ssh / ".config.notes.tmp").read_text() == "my notes\n"
    assert sorted(p.name for p in ssh.iterdir()) == [".config.notes.tmp", "config"]


# undo carries on ---------------------------------------------------------------------------------

def test_undo_carries_on_past_a_failing_step_and_says_exactly_what_happened(cli, home, standins, linux):
    (home / ".ssh/config").write_text(USER_CONFIG)
    before, dirs_before = snapshot(home), dirs(home)
    assert cli("run", "ssh-config", "ssh-key", "tunnel", "autostart", "--yes", *linux.flags, *ALIAS).returncode == 0
    fail_reload = Path(standins.env["STANDIN_STATE"]) / "fail-daemon-reload"
    fail_reload.touch()
    result = cli("undo", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    error = "✗ undo of autostart failed: systemctl --user daemon-reload failed (exit 1): Failed to reload daemon"
    assert error in result.stderr
    last = result.stderr.strip().splitlines()[-1]  # the summary comes after the errors
    assert last.startswith("undone: tunnel, ssh-key, ssh-config; failed: autostart (systemctl --user daemon-reload")
    assert (home / ".ssh/config").read_text() == USER_CONFIG  # the steps after the failure were undone
    assert wait_until(lambda: ssh_processes_for(home) == [], timeout=10)
    assert list(state_of(home)["steps"]) == ["autostart"]  # still recorded: a second undo finishes it

    fail_reload.unlink()
    again = cli("undo", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip().splitlines()[-1] == "undone: autostart"
    after = snapshot(home)
    assert set(after) - set(before) == KEY_FILES and {name: after[name] for name in before} == before
    assert dirs(home) == dirs_before


def test_a_unit_file_written_before_daemon_reload_failed_is_removed_by_undo(cli, home, standins, linux):
    before, dirs_before = snapshot(home), dirs(home)
    fail_reload = Path(standins.env["STANDIN_STATE"]) / "fail-daemon-reload"
    fail_reload.touch()
    result = cli("run", "ssh-config", "ssh-key", "tunnel", "autostart", "--yes", *linux.flags, *ALIAS)
    assert result.returncode == 1 and "Failed to reload daemon" in result.stderr, result.stderr
    unit = home / ".config/systemd/user" / f"{LABEL}.service"
    assert unit.exists()  # what the failed step left behind
    fail_reload.unlink()
    undone = cli("undo", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert not unit.exists()
    after = snapshot(home)
    assert set(after) - set(before) == KEY_FILES
    assert dirs(home) == dirs_before  # ~/.config/systemd/user, which setup created, is gone too


# ssh-copy-id's scratch directory -------------------------------------------------------------------

def _at_the_password_prompt(cli, home, sshd):
    sshd.revoke_all_keys()
    env = {key: value for key, value in cli.env.items() if key != "OPENCLAW_REMOTE_SSH_PASSWORD"}
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "run", "ssh-config", "ssh-key", "--host", sshd.host,
                                           "--port", str(sshd.port), "--user", sshd.user, "--local-port",
                                           str(ports.free_port()), "--remote-port", "18789"],
                          env=env, encoding="utf-8", timeout=30, dimensions=(40, 200))
    for prompt in ("Host alias", "ssh key to use"):
        child.expect(prompt)
        child.send("\r")
    child.expect(
        "no ssh agent is running, so the new key gets no passphrase"
    )  # no agent in this terminal: no passphrase offered
    child.expect("Trust this host key")
    child.send("y")
    child.expect("Password for your account")
    assert [p.name for p in (home / ".ssh").glob("ssh-copy-id.*")], "ssh-copy-id made no scratch directory"
    return child


def _needs_password_user(sshd):
    if not sshd.supports_password:
        pytest.skip("needs root for the password user (CI runs as root)")


def test_ctrl_c_at_the_password_prompt_leaves_no_scratch_directory_and_undo_restores_the_home(cli, home, sshd):
    _needs_password_user(sshd)
    (home / ".ssh/config").write_text(USER_CONFIG)
    before, dirs_before = snapshot(home), dirs(home)
    child = _at_the_password_prompt(cli, home, sshd)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130, child.before
    assert list((home / ".ssh").glob("ssh-copy-id.*")) == []
    assert "known_hosts" in os.listdir(home / ".ssh")  # the host key was accepted before the Ctrl-C
    steps = cli("steps").stdout
    assert "last run stopped midway" in steps.split("ssh-key", 1)[1].split("\n", 2)[1], steps
    undone = cli("undo", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    after = snapshot(home)
    assert set(after) - set(before) == KEY_FILES and {name: after[name] for name in before} == before
    assert dirs(home) == dirs_before


def test_a_wizard_killed_at_the_password_prompt_is_cleaned_up_by_undo(cli, home, sshd):
    _needs_password_user(sshd)
    # Hashed known_hosts names: undo must still recognise the line ssh added for the remote machine.
    (home / ".ssh/config").write_text(USER_CONFIG + "Host *\n    HashKnownHosts yes\n")
    before, dirs_before = snapshot(home), dirs(home)
    child = _at_the_password_prompt(cli, home, sshd)
    os.kill(child.pid, signal.SIGKILL)  # no finally runs: only what was recorded first can help
    child.expect(pexpect.EOF)
    child.close()
    assert list((home / ".ssh").glob("ssh-copy-id.*")), "a killed wizard cleans nothing up itself"
    assert (home / ".ssh/known_hosts").read_text().startswith("|1|")  # the host key was accepted, hashed
    dry = cli("undo", "--dry-run")
    assert "remove ssh-copy-id's scratch directory" in dry.stdout, dry.stdout + dry.stderr
    undone = cli("undo", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    after = snapshot(home)
    assert set(after) - set(before) <= KEY_FILES and {name: after[name] for name in before} == before
    assert dirs(home) == dirs_before  # ssh-copy-id.XXXXXXXXXX and ~/.config are gone


# directories made for a backup whose write failed ----------------------------------------------------

FAIL_RENAME = """import os
_replace = os.replace
def replace(src, dst, *args, **kwargs):  # the disk fails at the very last moment
    if str(dst).endswith("/.ssh/config"):
        raise PermissionError(13, "Permission denied", str(dst))
    return _replace(src, dst, *args, **kwargs)
os.replace = replace
"""


def test_directories_made_for_a_backup_are_removed_when_the_write_after_it_failed(cli, home, tmp_path):
    (home / ".ssh/config").write_text(USER_CONFIG)
    before, dirs_before = snapshot(home), dirs(home)
    # A read-only ~/.ssh is refused before anything now (test_fs_safety): fail the rename itself.
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(FAIL_RENAME)
    failed = cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "u",
                 env={"PYTHONPATH": str(tmp_path / "inject")})
    assert failed.returncode == 1 and "Permission denied" in failed.stderr, failed.stdout + failed.stderr
    assert list((home / ".config/openclaw-remote/backups/.ssh").iterdir())  # the backup was made
    undone = cli("undo", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert snapshot(home) == before and dirs(home) == dirs_before


# answers come from the records ----------------------------------------------------------------------

def test_undo_removes_what_setup_made_whatever_alias_and_label_the_environment_names_today(cli, home, mac):
    result = cli("setup", "--yes", *mac.flags, "--alias", "mine", "--label", "my.tunnel")
    assert result.returncode == 0, result.stdout + result.stderr
    assert plist(home, "my.tunnel").exists() and "my.tunnel" in mac.standins.loaded()
    today = {"OPENCLAW_REMOTE_ALIAS": "other", "OPENCLAW_REMOTE_LABEL": "other.label"}
    undone = cli("undo", "--yes", env=today)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert "other.label" not in undone.stdout and "for other" not in undone.stdout
    assert not (home / ".ssh/config").exists() and not plist(home, "my.tunnel").exists()
    assert mac.standins.loaded() == {}
    assert wait_until(lambda: ssh_processes_for(home) == [], timeout=10)


def test_undo_after_a_first_run_that_failed_before_saving_answers_uses_no_default(cli, home):
    port = ports.free_port()
    failed = cli("run", "tunnel", "--yes", "--alias", "mine", "--local-port", str(port))
    assert failed.returncode == 1, failed.stdout + failed.stderr  # ssh exits at once: no config for "mine"
    assert state_of(home)["answers"] == {}  # nothing completed, so nothing was saved as answers
    dry = cli("undo", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "stop every ssh tunnel for mine" in dry.stdout
    assert "remote-gateway" not in dry.stdout + dry.stderr  # the default names a tunnel it never started
    undone = cli("undo", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert not (home / ".config").exists()


def test_undo_removes_the_blocks_of_every_alias_setup_was_run_with(cli, home):
    (home / ".ssh/config").write_text(USER_CONFIG)
    for alias in ("first", "second"):
        done = cli("run", "ssh-config", "--yes", "--alias", alias, "--host", "gw.example", "--user", "u",
                   "--local-port", "20001" if alias == "first" else "20002")
        assert done.returncode == 0, done.stderr
    assert "Host first" in (home / ".ssh/config").read_text() and "Host second" in (home / ".ssh/config").read_text()
    dry = cli("undo", "--dry-run")
    assert "-Host first" in dry.stdout and "-Host second" in dry.stdout, dry.stdout
    undone = cli("undo", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert (home / ".ssh/config").read_text() == USER_CONFIG
    # The second run's backup (the config with the first block) differs from the file now: named, kept.
    kept = [p for p in (home / ".config").rglob("*") if p.is_file()]
    assert len(kept) == 1 and "Host first" in kept[0].read_text() and str(kept[0]) in undone.stdout


def test_undo_help_offers_only_what_undo_uses(cli):
    result = cli("undo", "--help")
    options = sorted(set(word.rstrip(",") for word in result.stdout.split() if word.startswith("--")))
    assert options == ["--dry-run", "--help", "--home", "--json", "--non-interactive", "--yes"], result.stdout


# a state file that is not what we wrote ---------------------------------------------------------------

BAD_STATES = {
    "answers-a-list": '{"answers": [], "steps": {}}',
    "answer-an-object": '{"answers": {"alias": {"a": 1}}, "steps": {}}',
    "steps-a-number": '{"answers": {}, "steps": 5}',
    "created-a-string": '{"answers": {}, "steps": {}, "created": "/etc"}',
    "pid-a-string": '{"answers": {}, "steps": {"tunnel": {"status": "done", "pid": "1; rm"}}}',
    "known-hosts-a-string": '{"steps": {"ssh-key": {"status": "done", "known_hosts_added": "x"}}}',
    "recorded-answers-a-list": '{"steps": {"ssh-config": {"status": "done", "answers": ["remote-gateway"]}}}',
    "deep-nesting": '{"answers": ' + "[" * 100000 + "]" * 100000 + "}",
    "not-utf8": b'{"answers": {"alias": "\xff"}}',
}
COMMANDS = [["setup", "--yes", "--host", "gw.example", "--user", "u"], ["run", "ssh-config", "--yes"], ["status"],
            ["steps"], ["doctor"], ["undo", "--yes"], ["undo", "--dry-run"]]


def _refused_by_every_command(cli, home, run=None):
    run = run or cli
    for command in COMMANDS:
        result = run(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        assert "the state file" in result.stderr and "move it away" in result.stderr, (command, result.stderr)


@pytest.mark.parametrize("case", sorted(BAD_STATES))
def test_a_hand_edited_state_file_is_refused_by_every_command(cli, home, case):
    path = home / STATE
    path.parent.mkdir(parents=True)
    text = BAD_STATES[case]
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = snapshot(home)
    _refused_by_every_command(cli, home)
    assert snapshot(home) == before


def test_a_directory_where_the_state_file_should_be_is_refused_by_every_command(cli, home):
    (home / STATE).mkdir(parents=True)
    _refused_by_every_command(cli, home)


def test_a_state_file_nobody_may_read_is_refused_by_every_command(cli, home):
    path = home / STATE
    path.parent.mkdir(parents=True)
    path.write_text('{"answers": {}, "steps": {}}')
    path.chmod(0o000)
    _refused_by_every_command(cli, home, run=lambda *args: run_unprivileged(cli, *args))


def test_an_unreadable_config_directory_is_refused_by_every_command(cli, home):
    (home / ".config/openclaw-remote").mkdir(parents=True)
    (home / ".config").chmod(0o000)
    try:
        _refused_by_every_command(cli, home, run=lambda *args: run_unprivileged(cli, *args))
    finally:
        (home / ".config").chmod(0o700)


@pytest.mark.parametrize("text, expect", [
    ("alias = " + "[" * 5000, "nested too deeply"),
    (None, "is not a regular file"),  # a directory
])
def test_an_answers_file_that_is_not_one_is_refused_cleanly(cli, home, tmp_path, text, expect):
    answers = tmp_path / "answers.toml"
    if text is None:
        answers.mkdir()
    else:
        answers.write_text(text)
    result = cli("setup", "--yes", "--answers", str(answers))
    assert result.returncode == 2 and expect in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_hand_edited_state_never_makes_undo_touch_anything_outside_the_home(cli, home, tmp_path):
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "u").returncode == 0
    outside = tmp_path / "outside"
    (outside / "empty").mkdir(parents=True)
    (outside / "via-link" / "sub").mkdir(parents=True)
    (outside / "precious").write_text("keep me\n")
    (home / "link").symlink_to(outside / "via-link")
    data = state_of(home)
    data["created"] += [str(outside / "empty"), str(outside / "precious"), str(home / "link" / "sub"),
                        str(home / ".." / "outside" / "empty")]
    data["replaced"] = {str(home / ".ssh/config"): str(outside / "precious")}
    (outside / "k.pub").write_text("ssh-ed25519 AAAA someone's\n")  # a lone .pub, as a killed keygen leaves
    data["steps"]["ssh-key"] = {
        "status": "failed",
        "answers": {"alias": "remote-gateway", "identity": str(outside / "k")},
        "generated_key": str(outside / "k"),
    }
    (home / STATE).write_text(json.dumps(data))
    undone = cli("undo", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert (outside / "empty").is_dir() and (outside / "via-link" / "sub").is_dir()
    assert (outside / "precious").read_text() == "keep me\n"
    assert (outside / "k.pub").exists()
