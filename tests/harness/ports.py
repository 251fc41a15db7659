"""Loopback port helpers for tests: pick a free port, wait for a listener."""

from __future__ import annotations

import os
import socket
import time

__all__ = ["free_port", "port_is_free", "wait_port", "wait_port_free"]

_POLL_INTERVAL = 0.02  # short polls: a loopback listener appears within milliseconds


def _ephemeral_low() -> int:
    """Where the kernel's source ports for outgoing connections start (Linux: 32768)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody uses right now, below the ephemeral range: a port the
    kernel may hand to any outgoing connection as its source (an ssh login, a probe) could be
    taken by one later in the test, and the tunnel would rightly refuse it."""
    import random

    low = _ephemeral_low()
    start = min(20000, low - 1000)
    # Parallel test workers (pytest-xdist's gw0, gw1, …) each pick from a slice of their own: a port
    # one worker's tunnel gave up a moment ago (a kill, a restart) is never another worker's pick.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    width = (low - start) // max(count, 1)
    start += width * (int(worker) if worker.isdigit() and int(worker) < count else 0)
    for _attempt in range(100):
        port = random.randint(start, start + width - 1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a crowded machine: let the OS pick
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(port: int, host: str) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing accepts connections on host:port."""
    return not _accepts(port, host)


def wait_port(port: int, timeout: float = 5.0, host: str = "127.0.0.1") -> bool:
    """Poll until host:port accepts a connection; False if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        if _accepts(port, host):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)


def wait_port_free(port: int, timeout: float = 5.0, host: str = "127.0.0.1") -> bool:
    """Poll until nothing accepts on host:port any more; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if port_is_free(port, host):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)
