"""Who listens on a local port: lsof where it exists (always on macOS), else /proc."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

from wizard import runner
from wizard.i18n import _


class Owner(NamedTuple):  # not a frozen dataclass: see wizard.runner.Result
    pid: int | None
    name: str
    args: tuple[str, ...] = ()

    def describe(self) -> str:
        return _("{name} (pid {pid})").format(name=self.name, pid=self.pid) if self.pid else self.name


def accepting(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    import socket  # here and below, not at the top: `steps` and `--help` need no socket (~2 ms)

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket() as sock:
        # As ssh does: connections of ours lingering in TIME_WAIT must not look like a holder.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def process_args(pid: int) -> tuple[str, ...]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    except OSError:
        pass
    done = runner.run(["ps", "-ww", "-o", "args=", "-p", str(pid)], timeout=5)  # macOS has no /proc: ask ps
    return tuple(done.stdout.split())


def owner(port: int, likely: tuple[int, ...] = ()) -> Owner | None:
    """The process listening on TCP ``port`` (any local address), or None.
    ``likely`` pids are looked at first (a full /proc scan takes ~20 ms)."""
    for look in range(LOOKS):
        # Held, yet no listener seen on the look before: one that began listening between the
        # two looks (a tunnel launchd is starting right now), or a socket bound and not listening
        # yet. Look again, briefly, before calling it unknown.
        if look:
            time.sleep(0.01 * look)  # not sleep(0) first: that hands the GIL to a busy thread for up to 5 ms
        found = _listener(port, likely)
        if found is not None or bindable(port):
            return found
    return Owner(None, _("an unknown process"))


LOOKS = 4  # after 0, 10, 20 and 30 ms: a listener that is starting shows up well within


def _listener(port: int, likely: tuple[int, ...]) -> Owner | None:
    if Path("/proc/net/tcp").exists():
        # /proc/net/tcp{,6} list every listener of this network namespace: when they show none,
        # lsof (~40 ms, twice per setup) could only find none either.
        return _owner_from_proc(port, likely)
    import shutil

    return _owner_from_lsof(port) if shutil.which("lsof") else None  # systems without /proc (macOS)


def _owner_from_lsof(port: int) -> Owner | None:
    done = runner.run(["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"], timeout=5)
    pid, name = None, ""
    for line in done.stdout.splitlines():
        if line.startswith("p"):
            pid = int(line[1:])
        elif line.startswith("c") and pid:
            name = line[1:]
            return Owner(pid, name, process_args(pid))
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    return inodes


def _owner_from_proc(port: int, likely: tuple[int, ...] = ()) -> Owner | None:
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    everyone = (int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit())
    for pid in (*likely, *everyone):
        try:
            if any(os.readlink(fd.path) in wanted for fd in os.scandir(f"/proc/{pid}/fd")):
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                return Owner(pid, name, process_args(pid))
        except OSError:
            continue
    return Owner(None, _("a process of another user"))


def wait_for(condition, timeout: float, interval: float = 0.02) -> bool:
    """Poll ``condition()`` every ``interval`` seconds until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def started_at(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None when that cannot be told.
    Linux: /proc/PID/stat's start time (clock ticks after boot) plus the boot time; macOS: ``ps -o
    lstart=`` (a date such as ``Tue Dec  1 12:00:00 2026``, in local time)."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    done = runner.run(["ps", "-o", "lstart=", "-p", str(pid)], timeout=5, env={**os.environ, "LC_ALL": "C"})
    try:  # no ps, no answer in time, no such process: no date to parse
        return time.mktime(time.strptime(" ".join(done.stdout.split()), "%a %b %d %H:%M:%S %Y"))
    except ValueError:
        return None
