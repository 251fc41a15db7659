"""Where answers come from, and what bad answers do (exit 2, nothing changed)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import snapshot

BASE = ("run", "ssh-config", "--yes")


def config_of(home):
    return (home / ".ssh" / "config").read_text()


def test_precedence_flag_env_file_saved_default(cli, home, tmp_path):
    answers = tmp_path / "answers.toml"
    answers.write_text('host = "from-file.example"\nuser = "fileuser"\nlocal-port = 20001\n')
    env = {"OPENCLAW_REMOTE_HOST": "from-env.example"}
    result = cli(*BASE, "--answers", str(answers), "--host", "from-flag.example", env=env)
    assert result.returncode == 0, result.stderr
    text = config_of(home)
    assert "HostName from-flag.example" in text          # flag beats env and file
    assert "User fileuser" in text                       # file beats saved/default
    assert "LocalForward 127.0.0.1:20001 127.0.0.1:18789" in text  # file beats default
    result = cli(*BASE, "--answers", str(answers), env=env)
    assert "HostName from-env.example" in config_of(home)  # env beats file
    result = cli(*BASE)
    assert result.returncode == 0, result.stderr
    text = config_of(home)
    assert "HostName from-env.example" in text and "User fileuser" in text  # saved answers reused
    assert "20001" in text


def test_missing_required_answer_names_the_flag(cli, home):
    result = cli(*BASE)
    assert result.returncode == 2
    assert "--host" in result.stderr
    assert not (home / ".ssh" / "config").exists()


BAD = [
    ("--host", "evil.example\n    ProxyCommand touch /tmp/pwned"),
    ("--host", "two words"),
    ("--host", "-oProxyCommand=x"),
    ("--host", 'quo"te'),
    ("--host", "hash#tag"),
    ("--host", "nul\x01byte"),
    ("--host", "ехample.com"),  # Cyrillic look-alike letters
    ("--host", "x" * 300),
    ("--host", "[127.0.0.1]"),  # HostName takes no brackets
    ("--user", "root name"),
    ("--user", "-l"),
    ("--alias", "remote gateway"),
    ("--alias", "gate*"),
    ("--port", "0"),
    ("--port", "65536"),
    ("--port", "abc"),
    ("--local-port", "-1"),
    ("--identity", "relative/key"),
    ("--identity", "/tmp/../etc/key"),
    ("--identity", "/tmp/my key"),
]


@pytest.mark.parametrize("flag,value", BAD, ids=[f"{f}={v[:20]!r}" for f, v in BAD])
def test_bad_answer_is_rejected_with_exit_2_and_nothing_changes(cli, home, flag, value):
    (home / ".ssh" / "config").write_text("Host mine\n    User me\n")
    before = snapshot(home)
    args = {"--host": "gw.example", "--user": "alice", flag: value}
    result = cli("setup", "--yes", *[part for item in args.items() for part in item])
    assert result.returncode == 2, result.stdout + result.stderr
    assert flag in result.stderr
    assert snapshot(home) == before


def test_bad_answer_from_environment_names_the_variable(cli, home):
    result = cli(*BASE, "--host", "gw.example", "--user", "u", env={"OPENCLAW_REMOTE_PORT": "99999"})
    assert result.returncode == 2
    assert "OPENCLAW_REMOTE_PORT" in result.stderr and "65535" in result.stderr


def test_answers_file_that_is_not_toml_is_exit_2(cli, home, tmp_path):
    bad = tmp_path / "answers.toml"
    bad.write_text("host = [unclosed\n")
    before = snapshot(home)
    result = cli(*BASE, "--answers", str(bad))
    assert result.returncode == 2 and "TOML" in result.stderr
    assert snapshot(home) == before


def test_state_keeps_no_secret_and_only_known_answers(cli, home):
    assert cli(*BASE, "--host", "gw.example", "--user", "alice").returncode == 0
    state = json.loads((home / ".config/openclaw-remote/state.json").read_text())
    assert state["answers"]["host"] == "gw.example"
    assert state["steps"]["ssh-config"]["status"] == "done"


def test_unknown_answers_file_keys_are_named(cli, home, tmp_path):
    answers = tmp_path / "answers.toml"
    answers.write_text('host = "gw.example"\nuser = "u"\nlocalport = 1234\n')
    result = cli(*BASE, "--answers", str(answers))
    assert result.returncode == 0, result.stderr
    assert "unknown answers ignored: localport" in result.stderr


def test_state_file_of_the_wrong_shape_is_refused_with_the_fix_and_kept(cli, home):
    state = home / ".config/openclaw-remote/state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"answers": [], "steps": 5}')
    for command in (["steps"], [*BASE, "--host", "gw.example", "--user", "u"]):
        result = cli(*command)
        assert result.returncode == 2, result.stderr
        assert f"the state file {state} cannot be used" in result.stderr and "move it away" in result.stderr
    assert state.read_text() == '{"answers": [], "steps": 5}'  # never replaced behind the user's back
    assert not (home / ".ssh/config").exists()


def test_a_refused_run_writes_no_state(cli, home):
    (home / ".ssh" / "config").write_text("Host remote-gateway\n    HostName old.example\n")
    result = cli(*BASE, "--host", "gw.example", "--user", "alice")
    assert result.returncode == 2
    assert not (home / ".config").exists()
