"""One wizard at a time per home: the commands that change things hold an exclusive ``flock``
on the home directory itself, so there is no lock file to leave behind or to go stale (the
kernel drops the lock when the process ends, even on SIGKILL)."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from wizard.errors import UsageError
from wizard.i18n import _


@contextmanager
def exclusive(home: Path):
    fd = os.open(home, os.O_RDONLY)  # not inherited by children (O_CLOEXEC is Python's default)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                _(
                    "another openclaw-remote is changing {home} right now (setup, run, doctor --fix "
                    "or undo); nothing was changed: try again once it has finished"
                ).format(home=home)
            ) from None
        yield
    finally:
        os.close(fd)
