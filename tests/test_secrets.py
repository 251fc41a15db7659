"""Secret hygiene across the whole life of a setup: setup, status, doctor (repairing a stale and
then a rotated token), undo. The Gateway tokens and the ssh password must appear in no file under
the home (logs included), no output, and no recorded command line but `launchctl setenv`."""

from __future__ import annotations

import json

import pytest

from tests.harness.fixtures import GATEWAY_TOKEN
from tests.test_mac_side import files_containing, mac  # noqa: F401  (mac is a fixture)
from tests.test_remote import ssh_processes_for
from tests.test_remote_gateway import remote, up  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(240)
ROTATED = "rotated-secret-token-QQQ"


def test_no_secret_leaks_through_setup_status_doctor_and_undo(cli, home, mac):
    outputs = []

    def run(*args, **env):
        result = cli(*args, env=env)
        outputs.append(result.stdout + result.stderr)
        return result

    assert run("setup", "--yes", *mac.flags).returncode == 0
    assert run("setup", "--yes", "--json", *mac.flags).returncode == 0  # the run report too
    assert run("status").returncode == 0 and run("status", "--json").returncode == 0
    mac.standins.setenv("OPENCLAW_GATEWAY_TOKEN", "stale-secret-token-ZZZ")
    assert run("doctor").returncode == 1 and run("doctor", "--json").returncode == 1
    assert run("doctor", "--fix", "--yes").returncode == 0
    mac.gateway.token = ROTATED
    fixed = run("doctor", "--fix", "--yes", "--json", OPENCLAW_GATEWAY_TOKEN=ROTATED)
    assert fixed.returncode == 0
    report = json.loads(fixed.stdout)  # the repairs it made, the step it re-ran, every layer ok after
    assert report["changed"] is True and report["exit_code"] == 0
    assert {repair["status"] for repair in report["repairs"]} == {"changed"}
    assert "token" in {step["name"] for step in report["steps"] if step["status"] == "changed"}
    assert {check["status"] for check in report["checks"]} == {"ok"}
    assert run("tunnel", "restart").returncode == 0 and run("tunnel", "logs").returncode == 0
    assert run("undo", "--dry-run").returncode == 0 and run("undo", "--dry-run", "--json").returncode == 0
    files_while_set_up = {secret: files_containing(home, secret) for secret in (GATEWAY_TOKEN, ROTATED)}
    assert run("undo", "--yes").returncode == 0

    secrets = (GATEWAY_TOKEN, ROTATED, "stale-secret-token-ZZZ", mac.sshd.password)
    for secret in secrets:
        assert files_containing(home, secret) == [], secret
        assert not any(secret in text for text in outputs), secret
    assert files_while_set_up == {GATEWAY_TOKEN: [], ROTATED: []}
    calls = mac.standins.calls()
    with_secret = [call for call in calls if any(secret in " ".join(call) for secret in secrets)]
    assert with_secret, "the token must reach launchd somehow"
    assert all(call[:3] == ["launchctl", "setenv", "OPENCLAW_GATEWAY_TOKEN"] for call in with_secret), with_secret
    assert ssh_processes_for(home) == []


SPIED = (
    "ssh",
    "ssh-keygen",
    "ssh-copy-id",
    "ssh-add",
    "lsof",
    "ps",
    "pgrep",
    "launchctl",
    "osascript",
    "open",
    "security",
)


def test_no_child_process_gets_a_secret_in_its_environment(cli, home, mac, tmp_path, ssh_agent):
    """Every program the wizard starts, however it starts it (the runner, pexpect, a detached
    ssh, a stand-in), is a spy here that writes down its environment, then runs the real one."""
    import shutil

    spies, seen = tmp_path / "spies", tmp_path / "seen"
    spies.mkdir()
    seen.mkdir()
    path = cli.env["PATH"]
    for tool in SPIED:
        real = shutil.which(tool, path=path)
        if real is None:
            continue
        spy = spies / tool
        spy.write_text(f'#!/bin/sh\nenv > "{seen}/{tool}.$$.env"\nexec "{real}" "$@"\n')
        spy.chmod(0o755)
    cli.env["PATH"] = f"{spies}:{path}"
    done = cli("setup", "--yes", *mac.flags)
    assert done.returncode == 0, done.stdout + done.stderr
    assert cli("status").returncode == 0
    # A re-run with the host key forgotten: the login ssh-key starts in its preflight (trusting the
    # host key again), and the tunnel's Gateway handshake (with the token) in a thread beside it.
    (home / ".ssh" / "known_hosts").unlink()
    again = cli("setup", "--yes", *mac.flags)
    assert again.returncode == 0 and (home / ".ssh" / "known_hosts").exists(), again.stdout + again.stderr
    # A second key with a passphrase: ssh-keygen and ssh-add run under pexpect, the passphrase
    # typed at their prompts; the test's agent then holds the key.
    passphrase = "key-passphrase-secret-PPP"
    second = cli("run", "ssh-key", "--yes", "--identity", "~/.ssh/with_passphrase",
                 env={"OPENCLAW_REMOTE_KEY_PASSPHRASE": passphrase, "SSH_AUTH_SOCK": ssh_agent()})
    assert (home / ".ssh" / "with_passphrase").exists(), second.stdout + second.stderr
    recorded = sorted(seen.iterdir())
    assert {path.name.split(".")[0] for path in recorded} >= {"ssh", "ssh-keygen", "ssh-copy-id", "ssh-add",
                                                              "launchctl", "security"}
    for secret in (GATEWAY_TOKEN, mac.sshd.password, passphrase):
        leaked = [path.name for path in recorded if secret in path.read_text(errors="replace")]
        assert leaked == [], (secret[:4] + "…", leaked)


def test_a_token_fetched_over_ssh_is_in_no_argv_no_environment_no_file_no_output(cli, home, up, tmp_path):
    """`run token --token-from-remote` under strace: every program the wizard starts (ssh -tt for the
    reveal, the probes) is traced with its full argv and environment; the token is in none of them."""
    import shutil
    import subprocess
    import sys

    from tests.test_remote_gateway import stored

    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is needed for this test: apt-get install -y strace")
    # No tunnel: the fetched token is then tried through a short-lived `ssh -W` (a child, traced too).
    assert cli("tunnel", "stop").returncode == 0
    trace = tmp_path / "execve.trace"
    done = subprocess.run([strace, "-f", "-qq", "-v", "-s", "100000", "-e", "trace=execve", "-o", str(trace),
                           sys.executable, "-m", "wizard", "run", "token", "--yes", "--token-from-remote"],
                          env=cli.env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert stored(up, home, cli) == "ok"  # it really was fetched, checked and stored
    traced = trace.read_text(errors="replace")
    assert '"gateway", "auth-token"' not in traced and "auth-token --show" in traced  # the reveal ran, traced
    assert '"-W", "127.0.0.1:' in traced  # and so did the probe
    assert GATEWAY_TOKEN not in traced
    assert GATEWAY_TOKEN not in done.stdout + done.stderr
    assert files_containing(home, GATEWAY_TOKEN) == []


def test_the_runs_context_shows_no_secret_when_printed(home):
    """A Context in a traceback or a plugin's log: its environment holds the token's variable."""
    from wizard.answers import Resolver
    from wizard.context import Context
    from wizard.state import State
    from wizard.ui import UI

    ctx = Context(home=home, platform="linux", interactive=False, dry_run=True, ui=UI(), state=State.load(home),
                  resolver=Resolver(flags={}, env={}, file_answers={}, saved={}, interactive=False), questions={},
                  env={"OPENCLAW_GATEWAY_TOKEN": GATEWAY_TOKEN})
    assert GATEWAY_TOKEN not in repr(ctx) and GATEWAY_TOKEN not in str(ctx)
