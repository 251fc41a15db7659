"""The shared system helpers in plugins/_*.py that issue 17 merged: one SIGTERM-then-SIGKILL,
_ports through the runner, launchd's failures masked."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from plugins import _launchd, _ports, _tunnel
from wizard.runner import Result
from wizard.testing import FakeRunner
from wizard.ui import MASK, UI

# ssh -N can sleep through SIGTERM; a child that ignores it stands for that.
DEAF = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"


def test_stop_process_kills_a_child_that_ignores_sigterm_and_reaps_it():
    child = subprocess.Popen([sys.executable, "-c", DEAF], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"  # its handler is in place
    started = time.monotonic()
    _tunnel.stop_process(child)
    assert child.poll() is not None  # reaped: no zombie left behind
    assert time.monotonic() - started < _tunnel.KILL_GRACE + _tunnel.STOP_TIMEOUT


def test_kill_stops_a_pid_that_ignores_sigterm():
    child = subprocess.Popen([sys.executable, "-c", DEAF], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"
    started = time.monotonic()
    _tunnel.kill(child.pid)
    assert time.monotonic() - started >= _tunnel.KILL_GRACE  # SIGTERM was ignored: it took the SIGKILL
    with pytest.raises(ProcessLookupError):  # gone, and reaped (kill reaps its own children)
        os.kill(child.pid, 0)


class _Masking:
    """What _launchd.failed needs of a context: its mask (the real UI's)."""

    def __init__(self, secret: str):
        self.mask = UI(secrets={secret}).mask


def test_a_failed_launchctl_command_never_shows_a_secret_in_its_message():
    secret = "s3cr3t-token-value"
    failure = _launchd.failed(_Masking(secret), ["launchctl", "setenv", "OPENCLAW_GATEWAY_TOKEN", secret],
                              Result(5, "", f"could not set {secret}"))
    assert secret not in failure.message and MASK in failure.message


def test_who_listens_asks_lsof_through_the_runner():
    with FakeRunner() as fake:
        fake.answer(["lsof"], stdout="p4242\ncssh\n")  # lsof -F: a p (pid) line, then a c (command) line
        fake.answer(["ps"], stdout="ssh -N remote-gateway\n")
        found = _ports._owner_from_lsof(18789)
    assert (found.pid, found.name) == (4242, "ssh")
    assert fake.calls[0][:2] == ["lsof", "-nP"]


def test_a_listener_that_starts_between_two_looks_is_found_not_called_unknown():
    """A tunnel launchd is starting binds, then listens: a look in between saw no listener but
    could not bind, which once named "an unknown process" and stopped the run (the crash test's
    re-run, while the agent's ssh was starting). owner looks again, briefly."""
    import socket
    import threading

    from tests.harness.ports import free_port

    port = free_port()
    with socket.socket() as starting:
        starting.bind(("127.0.0.1", port))  # bound, not listening: the port cannot be bound, /proc lists no listener
        later = threading.Timer(0.015, starting.listen)
        later.start()
        try:
            found = _ports.owner(port, likely=(os.getpid(),))
        finally:
            later.join()
        assert found is not None and found.pid == os.getpid(), found
    with socket.socket() as stuck:
        stuck.bind(("127.0.0.1", port))  # bound and never listening: unknown, after the last look
        held = _ports.owner(port)
        assert held is not None and held.pid is None, held


class _Home:
    """What _ssh's helpers need of a context: a home that is not ssh's own, and the runner."""

    real_home = False

    def __init__(self, home):
        self.home = home
        self.commands: list[list[str]] = []  # every command run, in order

    def path(self, *parts):
        return self.home.joinpath(*parts)

    def run(self, argv, timeout=30.0):
        from wizard import runner

        self.commands.append(list(argv))
        return runner.run(argv, timeout=timeout)


def test_ssh_g_is_asked_once_per_run_until_the_config_changes(tmp_path):
    """ssh-config's check, the key login's alias check and ssh-config's verification ask ssh -G
    the same: the second and third take the first's answer, unless the config was rewritten."""
    from plugins import _ssh

    (tmp_path / ".ssh").mkdir()
    config = tmp_path / ".ssh" / "config"
    config.write_text("Host gw\n    HostName 192.0.2.1\n")
    ctx = _Home(tmp_path)
    with FakeRunner() as fake:
        fake.answer([_ssh.program()], stdout="hostname 192.0.2.1\nport 22\n")
        assert _ssh.alias_configured(ctx, "gw")
        assert _ssh.effective_config(ctx, "gw")["port"] == ["22"]
        asked = [argv for argv in fake.calls if "-G" in argv]
        assert len(asked) == 1
        replacement = tmp_path / ".ssh" / "config.new"
        replacement.write_text("Host gw\n    HostName 192.0.2.1\n    Port 2222\n")
        replacement.replace(config)  # as the wizard writes it: a new file renamed over the old
        fake.answer([_ssh.program()], stdout="hostname 192.0.2.1\nport 2222\n")
        assert _ssh.effective_config(ctx, "gw")["port"] == ["2222"]
        assert _ssh.effective_config(_Home(tmp_path), "gw")["port"] == ["2222"]  # another run asks for itself
        assert len([argv for argv in fake.calls if "-G" in argv]) == 3


@pytest.mark.parametrize("kind", [
    ("-t", "ed25519"), ("-t", "rsa", "-b", "2048"), ("-t", "ecdsa", "-Z", "aes256-gcm@openssh.com"),
    ("-t", "rsa", "-b", "2048", "-m", "PEM"),
], ids=["ed25519", "rsa", "ecdsa-gcm", "rsa-pem"])
@pytest.mark.parametrize("passphrase", ["", "a-passphrase"], ids=["plain", "encrypted"])
def test_a_keys_passphrase_is_told_as_ssh_keygen_tells_it_and_without_it_for_openssh_keys(tmp_path, kind, passphrase):
    """The passphrase check (before the first login of every run) reads the header of a key in
    OpenSSH's own format instead of running ssh-keygen; its answer is ssh-keygen's own, and any
    other format is still ssh-keygen's to tell."""
    from plugins import _agent

    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", *kind, "-N", passphrase, "-f", str(key)], check=True)
    truth = subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", str(key)], capture_output=True).returncode != 0
    ctx = _Home(tmp_path)
    assert _agent.is_encrypted(ctx, key) is truth is bool(passphrase)
    openssh_format = "-m" not in kind
    assert (ctx.commands == []) is openssh_format, ctx.commands
    assert (_agent.openssh_cipher(key) is not None) is openssh_format


def test_a_key_ssh_would_refuse_or_a_fifo_is_left_to_ssh_keygen(tmp_path):
    """A key others may read is one ssh and ssh-keygen refuse ("UNPROTECTED PRIVATE KEY FILE"):
    their answer, as before; a FIFO in a key's place is not read (that would wait for a writer)."""
    from plugins import _agent

    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    key.chmod(0o644)
    ctx = _Home(tmp_path)
    assert _agent.is_encrypted(ctx, key) is True  # ssh-keygen -y fails on it, as it always did here
    assert [argv[0] for argv in ctx.commands] == ["ssh-keygen"]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert _agent.openssh_cipher(fifo) is None and time.monotonic() - started < 1
    damaged = tmp_path / "damaged"
    damaged.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n" + "A" * 70 + "\n-----END OPENSSH PRIVATE KEY-----\n")
    damaged.chmod(0o600)
    assert _agent.openssh_cipher(damaged) is None  # no "openssh-key-v1" inside


def test_a_key_ssh_cannot_load_cut_short_or_with_crlf_lines_is_left_to_ssh_keygen(tmp_path):
    """ssh reads a key only between its marks as ssh-keygen wrote them: a copy cut short, or with
    Windows line ends, is refused by ssh, so its header must not pass it as a key without passphrase."""
    from plugins import _agent

    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    assert _agent.openssh_cipher(key) == "none"
    text = key.read_bytes()
    for name, broken in {"short": text[:120], "crlf": text.replace(b"\n", b"\r\n")}.items():
        copy = tmp_path / name
        copy.write_bytes(broken)
        copy.chmod(0o600)
        refused = subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", str(copy)], capture_output=True).returncode != 0
        assert refused and _agent.openssh_cipher(copy) is None, name
        ctx = _Home(tmp_path)
        assert _agent.is_encrypted(ctx, copy) is True and ctx.commands[0][0] == "ssh-keygen"  # as before: refused


class _Probing(_Home):
    """A context that also starts commands (the key login), with this process's environment."""

    def __init__(self, home):
        super().__init__(home)
        self.env = dict(os.environ)

    def start(self, argv, timeout=30.0, env=None, until=None):
        from wizard import runner

        return runner.start(argv, timeout=timeout, env=env, until=until)


def test_a_jump_hosts_own_authenticated_line_does_not_end_the_key_login_as_a_success(tmp_path):
    """The login ends early only at ssh's line for the host it logs in to (ssh -G's HostName):
    a ProxyCommand or a jump host's ssh writing its own "Authenticated to" proves nothing."""
    from plugins import _ssh

    (tmp_path / ".ssh").mkdir()
    jump_says = 'echo "Authenticated to jump.invalid ([192.0.2.1]:22) using \\"publickey\\"." >&2; exit 1'
    (tmp_path / ".ssh" / "config").write_text(
        f"Host gw\n    HostName target.invalid\n    ProxyCommand sh -c '{jump_says}'\n")
    ok, _kind, why = _ssh.key_login(_Probing(tmp_path), "gw", timeout=3)
    assert not ok, why
