"""A real Secret Service (gnome-keyring) on a private D-Bus session bus, for integration tests.

    with SecretService() as env:                  # env: a dict for subprocess environments
        subprocess.run([...], env={**os.environ, **env})
        env.get_password("service", "user")       # read back from a subprocess, for real

The bus uses its own config (no service activation: nothing else can be started behind our
back) and listens on a socket in a short temp dir; gnome-keyring-daemon runs in the foreground
(our child) with HOME and XDG_* in that dir, its login keyring created and unlocked with a
password given on stdin. Both daemons are killed and the dir removed on ``stop()``.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["SecretService", "SecretServiceEnv", "SecretServiceError", "missing_tools"]

DBUS_DAEMON = "dbus-daemon"
GNOME_KEYRING = "gnome-keyring-daemon"
BACKEND = "keyring.backends.SecretService.Keyring"
MARK = "STANDIN_SECRET_SERVICE"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

_CLIENT = r"""
import json, sys, keyring
op, service, user, password = json.loads(sys.argv[1])
kr = keyring.get_keyring()
if type(kr).__module__ + "." + type(kr).__name__ != sys.argv[2]:
    sys.exit(f"wrong keyring backend: {kr!r}")
if op == "get":
    print(json.dumps(kr.get_password(service, user)))
elif op == "set":
    kr.set_password(service, user, password)
elif op == "delete":
    kr.delete_password(service, user)
"""


class SecretServiceError(RuntimeError):
    pass


def missing_tools() -> list[str]:
    return [tool for tool in (DBUS_DAEMON, GNOME_KEYRING) if shutil.which(tool) is None]


class SecretServiceEnv(dict):
    """The environment for a subprocess that should use the private Secret Service
    (DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR, XDG_DATA_HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME,
    PYTHON_KEYRING_BACKEND), with helpers that use the ``keyring`` library in a subprocess."""

    root: Path
    password: str

    def _client(self, op: str, service: str, user: str, password: str | None = None) -> str:
        done = subprocess.run([sys.executable, "-c", _CLIENT, json.dumps([op, service, user, password]), BACKEND],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                              env={**os.environ, **self})
        if done.returncode != 0:
            raise SecretServiceError(f"keyring {op} failed: {done.stderr.strip()}")
        return done.stdout

    def get_password(self, service: str, user: str) -> str | None:
        return json.loads(self._client("get", service, user))

    def set_password(self, service: str, user: str, password: str) -> None:
        self._client("set", service, user, password)

    def delete_password(self, service: str, user: str) -> None:
        self._client("delete", service, user)


class SecretService:
    def __init__(self, password: str = "standin-login-password", start_timeout: float = 10.0):
        self.password = password
        self.start_timeout = start_timeout
        self.root: Path | None = None
        self.bus: subprocess.Popen | None = None
        self.keyring: subprocess.Popen | None = None
        self.env: SecretServiceEnv | None = None

    def start(self) -> SecretServiceEnv:
        missing = missing_tools()
        if missing:
            raise SecretServiceError(f"not installed: {', '.join(missing)} (apt-get install -y gnome-keyring dbus)")
        # Short path: a unix socket path must stay under 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="standin-ss-"))
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> SecretServiceEnv:
        root = self.root
        dirs = {name: root / name for name in ("home", "run", "data", "config", "cache")}
        for path in dirs.values():
            path.mkdir(mode=0o700)
        socket = dirs["run"] / "bus"
        config = root / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=socket))
        base = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(dirs["home"]),
                "XDG_RUNTIME_DIR": str(dirs["run"]), "XDG_DATA_HOME": str(dirs["data"]),
                "XDG_CONFIG_HOME": str(dirs["config"]), "XDG_CACHE_HOME": str(dirs["cache"]),
                "LANG": "C.UTF-8", MARK: str(root)}
        deadline = time.monotonic() + self.start_timeout
        with open(root / "dbus.log", "ab") as log:
            self.bus = subprocess.Popen([DBUS_DAEMON, f"--config-file={config}", "--nofork", "--print-address=1"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=base,
                                        start_new_session=True)
        address = self._read_line(self.bus, deadline, "dbus-daemon")
        base["DBUS_SESSION_BUS_ADDRESS"] = address
        with open(root / "gnome-keyring.log", "ab") as log:
            self.keyring = subprocess.Popen([GNOME_KEYRING, "--foreground", "--unlock", "--components=secrets"],
                                            stdin=subprocess.PIPE, stdout=log, stderr=log, env=base,
                                            start_new_session=True)
        self.keyring.stdin.write(self.password.encode())
        self.keyring.stdin.close()
        self._wait_ready(address, deadline)
        env = SecretServiceEnv({key: base[key] for key in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR",
                                                           "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")})
        env["PYTHON_KEYRING_BACKEND"] = BACKEND
        env.root, env.password = root, self.password
        self.env = env
        return env

    def _log(self) -> str:
        text = []
        for name in ("dbus.log", "gnome-keyring.log"):
            path = self.root / name if self.root else None
            if path and path.exists():
                text.append(f"--- {name}\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(text)

    def _read_line(self, process: subprocess.Popen, deadline: float, what: str) -> str:
        buffer = b""
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise SecretServiceError(f"{what} did not start (exit {process.returncode})\n{self._log()}")
            ready, _, _ = select.select([process.stdout], [], [], min(remaining, 0.1))
            if ready:
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    continue
                buffer += chunk
        return buffer.split(b"\n", 1)[0].decode().strip()

    def _wait_ready(self, address: str, deadline: float) -> None:
        """Until the login collection is reachable through the bus and unlocked."""
        import secretstorage
        from jeepney.io.blocking import open_dbus_connection

        why = "no answer"
        while time.monotonic() < deadline:
            if self.keyring.poll() is not None:
                raise SecretServiceError(f"gnome-keyring-daemon exited ({self.keyring.returncode})\n{self._log()}")
            try:
                with open_dbus_connection(bus=address) as connection:
                    if secretstorage.check_service_availability(connection):
                        collection = secretstorage.get_default_collection(connection)
                        if not collection.is_locked():
                            return
                        why = "the default collection is locked"
                    else:
                        why = "org.freedesktop.secrets is not on the bus"
            except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
                why = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
        raise SecretServiceError(f"the Secret Service did not become ready: {why}\n{self._log()}")

    def stop(self) -> None:
        for process in (self.keyring, self.bus):
            if process is None:
                continue
            if process.poll() is None:
                _kill_group(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    _kill_group(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
            for stream in (process.stdin, process.stdout):
                if stream is not None and not stream.closed:
                    stream.close()
        if self.root is not None:
            self._sweep()
            shutil.rmtree(self.root, ignore_errors=True)
        self.keyring = self.bus = self.root = self.env = None

    def _sweep(self) -> None:
        """Anything else started with our mark (nothing should be: no activation)."""
        mark = f"{MARK}={self.root}".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                if mark in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    os.kill(int(entry), signal.SIGKILL)
            except OSError:
                continue

    def __enter__(self) -> SecretServiceEnv:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
