"""Loopback port helpers for tests: pick a free port, wait for a listener."""

from __future__ import annotations

import socket
import time

__all__ = ["free_port", "port_is_free", "wait_port", "wait_port_free"]

_POLL_INTERVAL = 0.02  # short polls: a loopback listener appears within milliseconds


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
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
