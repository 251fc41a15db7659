"""Secret hygiene across the whole life of a setup: setup, status, doctor (repairing a stale and
then a rotated token), undo. The Gateway tokens and the ssh password must appear in no file under
the home (logs included), no output, and no recorded command line but `launchctl setenv`."""

from __future__ import annotations

import pytest

from tests.harness.fixtures import GATEWAY_TOKEN
from tests.test_mac_side import files_containing, mac  # noqa: F401  (mac is a fixture)
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(240)
ROTATED = "rotated-secret-token-QQQ"


def test_no_secret_leaks_through_setup_status_doctor_and_undo(cli, home, mac):
    outputs = []

    def run(*args, **env):
        result = cli(*args, env=env)
        outputs.append(result.stdout + result.stderr)
        return result

    assert run("setup", "--yes", *mac.flags).returncode == 0
    assert run("status").returncode == 0 and run("status", "--json").returncode == 0
    mac.standins.setenv("OPENCLAW_GATEWAY_TOKEN", "stale-secret-token-ZZZ")
    assert run("doctor").returncode == 1
    assert run("doctor", "--fix", "--yes").returncode == 0
    mac.gateway.token = ROTATED
    assert run("doctor", "--fix", "--yes", OPENCLAW_GATEWAY_TOKEN=ROTATED).returncode == 0
    assert run("tunnel", "restart").returncode == 0 and run("tunnel", "logs").returncode == 0
    assert run("undo", "--dry-run").returncode == 0
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


SPIED = ("ssh", "ssh-keygen", "ssh-copy-id", "lsof", "ps", "pgrep", "launchctl", "osascript", "open")


def test_no_child_process_gets_a_secret_in_its_environment(cli, home, mac, tmp_path):
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
    # A second key with a passphrase: ssh-keygen runs under pexpect, the passphrase typed at its
    # prompt. (The step then stops: a background tunnel cannot use that key without an agent.)
    passphrase = "key-passphrase-secret-PPP"
    cli("run", "ssh-key", "--yes", "--identity", "~/.ssh/with_passphrase",
        env={"OPENCLAW_REMOTE_KEY_PASSPHRASE": passphrase})
    assert (home / ".ssh" / "with_passphrase").exists()
    recorded = sorted(seen.iterdir())
    assert {path.name.split(".")[0] for path in recorded} >= {"ssh", "ssh-keygen", "ssh-copy-id", "launchctl"}
    for secret in (GATEWAY_TOKEN, mac.sshd.password, passphrase):
        leaked = [path.name for path in recorded if secret in path.read_text(errors="replace")]
        assert leaked == [], (secret[:4] + "…", leaked)
