"""The command-line contract: names, exit codes, dry run, platform override, fast start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import snapshot
from wizard import __version__


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"openclaw-remote {__version__}"


def test_help_loads_no_plugin_and_no_heavy_library():
    code = ("import sys; from wizard.cli import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('pluggy', 'questionary', 'keyring', 'pexpect', 'rich', 'websockets', 'plugins')"
            " if m in sys.modules]\nprint('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_help_wraps_at_the_terminal_width_as_argparse_would_find_it(cli, monkeypatch):
    """wizard/cli.py's _Formatter tells argparse the width (argparse would import shutil for it)."""
    import argparse

    from wizard.cli import _Formatter

    for columns in ("60", "200"):
        help_text = cli("--help", env={"COLUMNS": columns}).stdout
        assert max(len(line) for line in help_text.splitlines()) <= int(columns) - 2
        monkeypatch.setenv("COLUMNS", columns)
        theirs = argparse.ArgumentParser(prog="x", description="word " * 60)
        ours = argparse.ArgumentParser(prog="x", description="word " * 60, formatter_class=_Formatter)
        assert ours.format_help() == theirs.format_help()


def test_the_command_about_to_run_is_told_from_what_comes_before_it():
    """Only its sub-parser gets options (wizard/cli.py, build_parser's ``only``): when in doubt, all do."""
    from wizard.cli import _command_named

    assert _command_named(["steps", "--json"]) == "steps"
    assert _command_named(["--home", "run", "steps"]) == "steps"  # a home named like a command
    assert _command_named(["--home=/h", "run", "tunnel"]) == "run"
    assert _command_named(["--home", "/h", "--home", "/g", "undo"]) == "undo"
    assert _command_named(["--version"]) is None
    assert _command_named(["--home"]) is None
    assert _command_named([]) is None


def test_the_options_of_the_command_run_are_parsed_after_a_home_given_first(cli, home):
    result = cli("--home", str(home), "steps", "--json")
    assert result.returncode == 0, result.stderr
    assert "ssh-config" in [row["name"] for row in json.loads(result.stdout)]


def test_steps_lists_builtin_steps_with_applies_and_done(cli, home):
    result = cli("steps", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == ["ssh-config", "ssh-key", "local-gateway", "tunnel", "token", "app-restart",
                                             "autostart"]
    assert rows[0]["applies"] is True and rows[0]["done"] is False
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "u").returncode == 0
    assert json.loads(cli("steps", "--json").stdout)[0]["done"] is True


def test_dry_run_changes_nothing_and_shows_the_diff(cli, home):
    (home / ".ssh" / "config").write_text("Host mine\n    User me\n")
    before = snapshot(home)
    result = cli("run", "ssh-config", "--dry-run", "--yes", "--host", "gw.example", "--user", "alice")
    assert result.returncode == 0, result.stderr
    assert "+Host remote-gateway" in result.stdout and "+    HostName gw.example" in result.stdout
    assert " Host mine" in result.stdout  # context line of the user's own config
    assert "nothing was changed" in result.stdout.lower()
    assert snapshot(home) == before


def test_dry_run_with_no_remote_shows_the_whole_plan_and_says_which_step_would_stop(cli, home):
    (home / ".ssh" / "config").write_text("Host mine\n    User me\n")
    before = snapshot(home)
    result = cli("setup", "--dry-run", "--yes", "--host", "gw.example.invalid", "--user", "alice",
                 env={"OPENCLAW_GATEWAY_TOKEN": "t0ken-for-the-dry-run"})
    assert result.returncode == 1, result.stdout + result.stderr  # a real run could not work here
    assert "+    HostName gw.example.invalid" in result.stdout  # the plan is still shown
    assert "A real run would stop before changing anything" in result.stderr
    assert "ssh-key: gw.example.invalid port 22:" in result.stderr and "DNS" in result.stderr
    assert "t0ken-for-the-dry-run" not in result.stdout + result.stderr
    assert snapshot(home) == before


def test_dry_run_reports_a_done_step_as_done(cli, home):
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "alice").returncode == 0
    result = cli("run", "ssh-config", "--dry-run", "--yes")
    assert "already done" in result.stdout


def test_run_unknown_step_is_exit_2_and_lists_steps(cli):
    result = cli("run", "nope", "--yes")
    assert result.returncode == 2 and "nope" in result.stderr and "ssh-config" in result.stderr


def test_bad_usage_is_exit_2(cli):
    assert cli("setup", "--no-such-flag").returncode == 2
    assert cli().returncode == 2


def test_home_must_exist(cli, tmp_path):
    result = cli("steps", "--home", str(tmp_path / "missing"))
    assert result.returncode == 2 and "missing" in result.stderr


def test_failed_verification_is_exit_1_and_names_the_step(cli, home):
    # An Include above nothing can beat our block... except a system of our own making:
    # a LocalForward for the same port in a Match block *before* ours (written by hand).
    cfg = home / ".ssh" / "config"
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "alice").returncode == 0
    cfg.write_text("Match all\n    LocalForward 127.0.0.1:18789 127.0.0.1:9\n" + cfg.read_text())
    result = cli("run", "ssh-config", "--yes")
    assert result.returncode == 1
    assert "ssh-config" in result.stderr and "localforward" in result.stderr


def test_existing_file_keeps_mode_and_gets_a_backup(cli, home):
    cfg = home / ".ssh" / "config"
    cfg.write_text("Host mine\n    User me\n")
    cfg.chmod(0o640)
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "alice").returncode == 0
    assert cfg.stat().st_mode & 0o777 == 0o640
    backups = list((home / ".config/openclaw-remote/backups/.ssh").iterdir())
    assert [b.read_text() for b in backups] == ["Host mine\n    User me\n"]
    assert backups[0].name.startswith("config.~")  # named after where it came from, for undo


def test_missing_ssh_dir_is_created_private(cli, home):
    (home / ".ssh").rmdir()
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "alice").returncode == 0
    assert (home / ".ssh").stat().st_mode & 0o777 == 0o700
    assert (home / ".ssh" / "config").stat().st_mode & 0o777 == 0o600


def test_symlinked_config_is_written_through_the_link(cli, home, tmp_path):
    target = tmp_path / "dotfiles-ssh-config"
    target.write_text("Host mine\n    User me\n")
    (home / ".ssh" / "config").symlink_to(target)
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "alice").returncode == 0
    assert (home / ".ssh" / "config").is_symlink()
    assert "Host remote-gateway" in target.read_text()


def test_numeric_host_is_verified_the_way_ssh_prints_it(cli, home):
    result = cli("run", "ssh-config", "--yes", "--host", "127.1", "--user", "alice")
    assert result.returncode == 0, result.stderr
    assert "HostName 127.1" in (home / ".ssh" / "config").read_text()


def test_crlf_config_keeps_its_line_endings(cli, home):
    cfg = home / ".ssh" / "config"
    cfg.write_bytes(b"Host foo\r\n  User bar\r\n")
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "alice").returncode == 0
    data = cfg.read_bytes()
    assert data.endswith(b"Host foo\r\n  User bar\r\n") and b"\nHost remote-gateway\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    again = cli("run", "ssh-config", "--yes")
    assert "already done" in again.stdout and cfg.read_bytes() == data


def test_output_into_a_closed_pipe_is_not_a_failure(home):
    import subprocess
    import sys

    from tests.conftest import clean_env

    reader = subprocess.Popen([sys.executable, "-m", "wizard", "setup", "--dry-run", "--yes", "--host", "gw.example",
                               "--user", "alice"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**clean_env(home), "OPENCLAW_GATEWAY_TOKEN": "t"})
    reader.stdout.readline()
    reader.stdout.close()  # like `| head -1`
    _out, err = reader.communicate(timeout=60)
    assert b"Broken pipe" not in err and b"Traceback" not in err


def test_a_second_alias_on_the_same_port_is_warned_about(cli, home):
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example", "--user", "alice").returncode == 0
    result = cli("run", "ssh-config", "--yes", "--alias", "gw2", "--host", "gw.example", "--user", "alice")
    assert result.returncode == 0
    assert "managed block for remote-gateway forwarding local port 18789" in result.stderr


def test_control_characters_from_a_users_file_never_reach_the_terminal_raw(cli, home):
    # A title-setting escape and a carriage return that would hide the rest of the line.
    (home / ".ssh" / "config").write_bytes(b"# \x1b]0;pwned\x07 my config\rHost mine\n    User me\n")
    result = cli("run", "ssh-config", "--dry-run", "--yes", "--host", "gw.example", "--user", "alice")
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "\\x1b]0;pwned\\x07 my config" in result.stdout  # shown, escaped


def test_the_command_collects_garbage_during_the_run_and_is_what_gets_installed(monkeypatch, tmp_path):
    """console_main turns the collector off for the imports only: a whole run without it could
    keep sockets and pipes caught in cycles open until the end."""
    import gc
    import tomllib

    from wizard import cli

    seen = {}
    dispatch = cli._dispatch

    def spy(*args, **kwargs):
        seen["collecting"] = gc.isenabled()
        return dispatch(*args, **kwargs)

    monkeypatch.setattr(cli, "_dispatch", spy)
    monkeypatch.setattr(sys, "argv", ["openclaw-remote", "--home", str(tmp_path), "steps"])
    try:
        code = cli.console_main()
    finally:
        gc.unfreeze()
        gc.enable()
    assert code == 0 and seen == {"collecting": True}
    scripts = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["openclaw-remote"] == "wizard.cli:console_main"
