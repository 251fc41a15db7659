"""Atomic file writes with backups: a file is always either the old or the new version."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from pathlib import Path


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def real_path(path: Path) -> Path:
    """Follow a symlinked file (a dotfiles manager's ~/.ssh/config) so we replace its target."""
    return path.resolve() if path.is_symlink() else path


def backup(path: Path, backup_dir: Path) -> Path | None:
    """Copy ``path`` (content and mode) into ``backup_dir``; None when there is nothing to keep."""
    if not path.exists():
        return None
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = backup_dir / f"{path.name}.{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = backup_dir / f"{path.name}.{stamp}.{n}"
    shutil.copy2(path, target)
    return target


def write_atomic(path: Path, data: str, *, mode: int = 0o600, dir_mode: int = 0o700,
                 backup_dir: Path | None = None) -> Path | None:
    """Replace ``path`` with ``data`` via temp file + rename. An existing file keeps its
    mode; a new one gets ``mode`` (and missing parents ``dir_mode``). Returns the backup."""
    path = real_path(path)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=dir_mode)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    new = data.encode("utf-8")
    if old == new:
        return None
    saved = backup(path, backup_dir) if (backup_dir is not None and old is not None) else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(new)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return saved


def remove(path: Path, *, backup_dir: Path | None = None) -> Path | None:
    path = real_path(path)
    saved = backup(path, backup_dir) if backup_dir is not None else None
    path.unlink(missing_ok=True)
    return saved
