"""How many times setup logs in to the remote machine, counted from the real sshd's log.

By hand, the guide logs in twice when the key is already authorized (one login proving key
login, then the tunnel) and three times with a new key (ssh-copy-id's password login, one
verifying login, the tunnel): the wizard must not log in more often than that. Each login
costs round trips over a real network, so this is a behaviour, not a timing."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.conftest import snapshot
from tests.test_remote import REMOTE_STEPS, needs_password, remote  # noqa: F401  (the fixture)

pytestmark = pytest.mark.timeout(90)


def authorized_key(home, sshd):
    key = home / ".ssh" / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    sshd.authorize(key.with_suffix(".pub").read_text())
    return key


def counted(sshd, run):
    mark = sshd.log_mark()
    result = run()
    assert result.returncode == 0, result.stdout + result.stderr
    return sshd.logins_since(mark), sshd.connections_since(mark), result


def test_authorized_key_and_unknown_host_key_log_in_twice(cli, home, remote):
    authorized_key(home, remote.sshd)
    before = remote.sshd.authorized_keys()
    logins, connections, result = counted(remote.sshd, lambda: cli(*REMOTE_STEPS, "--yes", "--accept-host-key",
                                                                    *remote.flags))
    print(f"\nkey authorized, host key unknown: {logins} logins, {connections} connections")
    assert logins <= 2
    assert remote.sshd.authorized_keys() == before  # nothing copied
    assert remote.sshd.host_key_pub.split()[1] in (home / ".ssh" / "known_hosts").read_text()


def test_authorized_key_and_known_host_key_log_in_twice(cli, home, remote):
    authorized_key(home, remote.sshd)
    (home / ".ssh" / "known_hosts").write_text(remote.sshd.known_hosts_line() + "\n")
    logins, connections, _result = counted(remote.sshd, lambda: cli(*REMOTE_STEPS, "--yes", *remote.flags))
    print(f"\nkey authorized, host key known: {logins} logins, {connections} connections")
    assert logins <= 2


def test_new_key_logs_in_no_more_often_than_the_guide(cli, home, remote):
    needs_password(remote.sshd)
    logins, connections, _result = counted(remote.sshd, lambda: cli(*REMOTE_STEPS, "--yes", "--accept-host-key",
                                                                     *remote.flags))
    print(f"\nnew key: {logins} logins, {connections} connections")
    assert "openclaw-remote@remote-gateway" in remote.sshd.authorized_keys()
    assert logins <= 3
    # By hand: ssh-copy-id's three (its version check, a login trying the key, the password
    # login), the verifying login, the tunnel. Ours skips the try of a key made this very run
    # (ssh-copy-id -f) and adds a TCP check of the port before the first write: no more.
    assert connections <= 5


def test_a_rerun_with_everything_in_place_logs_in_once_and_writes_nothing(cli, home, remote):
    authorized_key(home, remote.sshd)
    assert cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags).returncode == 0
    state = home / ".config" / "openclaw-remote" / "state.json"
    before, written = snapshot(home), os.stat(state)
    time.sleep(1.05)  # a record written again would carry another second
    logins, connections, result = counted(remote.sshd, lambda: cli(*REMOTE_STEPS, "--yes", *remote.flags))
    print(f"\nre-run: {logins} logins, {connections} connections")
    assert result.stdout.count("already done, nothing to change") == 3
    assert logins == 1
    # Nothing changed, so nothing was written: not even the state file (one fsync'd write less).
    now = os.stat(state)
    assert snapshot(home) == before and (now.st_ino, now.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_the_key_login_check_ends_once_the_key_is_accepted_without_waiting_for_a_remote_shell(cli, home, remote):
    """The check proves what the tunnel needs, the key accepted, and stops there: a forced command
    that would keep a session open for 30 s (past the check's own bound) does not hold it up."""
    key = home / ".ssh" / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    remote.sshd.authorize('command="sleep 30" ' + key.with_suffix(".pub").read_text())
    began = time.monotonic()
    logins, _connections, result = counted(remote.sshd, lambda: cli("run", "ssh-config", "ssh-key", "--yes",
                                                                     "--accept-host-key", *remote.flags))
    assert time.monotonic() - began < 10, result.stdout + result.stderr
    assert logins == 1 and "ssh-key: done" in result.stdout + result.stderr
    assert "openclaw-remote@" not in remote.sshd.authorized_keys()  # proved by that login: nothing copied


def test_the_trusting_login_changes_nothing_in_a_dry_run_and_undo_takes_its_host_key_out(cli, home, remote):
    from tests.conftest import snapshot

    authorized_key(home, remote.sshd)
    known = home / ".ssh" / "known_hosts"
    known.write_text("other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO5cR4bm2VNoK0ZyS4z4K4mH6bq0QeQkqJkJ1XxXxXxX\n")
    assert cli("run", "ssh-config", "--yes", *remote.flags).returncode == 0  # a dry run probes a configured alias
    before = snapshot(home)
    dry = cli("run", "ssh-key", "--yes", "--accept-host-key", "--dry-run", *remote.flags)
    assert dry.returncode == 0, dry.stderr
    assert snapshot(home) == before
    assert "+[127.0.0.1]:%d ssh-ed25519" % remote.sshd.port in dry.stdout  # the line it would add, shown

    logins, _connections, _result = counted(remote.sshd, lambda: cli("run", "ssh-config", "ssh-key", "--yes",
                                                                      "--accept-host-key", *remote.flags))
    assert logins == 1
    text = known.read_text()
    assert text.startswith("other.example ") and remote.sshd.host_key_pub.split()[1] in text
    undone = cli("undo", "ssh-key", "--yes")
    assert undone.returncode == 0, undone.stderr
    assert known.read_text() == ("other.example ssh-ed25519 "
                                 "AAAAC3NzaC1lZDI1NTE5AAAAIO5cR4bm2VNoK0ZyS4z4K4mH6bq0QeQkqJkJ1XxXxXxX\n")


def test_a_changed_host_key_stops_the_trusting_login_and_known_hosts_stays(cli, home, remote):
    authorized_key(home, remote.sshd)
    known = home / ".ssh" / "known_hosts"
    known.write_text(f"[{remote.sshd.host}]:{remote.sshd.port} ssh-ed25519 "
                     "AAAAC3NzaC1lZDI1NTE5AAAAIO5cR4bm2VNoK0ZyS4z4K4mH6bq0QeQkqJkJ1XxXxXxX\n")
    before = known.read_bytes()
    mark = remote.sshd.log_mark()
    result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags)
    assert result.returncode == 1 and "CHANGED" in result.stderr
    assert known.read_bytes() == before and remote.sshd.logins_since(mark) == 0


def test_confirming_the_host_key_in_a_terminal_logs_in_twice_with_an_authorized_key(home, remote):
    import sys

    import pexpect

    from tests.conftest import clean_env

    authorized_key(home, remote.sshd)
    mark = remote.sshd.log_mark()
    child = pexpect.spawn(sys.executable, ["-m", "wizard", *REMOTE_STEPS, *remote.flags], env=clean_env(home),
                          encoding="utf-8", timeout=20, dimensions=(40, 200))
    for prompt in ("Host alias", "ssh key to use"):
        child.expect(prompt)
        child.send("\r")
    child.expect("fingerprint")  # shown before anything is trusted or any login
    assert remote.sshd.logins_since(mark) == 0
    child.expect("Trust this host key")
    child.send("y")
    child.expect("tunnel ready")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert remote.sshd.logins_since(mark) <= 2


def test_a_run_its_checks_stop_leaves_no_probe_behind(cli, home, remote, tmp_path):
    import socket


    authorized_key(home, remote.sshd)
    assert cli("run", "ssh-config", "--yes", *remote.flags).returncode == 0  # the alias is known: a probe starts early
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", remote.local_port))
    squatter.listen()
    try:
        result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags, env={"TMPDIR": str(scratch)})
    finally:
        squatter.close()
    assert result.returncode == 1 and "already taken" in result.stderr
    assert list(scratch.iterdir()) == []  # the trusting probe's scratch known_hosts went with it
    assert not (home / ".ssh" / "known_hosts").exists()
    probes = [pid for pid in os.listdir("/proc") if pid.isdigit() and _is_probe_of(pid, home)]
    assert probes == []


def _is_probe_of(pid: str, home) -> bool:
    try:
        args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return False
    return bool(args) and args[0].endswith(b"ssh") and str(home).encode() in b" ".join(args) and b"true" in args
