"""How many times setup logs in to the remote machine, counted from the real sshd's log.

By hand, the guide logs in twice when the key is already authorized (one login proving key
login, then the tunnel) and three times with a new key (ssh-copy-id's password login, one
verifying login, the tunnel): the wizard must not log in more often than that. Each login
costs round trips over a real network, so this is a behaviour, not a timing."""

from __future__ import annotations

import subprocess

import pytest

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


def test_a_rerun_with_everything_in_place_logs_in_once(cli, home, remote):
    authorized_key(home, remote.sshd)
    assert cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags).returncode == 0
    logins, connections, result = counted(remote.sshd, lambda: cli(*REMOTE_STEPS, "--yes", *remote.flags))
    print(f"\nre-run: {logins} logins, {connections} connections")
    assert result.stdout.count("already done, nothing to change") == 3
    assert logins == 1
