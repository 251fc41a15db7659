"""A corpus of hostile and malformed input. Each must stop the wizard with a clear error naming
what is wrong, exit 2, and leave the home byte-for-byte as it was. The session summary prints
how many were tried (conftest's ``pytest_terminal_summary``)."""

from __future__ import annotations

import plistlib

import pytest

from tests.conftest import snapshot
from tests.standins import BIN_DIR

PASSED: list[str] = []  # read by the terminal summary
BASE = {"--host": "gw.example", "--user": "alice"}
USER_CONFIG = b"# mine\nHost elsewhere\n    User me\n"

# (id, flags that replace BASE's or add to it, text the error must contain)
FLAG_CASES = [
    ("newline-in-host", {"--host": "gw\nProxyCommand touch /tmp/pwned"}, "--host"),
    ("space-in-host", {"--host": "gw ProxyCommand=x"}, "--host"),
    ("option-as-host", {"--host": "-oProxyCommand=touch /tmp/pwned"}, "--host"),
    ("semicolon-in-host", {"--host": "gw;reboot"}, "--host"),
    ("brackets-in-host", {"--host": "[::1]"}, "--host"),
    ("empty-host", {"--host": ""}, "--host"),
    ("huge-host", {"--host": "a" * 100_000}, "--host"),
    ("cyrillic-lookalike-host", {"--host": "gаteway.example"}, "--host"),
    ("double-quote-in-user", {"--user": 'al"ice'}, "--user"),
    ("single-quote-in-user", {"--user": "alice'"}, "--user"),
    ("option-as-user", {"--user": "-l"}, "--user"),
    ("tab-in-user", {"--user": "al\tice"}, "--user"),
    ("escape-sequence-in-user", {"--user": "al\x1b[2Jice"}, "--user"),
    ("huge-user", {"--user": "u" * 300}, "--user"),
    ("option-as-alias", {"--alias": "-oProxyCommand=x"}, "--alias"),
    ("space-in-alias", {"--alias": "remote gateway"}, "--alias"),
    ("pattern-alias", {"--alias": "*"}, "--alias"),
    ("comment-in-alias", {"--alias": "gw#x"}, "--alias"),
    ("unicode-hyphen-alias", {"--alias": "remote‐gateway"}, "--alias"),
    ("port-0", {"--port": "0"}, "--port"),
    ("port-65536", {"--port": "65536"}, "--port"),
    ("port-abc", {"--port": "abc"}, "--port"),
    ("port-negative", {"--port": "-22"}, "--port"),
    ("local-port-0", {"--local-port": "0"}, "--local-port"),
    ("remote-port-65536", {"--remote-port": "65536"}, "--remote-port"),
    ("fullwidth-digits-port", {"--local-port": "１８７８９"}, "--local-port"),
    ("identity-dotdot", {"--identity": "~/../../etc/ssh/ssh_host_ed25519_key"}, "--identity"),
    ("identity-dotdot-absolute", {"--identity": "/tmp/../etc/key"}, "--identity"),
    ("identity-relative", {"--identity": "keys/id_ed25519"}, "--identity"),
    ("identity-percent-token", {"--identity": "~/.ssh/%d/key"}, "--identity"),
    ("identity-newline", {"--identity": "~/.ssh/k\nProxyCommand x"}, "--identity"),
    ("label-dotdot", {"--label": "../../evil"}, "--label"),
    ("label-slash", {"--label": "a/b"}, "--label"),
    ("label-our-token-agent", {"--label": "openclaw-remote.token-push"}, "--label"),
    ("label-openclaw-gateway", {"--label": "ai.openclaw.gateway"}, "--label"),
    ("label-openclaw-profile", {"--label": "ai.openclaw.work"}, "--label"),
    ("label-openclaw-app", {"--label": "ai.openclaw.mac"}, "--label"),
    ("label-too-long", {"--label": "a" * 250}, "--label"),
    ("app-too-long", {"--app": "/Applications/" + "x/" * 600 + "OpenClaw.app"}, "--app"),
    ("identity-env-variable", {"--identity": "~/.ssh/${USER}_key"}, "--identity"),
    ("identity-tilde-user", {"--identity": "~root/.ssh/id_ed25519"}, "--identity"),
    ("identity-too-long", {"--identity": "/" + "k" * 2000}, "--identity"),
    ("identity-name-too-long", {"--identity": "~/.ssh/" + "k" * 300}, "--identity"),
    ("app-quote", {"--app": '/Applications/x" & (do shell script "id") & ".app'}, "--app"),
    ("app-dotdot", {"--app": "/Applications/../tmp/OpenClaw.app"}, "--app"),
    ("app-not-an-app", {"--app": "/bin/sh"}, "--app"),
    ("newline-in-remote-openclaw", {"--remote-openclaw": "openclaw\nrm -rf ~"}, "--remote-openclaw"),
    ("escape-in-remote-openclaw", {"--remote-openclaw": "/opt/\x1b[2Jopenclaw"}, "--remote-openclaw"),
    ("relative-remote-openclaw", {"--remote-openclaw": "node/bin/openclaw"}, "--remote-openclaw"),
]


def _flags(overrides: dict) -> list[str]:
    merged = {**BASE, **overrides}
    return [word for flag, value in merged.items() for word in (flag, value)]


@pytest.fixture
def mac_home(home, cli):
    (home / ".ssh" / "config").write_bytes(USER_CONFIG)
    cli.env.update(OPENCLAW_REMOTE_PLATFORM="darwin", PATH=f"{BIN_DIR}:{cli.env['PATH']}",
                   STANDIN_STATE=str(home.parent / "standins"))
    return home


def refused(cli, home, *args, expect: str, case: str, env: dict | None = None):
    before = snapshot(home)
    result = cli(*args, env=env)
    assert result.returncode == 2, (case, result.stdout, result.stderr)
    assert expect in result.stderr, (case, result.stderr)
    assert "Traceback" not in result.stderr
    assert snapshot(home) == before, case
    assert not (home / ".config").exists()  # not even a state file
    PASSED.append(case)
    return result.stderr


@pytest.mark.parametrize("case,overrides,expect", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_hostile_answer_is_refused_and_nothing_changes(cli, mac_home, case, overrides, expect):
    refused(cli, mac_home, "setup", "--yes", *_flags(overrides), expect=expect, case=case)


@pytest.mark.parametrize("case,variable,value", [
    ("env-host-newline", "OPENCLAW_REMOTE_HOST", "gw\nHost *"),
    ("env-port-abc", "OPENCLAW_REMOTE_PORT", "abc"),
    ("env-alias-option", "OPENCLAW_REMOTE_ALIAS", "-F/etc/passwd"),
    ("env-token-with-blank", "OPENCLAW_GATEWAY_TOKEN", "two words"),
    ("env-late-switch-wrong-type", "OPENCLAW_REMOTE_ACCEPT_HOST_KEY", "perhaps"),
])
def test_hostile_environment_variable_is_refused(cli, mac_home, case, variable, value):
    refused(
        cli,
        mac_home,
        "setup",
        "--yes",
        "--user",
        "alice",
        *(["--host", "gw.example"] if "HOST" not in variable else []),
        env={variable: value},
        expect=variable,
        case=case,
    )


@pytest.mark.parametrize("case,text,expect", [
    ("answers-not-toml", "host = gw.example\n[[[", "not valid TOML"),
    ("answers-binary", "\udcff\x00\x01", "not valid TOML"),
    ("answers-nul-in-host", 'host = "gw\\u0000x"\nuser = "alice"\n', "host"),
    ("answers-port-out-of-range", 'host = "gw.example"\nuser = "alice"\nport = 70000\n', "port"),
    ("answers-host-is-a-table", 'user = "alice"\n[host]\nname = "x"\n', "host"),
    ("answers-late-switch-wrong-type", 'host = "gw.example"\nuser = "alice"\nremove_other_agents = "maybe"\n',
     "remove_other_agents"),
    ("answers-token-in-file", 'host = "gw.example"\nuser = "alice"\ntoken = "t0k"\n', "never read from a file"),
    ("answers-password-in-file", 'host = "gw.example"\nuser = "alice"\npassword = "pw"\n', "--password-stdin"),
    ("answers-escape-in-key", '"\\u001b[31mred" = 1\nhost = "gw.example"\n', "'\\x1b[31mred' is not an answer"),
    ("answers-huge-key", f'"{"k" * 100_000}" = 1\n', "larger than 64 KiB"),
    ("answers-deep-nesting", "x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
])
def test_hostile_answers_file_is_refused(cli, mac_home, tmp_path, case, text, expect):
    answers = tmp_path / "answers.toml"
    answers.write_bytes(text.encode("utf-8", "surrogateescape"))
    refused(cli, mac_home, "setup", "--yes", "--answers", str(answers), expect=expect, case=case)


@pytest.mark.parametrize("case,special", [("answers-dev-zero", "/dev/zero"), ("answers-fifo", "fifo"),
                                          ("answers-directory", "dir")])
def test_answers_file_that_is_not_a_regular_file_is_refused_without_reading_it(cli, mac_home, tmp_path, case, special):
    import os

    path = tmp_path / "answers"
    if special == "fifo":
        os.mkfifo(path)  # opening it would wait for a writer forever
    elif special == "dir":
        path.mkdir()
    else:
        path = special
    refused(cli, mac_home, "setup", "--yes", *_flags({}), "--answers", str(path), expect="not a regular file",
            case=case)


def test_answers_file_with_dotdot_path_is_refused(cli, mac_home):
    refused(cli, mac_home, "setup", "--yes", *_flags({}), "--answers", "/nonexistent/../answers.toml",
            expect="cannot read answers file", case="answers-file-missing")


@pytest.mark.parametrize("case,content,expect", [
    ("ssh-config-bad-option", USER_CONFIG + b"Host x\n    NoSuchOption yes\n", "ssh cannot read"),
    ("ssh-config-bad-value", USER_CONFIG + b"Host x\n    Port notaport\n", "ssh cannot read"),
    ("ssh-config-not-utf8", USER_CONFIG + b"# caf\xe9\n", "not UTF-8"),
    ("ssh-config-damaged-marker", b"# >>> openclaw-remote remote-gateway >>>\nHost remote-gateway\n", "no end marker"),
])
def test_ssh_config_we_cannot_read_is_refused(cli, mac_home, case, content, expect):
    (mac_home / ".ssh/config").write_bytes(content)
    refused(cli, mac_home, "setup", "--yes", *_flags({}), expect=expect, case=case)


@pytest.mark.parametrize("case,label,content,expect", [
    ("plist-garbage", "bot.molt.ssh-tunnel", b"not a plist \x00\x01", "not a plist this wizard can read"),
    ("plist-other-label", "bot.molt.ssh-tunnel",
     plistlib.dumps({"Label": "com.example.backup", "ProgramArguments": ["/usr/bin/true"]}), "another label"),
    ("token-agent-garbage", "openclaw-remote.token-push", b"<?xml version='1.0'?><broken", "not a plist"),
])
def test_plist_we_did_not_write_is_refused(cli, mac_home, case, label, content, expect):
    agents = mac_home / "Library" / "LaunchAgents"
    agents.mkdir(parents=True)
    (agents / f"{label}.plist").write_bytes(content)
    before = snapshot(mac_home)
    result = cli("setup", "--yes", *_flags({}))
    assert result.returncode == 2 and expect in result.stderr, (case, result.stderr)
    assert snapshot(mac_home) == before
    PASSED.append(case)
