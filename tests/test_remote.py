"""ssh-key and tunnel against a real sshd on loopback, with a gateway stand-in behind the tunnel."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

import pexpect
import pytest

from plugins import _gateway
from tests.conftest import snapshot, clean_env
from tests.harness import ports
from tests.harness.fixtures import GATEWAY_TOKEN

pytestmark = pytest.mark.timeout(90)
REMOTE_STEPS = ("run", "ssh-config", "ssh-key", "tunnel")  # this file's steps; test_mac_side runs all six


def needs_password(sshd):
    if not sshd.supports_password:
        pytest.skip("password login needs root to create a throwaway user (CI runs as root)")


@pytest.fixture
def remote(sshd, gateway, home, cli, remote_openclaw):
    """Answers pointing at the test sshd (OpenClaw's CLI installed there, reporting the gateway stand-in);
    every tunnel the wizard starts is stopped afterwards."""
    sshd.revoke_all_keys()
    if not sshd.running:
        sshd.start()
    local_port = ports.free_port()
    flags = ["--host", sshd.host, "--port", str(sshd.port), "--user", sshd.user,
             "--local-port", str(local_port), "--remote-port", str(gateway.port)]
    cli.env["OPENCLAW_REMOTE_SSH_PASSWORD"] = sshd.password or ""
    yield type("Remote", (), {"flags": flags, "local_port": local_port, "sshd": sshd, "gateway": gateway})
    kill_recorded_tunnel(home)


def state_of(home):
    path = home / ".config/openclaw-remote/state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def kill_recorded_tunnel(home):
    pid = state_of(home).get("steps", {}).get("tunnel", {}).get("pid")
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def ssh_processes_for(home):
    """Pids of ssh processes whose command line names this home's config."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                args = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if args and args[0].endswith(b"ssh") and str(home).encode() in b" ".join(args) and b"-N" in args:
                found.append(int(entry))
    return found


def test_noninteractive_setup_ends_with_hello_ok_through_the_tunnel(cli, home, remote):
    needs_password(remote.sshd)
    result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "openclaw-remote@remote-gateway" in remote.sshd.authorized_keys()
    hello = _gateway.probe(remote.local_port, GATEWAY_TOKEN)
    assert hello.kind == _gateway.HELLO_OK and hello.protocol == 4
    assert len(ssh_processes_for(home)) == 1
    assert remote.sshd.password not in result.stdout + result.stderr
    # The long-lived ssh did not inherit the password we were given in the environment:
    environ = open(f"/proc/{ssh_processes_for(home)[0]}/environ", "rb").read()
    assert remote.sshd.password.encode() not in environ and b"OPENCLAW_REMOTE_SSH_PASSWORD" not in environ

    again = cli(*REMOTE_STEPS, "--yes", *remote.flags)  # everything in place: no copy, no write
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already done, nothing to change") == 3
    assert len(ssh_processes_for(home)) == 1


def test_guided_setup_typed_in_a_real_terminal_against_the_sshd(home, remote):
    needs_password(remote.sshd)
    env = clean_env(home)
    child = pexpect.spawn(sys.executable, ["-m", "wizard", *REMOTE_STEPS, "--port", str(remote.sshd.port),
                                           "--local-port", str(remote.local_port),
                                           "--remote-port", str(remote.gateway.port)],
                          env=env, encoding="utf-8", timeout=20, dimensions=(40, 200))
    for prompt, text in [("Host alias", None), ("Remote machine", remote.sshd.host),
                         ("user name", remote.sshd.user), ("ssh key to use", None)]:
        child.expect(prompt)
        if text is not None:
            child.send("\x15" + text)
        child.send("\r")
    child.expect(
        "no ssh agent is running, so the new key gets no passphrase"
    )  # no agent in this terminal: no passphrase offered
    child.expect("fingerprint")  # the host key is shown before anything is trusted
    child.expect("Trust this host key")
    child.send("y")
    child.expect("Password for your account")
    child.send(remote.sshd.password + "\r")
    child.expect("tunnel ready")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert _gateway.probe(remote.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK
    assert remote.sshd.password not in child.before


def test_wrong_password_three_times_copies_nothing(home, remote):
    needs_password(remote.sshd)
    child = pexpect.spawn(sys.executable, ["-m", "wizard", *REMOTE_STEPS, "--accept-host-key", *remote.flags],
                          env=clean_env(home), encoding="utf-8", timeout=20, dimensions=(40, 200))
    for prompt in ("Host alias", "ssh key to use"):
        child.expect(prompt)
        child.send("\r")
    child.expect("no ssh agent is running, so the new key gets no passphrase")  # none offered
    for attempt in range(3):
        child.expect("Password for your account")
        child.send(f"wrong-{attempt}\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert "refused the password" in child.before
    assert remote.sshd.authorized_keys().strip() == ""
    assert ssh_processes_for(home) == []


def test_wrong_password_noninteractive_fails_at_once(cli, home, remote):
    needs_password(remote.sshd)
    cli.env["OPENCLAW_REMOTE_SSH_PASSWORD"] = "not-the-password"
    result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags)
    assert result.returncode == 1
    assert "refused the password" in result.stderr and "ssh-key" in result.stderr
    assert "not-the-password" not in result.stdout + result.stderr


def test_no_password_and_no_key_login_names_the_options(cli, home, remote):
    del cli.env["OPENCLAW_REMOTE_SSH_PASSWORD"]
    before = snapshot(home)
    result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags)
    # A new key needs the password: known before the first write, so nothing changes (exit 2).
    assert result.returncode == 2
    assert "--password-stdin" in result.stderr and "OPENCLAW_REMOTE_SSH_PASSWORD" in result.stderr
    assert "Nothing was changed" in result.stderr and snapshot(home) == before


def test_password_from_stdin(cli, home, remote):
    needs_password(remote.sshd)
    del cli.env["OPENCLAW_REMOTE_SSH_PASSWORD"]
    result = cli("run", "ssh-config", "ssh-key", "--yes", "--accept-host-key", "--password-stdin", *remote.flags,
                 input=remote.sshd.password + "\n")
    assert result.returncode == 0, result.stderr
    assert "openclaw-remote@remote-gateway" in remote.sshd.authorized_keys()


def test_unknown_host_key_is_refused_without_accept_host_key(cli, home, remote):
    result = cli(*REMOTE_STEPS, "--yes", *remote.flags)
    assert result.returncode == 1
    assert "--accept-host-key" in result.stderr
    assert not (home / ".ssh" / "known_hosts").exists() or remote.sshd.host_key_pub.split()[1] not in (
        home / ".ssh" / "known_hosts").read_text()


def test_changed_host_key_stops_and_never_edits_known_hosts(cli, home, remote):
    needs_password(remote.sshd)
    known = home / ".ssh" / "known_hosts"
    known.write_text(f"[{remote.sshd.host}]:{remote.sshd.port} ssh-ed25519 "
                     "AAAAC3NzaC1lZDI1NTE5AAAAIO5cR4bm2VNoK0ZyS4z4K4mH6bq0QeQkqJkJ1XxXxXxX\n")
    before = known.read_bytes()
    result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags)
    assert result.returncode == 1
    assert "CHANGED" in result.stderr and "ssh-keygen -R" in result.stderr
    assert known.read_bytes() == before
    assert remote.sshd.authorized_keys().strip() == ""


def test_sshd_not_running_says_connection_refused(cli, home, remote):
    remote.sshd.stop()
    before = snapshot(home)
    try:
        result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags)
    finally:
        remote.sshd.start()
    assert result.returncode == 1
    assert "refused the connection" in result.stderr and "Nothing was changed" in result.stderr
    assert snapshot(home) == before  # found out before the first write


def test_unresolvable_host_gets_its_own_message(cli, home, remote):
    flags = list(remote.flags)
    flags[flags.index("--host") + 1] = "no-such-host.invalid"
    before = snapshot(home)
    result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *flags)
    assert result.returncode == 1
    assert "DNS" in result.stderr and snapshot(home) == before


def test_local_port_held_by_a_stranger_is_named(cli, home, remote):
    needs_password(remote.sshd)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", remote.local_port))
    squatter.listen()
    before = snapshot(home)
    try:
        result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags)
    finally:
        squatter.close()
    assert result.returncode == 1
    assert f"port {remote.local_port} is already taken by python" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr
    assert ssh_processes_for(home) == [] and snapshot(home) == before  # seen before the first write


def test_ssh_that_exits_at_once_is_reported_with_its_own_words(cli, home, remote):
    needs_password(remote.sshd)
    assert cli("run", "ssh-config", "ssh-key", "--yes", "--accept-host-key", *remote.flags).returncode == 0
    remote.sshd.revoke_all_keys()  # key login now fails: BatchMode ssh -N exits 255
    result = cli("run", "tunnel", "--yes", *remote.flags)
    assert result.returncode == 1
    assert "ssh exited at once" in result.stderr and "Permission denied" in result.stderr
    assert ssh_processes_for(home) == []


def test_gateway_not_listening_on_the_remote_side(cli, home, remote):
    needs_password(remote.sshd)
    flags = list(remote.flags)
    flags[flags.index("--remote-port") + 1] = str(ports.free_port())
    result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *flags)
    assert result.returncode == 1
    assert "nothing answers behind it" in result.stderr
    assert ssh_processes_for(home) == [] and ports.port_is_free(remote.local_port)


def test_tunnel_already_running_is_done_and_not_started_twice(cli, home, remote):
    needs_password(remote.sshd)
    assert cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags).returncode == 0
    pid = state_of(home)["steps"]["tunnel"]["pid"]
    result = cli("run", "tunnel", "--yes")
    assert result.returncode == 0, result.stderr
    assert "already runs" in result.stdout and f"pid {pid}" in result.stdout
    assert ssh_processes_for(home) == [pid]


def test_key_already_on_the_remote_counts_as_done_when_ssh_copy_id_skips_it(cli, home, remote):
    key = home / ".ssh" / "id_ed25519"
    subprocess_run = __import__("subprocess").run
    subprocess_run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    remote.sshd.authorize(key.with_suffix(".pub").read_text())
    before = remote.sshd.authorized_keys()
    # No known_hosts yet: with --accept-host-key, the one probing login trusts the new host key
    # and proves key login, so ssh-copy-id never runs and the host key reaches known_hosts.
    result = cli("run", "ssh-config", "ssh-key", "--yes", "--accept-host-key", *remote.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert remote.sshd.authorized_keys() == before
    assert remote.sshd.host_key_pub.split()[1] in (home / ".ssh" / "known_hosts").read_text()
