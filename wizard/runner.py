"""The one place commands run: argument lists only, bounded time, never a shell."""

from __future__ import annotations

import atexit
import os
import time
from typing import NamedTuple

from wizard.i18n import _

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import subprocess
    from pathlib import Path


# A NamedTuple, as the plugins' own result types are, not a frozen dataclass: Python 3.11
# spends ~300 µs at every start building each frozen dataclass (its methods are compiled then).
class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _check_argv(argv) -> list[str]:
    if not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError("a command is a non-empty list of strings")
    if any("\0" in a for a in argv):
        raise ValueError("NUL byte in a command argument")
    return list(argv)


def run(argv, *, input: str | None = None, timeout: float = 30.0, env: dict | None = None) -> Result:
    """Run ``argv`` to completion and capture its output. Never raises for exit codes."""
    import subprocess  # here and below, not at the top: `steps` and `--help` run nothing (~2 ms)

    argv = _check_argv(argv)
    try:
        done = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return Result(127, "", _("{command}: command not found").format(command=argv[0]))
    except subprocess.TimeoutExpired:
        return Result(124, "", _("{command}: no answer after {timeout:g} s").format(command=argv[0], timeout=timeout))
    return Result(done.returncode, done.stdout, done.stderr)


class Started:
    """A command ``start`` began, running while the caller does other work. ``result()`` waits
    for it (until its bound); ``cancel()`` ends it. One still running when the wizard exits is
    ended then, so that nothing it started outlives it unasked.

    ``until``: the command has said what the caller waited for once a line of its stderr begins
    with this text; ``result()`` then ends it at once and returns a success (exit 0) with what it
    printed so far, instead of waiting for it to finish."""

    def __init__(self, argv: list[str], process: subprocess.Popen | None, timeout: float,
                 until: str | None = None):
        self.argv, self.process, self.until = argv, process, until
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        if process is not None:
            atexit.register(self.cancel)

    def result(self) -> Result:
        import subprocess

        if self.process is None:
            return Result(127, "", _("{command}: command not found").format(command=self.argv[0]))
        try:
            if self.until is not None:
                return self._until_said()
            out, err = self.process.communicate(timeout=max(0.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.cancel()
            return Result(124, "", _("{command}: no answer after {timeout:g} s").format(
                command=self.argv[0], timeout=self.timeout))
        atexit.unregister(self.cancel)
        return Result(self.process.returncode, out, err)

    def _until_said(self) -> Result:
        import selectors
        import subprocess

        out_fd, err_fd = self.process.stdout.fileno(), self.process.stderr.fileno()
        said = {out_fd: bytearray(), err_fd: bytearray()}
        marker = b"\n" + self.until.encode()
        heard = False
        with selectors.DefaultSelector() as selector:
            for fd in said:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map() and not heard:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    raise subprocess.TimeoutExpired(self.argv, self.timeout)
                for key, _events in selector.select(remaining):
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        said[key.fd] += chunk
                    else:
                        selector.unregister(key.fd)
                heard = marker in b"\n" + said[err_fd]
        returncode = 0 if heard else self.process.wait(max(0.0, self.deadline - time.monotonic()))
        self.cancel()  # heard: ends it; else it has ended: our ends of its pipes are closed
        return Result(returncode, said[out_fd].decode(errors="replace"), said[err_fd].decode(errors="replace"))

    def cancel(self) -> None:
        """End the command and what it started (its own session: an ssh's ProxyCommand), never
        waiting for a process that still holds its pipes."""
        import signal

        atexit.unregister(self.cancel)
        if self.process is None:
            return
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:  # already gone
                pass
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


def start(argv, *, timeout: float = 30.0, env: dict | None = None, until: str | None = None) -> Started:
    """Like ``run``, but returns at once: the command runs alongside the caller's other work
    (``until``: see ``Started``). It runs in a session of its own, which ``cancel`` ends whole."""
    import subprocess

    argv = _check_argv(argv)
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env, start_new_session=True)
    except FileNotFoundError:
        process = None
    return Started(argv, process, timeout, until)


def spawn_detached(argv, *, log_path: Path, env: dict | None = None,
                   owner: tuple[int, int] | None = None) -> subprocess.Popen:
    """Start ``argv`` in its own session (it outlives the wizard); stderr goes to ``log_path``
    (0600 whatever the umask, belonging to ``owner`` when given)."""
    import subprocess

    from wizard import files

    argv = _check_argv(argv)
    log = files.open_log(log_path, mode=0o600, owner=owner)
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
            start_new_session=True,
            close_fds=True,
            cwd="/",  # do not pin the directory the wizard was started from
        )
    finally:
        os.close(log)  # the child has its own copy


def spawn_on_socket(argv, sock, *, env: dict | None = None) -> subprocess.Popen:
    """Start ``argv`` with ``sock`` as its standard input and output (a socketpair's end: the
    caller talks to the program through the other end); its stderr is dropped. The caller ends it."""
    import subprocess

    argv = _check_argv(argv)
    return subprocess.Popen(argv, stdin=sock.fileno(), stdout=sock.fileno(), stderr=subprocess.DEVNULL, env=env,
                            close_fds=True)
