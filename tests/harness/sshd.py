"""A real OpenSSH server for tests, on 127.0.0.1 and a free port.

As root on Linux it logs in a throwaway user that has a password (so ssh-copy-id's password
prompt is real); otherwise it serves key-only logins for the current user. That is the case on a
Mac: Apple's /usr/sbin/sshd runs unprivileged there as it does here (no privilege separation
user to switch to, ``UsePAM no``, ``StrictModes no``), and macOS has no useradd/chpasswd (its
users come from dscl or sysadminctl), so a Mac runner, which is not root anyway, gets key-only
logins. Never run against Apple's sshd by this project: Apple's build also checks the
``com.apple.access_ssh`` group when Remote Login restricts who may log in, which a key-only
login for the runner's own user is expected to pass, unverified. Nothing here reads or writes
the real ~/.ssh of anyone: the host key, config, pid file, log and (non-root) authorized_keys
all live in a temp dir.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.ports import free_port, port_is_free, wait_port, wait_port_free

__all__ = ["SSHD", "SshClientFiles", "SshTunnel", "SshdError", "TestSshd", "client_env"]

SSHD = "/usr/sbin/sshd"
_START_TIMEOUT = 5.0
_POLL_INTERVAL = 0.02
_USER_COMMENT = "openclaw-remote test harness"  # marks users this harness created


class SshdError(RuntimeError):
    """sshd did not start or stop as expected (the message carries its log)."""


def client_env(**extra: str) -> dict[str, str]:
    """Environment for ssh/ssh-copy-id in tests: no agent, so only the key we pass is used."""
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    env.update(extra)
    return env


def _run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True)


def _new_host_key(path: Path) -> None:
    for old in (path, path.with_suffix(".pub")):
        old.unlink(missing_ok=True)
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ocr-test-host", "-f", str(path))


def _child_pids(pid: int) -> list[int]:
    try:
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    except FileNotFoundError:
        return []
    return [int(line) for line in found.stdout.split()]


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`: sshd's per-connection monitors and their unprivileged children."""
    result = []
    for child in _child_pids(pid):
        result.append(child)
        result.extend(_descendants(child))
    return result


def _descendants_of_all(pids: list[int]) -> list[int]:
    return [below for pid in pids for below in _descendants(pid)]


def _proc_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) from /proc, or None when the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1])


def _is_gone(pid: int) -> bool:
    """Exited and reaped, or a zombie nobody will reap (orphaned to a PID 1 that never waits)."""
    if not Path("/proc/self/stat").exists():  # not Linux: no zombie detail, ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False
    state = _proc_state(pid)
    return state is None or (state[0] == "Z" and state[1] == 1)


def _terminate(signal_these: list[int], wait_for: list[int], timeout: float = 2.0) -> None:
    """SIGTERM `signal_these`, wait until every pid of `wait_for` is gone, SIGKILL stragglers."""
    for pid in signal_these:
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + timeout
    while not all(_is_gone(pid) for pid in wait_for) and time.monotonic() < deadline:
        time.sleep(0.005)
    for pid in wait_for:
        if not _is_gone(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _can_create_users() -> bool:
    """Root, with Linux's useradd and chpasswd (not on macOS)."""
    return os.geteuid() == 0 and all(shutil.which(tool) for tool in ("useradd", "chpasswd", "userdel"))


class TestSshd:
    """One sshd instance. Create, `start()`, use, `close()` (or use it as a context manager)."""

    __test__ = False  # the name starts with "Test": keep pytest from collecting it

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ocr-sshd-"))
        self.port = free_port()
        self._host_key = self.dir / "host_ed25519_key"
        self._config = self.dir / "sshd_config"
        self._log = self.dir / "sshd.log"
        self._proc: subprocess.Popen | None = None
        self._ever_started = False
        self._closed = False
        self._created_user: str | None = None
        # What the login user's non-interactive ssh sessions get as PATH (sshd's SetEnv), first:
        # where a test installs a remote command (the `openclaw` stand-in). World-readable, as
        # /usr/local/bin is, because the login user is not the one running the tests.
        self.remote_bin = Path(tempfile.mkdtemp(prefix="ocr-remote-bin-"))
        os.chmod(self.remote_bin, 0o755)
        atexit.register(self.close)  # a crashed test run must not leave a user behind
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    # ---- setup ---------------------------------------------------------------------------

    def _setup(self) -> None:
        _new_host_key(self._host_key)
        if _can_create_users():
            self._setup_throwaway_user()
        else:
            self._setup_current_user()
        self._write_config()

    def _setup_throwaway_user(self) -> None:
        self.user = "ocrtest" + secrets.token_hex(3)
        self.password = secrets.token_urlsafe(12)
        self.supports_password = True
        _run("useradd", "-m", "-s", "/bin/sh", "-c", _USER_COMMENT, self.user)
        self._created_user = self.user
        _run("chpasswd", stdin=f"{self.user}:{self.password}\n")
        entry = pwd.getpwnam(self.user)
        self._uid, self._gid = entry.pw_uid, entry.pw_gid
        self.home = Path(entry.pw_dir)
        self.authorized_keys_path = self.home / ".ssh" / "authorized_keys"
        self._ensure_user_ssh_dir()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir

    def _setup_current_user(self) -> None:
        entry = pwd.getpwuid(os.geteuid())
        self.user = entry.pw_name
        self.password = None
        self.supports_password = False
        self._uid, self._gid = entry.pw_uid, entry.pw_gid
        self.home = Path(entry.pw_dir)
        self.authorized_keys_path = self.dir / "authorized_keys"

    def _ensure_user_ssh_dir(self) -> None:
        ssh_dir = self.authorized_keys_path.parent
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(ssh_dir, 0o700)
        os.chown(ssh_dir, self._uid, self._gid)

    def _config_lines(self) -> list[str]:
        is_root = self._created_user is not None  # root, with a throwaway user that has a password
        lines = [
            "ListenAddress 127.0.0.1",
            f"Port {self.port}",
            f"HostKey {self._host_key}",
            f"PidFile {self.dir / 'sshd.pid'}",
            "LogLevel VERBOSE",
            "UsePAM no",  # keeps password auth working, and a wrong password fails fast
            # root only where it cannot have a throwaway user (root on a Mac): its own key login
            f"PermitRootLogin {'prohibit-password' if self.user == 'root' else 'no'}",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            f"PasswordAuthentication {'yes' if is_root else 'no'}",
            f"AllowUsers {self.user}",
            "AllowTcpForwarding yes",
            "MaxStartups 100",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "X11Forwarding no",
            "Subsystem sftp internal-sftp",
            # sshd's own default PATH for sessions (Debian's), with remote_bin first
            f"SetEnv PATH={self.remote_bin}:/usr/local/bin:/usr/bin:/bin",
        ]
        if is_root:
            lines.append("AuthorizedKeysFile .ssh/authorized_keys")
        else:
            lines += ["StrictModes no", f"AuthorizedKeysFile {self.authorized_keys_path}"]
        return lines

    def _write_config(self) -> None:
        # OpenSSH >= 9.8 penalises sources that fail auth (tests do that on purpose, all from
        # 127.0.0.1); older servers reject the option, so only keep it where it is understood.
        with_penalties = self._config_lines() + ["PerSourcePenalties no"]
        self._config.write_text("\n".join(with_penalties) + "\n")
        check = subprocess.run(
            [SSHD, "-t", "-f", str(self._config)], capture_output=True, text=True
        )
        if check.returncode == 0:
            return
        self._config.write_text("\n".join(self._config_lines()) + "\n")
        check = subprocess.run(
            [SSHD, "-t", "-f", str(self._config)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise SshdError(f"sshd rejected its test config:\n{check.stderr}")

    # ---- keys the server trusts ------------------------------------------------------------

    @property
    def host_key_pub(self) -> str:
        """The host public key as `ssh-ed25519 AAAA...` (type and base64, no comment)."""
        key_type, blob = self._host_key.with_suffix(".pub").read_text().split()[:2]
        return f"{key_type} {blob}"

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_key_pub}"

    def authorize(self, pubkey_text: str) -> None:
        """Append public key line(s) to the login user's authorized_keys."""
        text = pubkey_text.strip() + "\n"
        if self._created_user is not None:
            self._ensure_user_ssh_dir()
        with open(self.authorized_keys_path, "a") as keys:
            keys.write(text)
        os.chmod(self.authorized_keys_path, 0o600)
        if self._created_user is not None:
            os.chown(self.authorized_keys_path, self._uid, self._gid)

    def revoke_all_keys(self) -> None:
        """Forget every authorized key (the file is removed, as on a fresh account)."""
        self.authorized_keys_path.unlink(missing_ok=True)
        if self._created_user is not None:
            self._ensure_user_ssh_dir()

    def authorized_keys(self) -> str:
        try:
            return self.authorized_keys_path.read_text()
        except FileNotFoundError:
            return ""

    def change_host_key(self) -> None:
        """Replace the host key and restart: pinned clients then see a changed identification."""
        _new_host_key(self._host_key)
        self.restart()

    def ssh_args(self, known_hosts: str | os.PathLike, identity: str | os.PathLike | None = None
                 ) -> list[str]:
        """Isolated `ssh` options for this server (no user config, no agent keys, no prompts
        about unknown hosts). Append the destination `self.destination` and any command."""
        args = [
            "-F", "/dev/null",
            "-p", str(self.port),
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=5",
        ]
        if identity is not None:
            args += ["-i", str(identity)]
        return args

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}"

    # ---- process -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start sshd and return once it listens; raise SshdError (with its log) otherwise."""
        if self.running:
            return
        for _attempt in range(3):
            log_offset = len(self._log_bytes())
            self._spawn()
            if self._wait_listening(log_offset):
                self._ever_started = True
                return
            lost_race = b"Address already in use" in self._log_bytes()[log_offset:]
            self._reap()
            if not (lost_race and not self._ever_started):
                break
            # Another process grabbed our free port before sshd bound it: take another one,
            # which is only allowed before anyone could have used the first.
            self.port = free_port()
            self._write_config()
        raise SshdError(f"sshd did not start on port {self.port}:\n{self.log_text()}")

    def _spawn(self) -> None:
        with open(self._log, "ab") as log:
            self._proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self._config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl-C in the terminal is for pytest, not for sshd
            )

    def _wait_listening(self, log_offset: int) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if b"Server listening on" in self._log_bytes()[log_offset:]:
                return True
            if self._proc.poll() is not None:
                return False
            time.sleep(_POLL_INTERVAL)
        return False

    def _reap(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def stop(self) -> None:
        """Stop sshd and every session it serves (like a host going down); return once the
        port is free."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            # Sessions first, then the master. Signalling only each connection's monitor
            # drops the TCP connection at once, as a host going down does (signalling the
            # session's command first would end it cleanly with an exit status instead).
            # Commands run without a tty get no SIGHUP and would outlive their session: end
            # them afterwards.
            sessions = _child_pids(self._proc.pid)
            everything = sessions + _descendants_of_all(sessions)
            _terminate(sessions, wait_for=sessions)
            _terminate([pid for pid in everything if not _is_gone(pid)], wait_for=everything)
        self._reap()
        if not wait_port_free(self.port, timeout=5.0):
            raise SshdError(f"port {self.port} still accepts connections after sshd stopped")

    def restart(self) -> None:
        self.stop()
        self.start()

    def _log_bytes(self) -> bytes:
        try:
            return self._log.read_bytes()
        except FileNotFoundError:
            return b""

    def log_text(self) -> str:
        """Everything sshd logged so far, across restarts (sshd -e ends lines with CRLF)."""
        return self._log_bytes().decode(errors="replace").replace("\r\n", "\n")

    # ---- counting what clients did -------------------------------------------------------------

    def log_mark(self) -> int:
        """Where the log ends now: pass it to ``logins_since`` / ``connections_since``."""
        return len(self._log_bytes())

    def logins_since(self, mark: int) -> int:
        """Successful logins (any method) since ``mark``: sshd logs one "Accepted <method> for
        <user>" line per authenticated connection (auth.c, auth_log)."""
        return len(re.findall(rb"Accepted (?:publickey|password|keyboard-interactive\S*) for ",
                              self._log_bytes()[mark:]))

    def connections_since(self, mark: int) -> int:
        """TCP connections sshd accepted since ``mark``, logged in or not (a failing probe, a
        version check): at LogLevel VERBOSE sshd logs "Connection from ADDR port N" for each."""
        return len(re.findall(rb"Connection from \S+ port \d+ on ", self._log_bytes()[mark:]))

    # ---- teardown ------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            self._delete_user()
            shutil.rmtree(self.dir, ignore_errors=True)
            shutil.rmtree(self.remote_bin, ignore_errors=True)
            atexit.unregister(self.close)

    def _delete_user(self) -> None:
        if self._created_user is None:
            return
        leftovers = subprocess.run(
            ["pgrep", "-u", self._created_user], capture_output=True, text=True
        ).stdout.split()
        pids = [int(pid) for pid in leftovers]
        _terminate(pids, wait_for=pids)
        subprocess.run(["userdel", "-r", self._created_user], capture_output=True)
        self._created_user = None

    def __enter__(self) -> TestSshd:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TestSshd {self.destination} port={self.port} running={self.running}>"


# ---- the client side ---------------------------------------------------------------------

@dataclass(frozen=True)
class SshClientFiles:
    """A client key pair and a known_hosts file in a test directory."""

    key: Path
    known_hosts: Path

    @classmethod
    def create(cls, directory: str | os.PathLike, server: TestSshd | None = None,
               ) -> SshClientFiles:
        """A new ed25519 key (no passphrase); known_hosts pins `server`'s key when given."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key = directory / "id_ed25519"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ocr-test-client",
             "-f", str(key))
        known_hosts = directory / "known_hosts"
        known_hosts.write_text(server.known_hosts_line() + "\n" if server else "")
        return cls(key, known_hosts)

    @property
    def public_key(self) -> str:
        return self.key.with_name(self.key.name + ".pub").read_text().strip()

    def ssh_command(self, server: TestSshd, *extra: str) -> list[str]:
        """`ssh` to `server` with this key only, never prompting: add options/commands."""
        return ["ssh", *server.ssh_args(self.known_hosts, self.key), "-o", "BatchMode=yes",
                *extra]


class SshTunnel:
    """`ssh -N -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE` through a TestSshd, like the real agent."""

    def __init__(self, server: TestSshd, client: SshClientFiles, remote_port: int,
                 local_port: int | None = None) -> None:
        self.server = server
        self.client = client
        self.remote_port = remote_port
        self.local_port = local_port or free_port()
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return self.client.ssh_command(
            self.server,
            "-N",
            "-o", "ExitOnForwardFailure=yes",
            "-L", f"127.0.0.1:{self.local_port}:127.0.0.1:{self.remote_port}",
            self.server.destination,
        )

    def start(self, timeout: float = 5.0) -> SshTunnel:
        """Return once the local port accepts; raise SshdError (with ssh's stderr) if ssh exits."""
        # If another process already listens there, an accepting port proves nothing: only
        # ssh's exit (ExitOnForwardFailure) can tell, so wait for that instead.
        taken_before = not port_is_free(self.local_port)
        self.proc = subprocess.Popen(
            self.command(), env=client_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SshdError(f"ssh -N exited {self.proc.returncode}: {self.proc.stderr.read()}")
            if not taken_before and wait_port(self.local_port, timeout=0.05):
                return self
            time.sleep(_POLL_INTERVAL if taken_before else 0)
        self.close()
        raise SshdError(f"tunnel port {self.local_port} did not open in {timeout} s"
                        + (" (another process listens there)" if taken_before else ""))

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                # ssh 9.2 sometimes sleeps through a SIGTERM that lands while it is busy
                # (it stays in poll() for minutes): don't wait long for it.
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()
        self.proc = None

    def __enter__(self) -> SshTunnel:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()
