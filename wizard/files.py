"""Atomic file writes with backups: a file is always either the old or the new version."""

from __future__ import annotations

import glob
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


def backup_origin(backup_dir: Path, root: Path, saved: Path) -> Path:
    """The file a backup in ``backup_dir`` was taken from (the inverse of ``backup``'s naming)."""
    relative = saved.relative_to(backup_dir)
    name = relative.name.split(".~", 1)[0]
    if relative.parts[0] == "_root":
        return Path("/", *relative.parts[1:-1], name)
    return root.joinpath(*relative.parts[:-1], name)


def backup(path: Path, backup_dir: Path, root: Path | None = None) -> Path | None:
    """Copy ``path`` (content and mode) into ``backup_dir``; None when there is nothing to keep.
    With ``root`` (the home), the backup mirrors the path under it, ``.ssh/config.~STAMP``, so
    that ``backup_origin`` can tell where it came from."""
    if not path.exists():
        return None
    if root is None:
        folder = backup_dir
    elif path.is_relative_to(root):
        folder = backup_dir / path.parent.relative_to(root)
    else:
        folder = backup_dir / "_root" / path.parent.relative_to("/")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = folder / f"{path.name}.~{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{path.name}.~{stamp}.{n}"
    shutil.copy2(path, target)
    return target


TEMP_MARK = "openclaw-remote-"  # in every temp file name: no file of the user's is ever taken for one


def temp_prefix(path: Path) -> str:
    return f".{path.name}.{TEMP_MARK}"


def stale_temps(path: Path) -> list[Path]:
    """Temp files a wizard killed mid-write left next to ``path`` (only ours: the name says so)."""
    return sorted(path.parent.glob(f"{glob.escape(temp_prefix(path))}*.tmp"))


def our_temps(folder: Path) -> list[Path]:
    """Every temp file of ours in ``folder``, whatever file it was for."""
    return sorted(folder.glob(f".*.{TEMP_MARK}*.tmp"))


def missing_parents(path: Path) -> list[Path]:
    """The directories ``path`` needs that do not exist yet, outermost first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing[::-1]


def write_atomic(path: Path, data: str | bytes, *, mode: int = 0o600, dir_mode: int = 0o700,
                 backup_dir: Path | None = None, root: Path | None = None) -> Path | None:
    """Replace ``path`` with ``data`` via temp file + rename. An existing file keeps its
    mode; a new one gets ``mode`` (and missing parents ``dir_mode``). Returns the backup."""
    path = real_path(path)
    for parent in missing_parents(path):
        parent.mkdir(mode=dir_mode)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    new = data.encode("utf-8") if isinstance(data, str) else data
    if old == new:
        return None
    saved = backup(path, backup_dir, root) if (backup_dir is not None and old is not None) else None
    for stale in stale_temps(path):  # left by a wizard killed mid-write
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
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


def write_with_new_parents(path: Path, data: str, missing: list[Path], *, mode: int = 0o600,
                           dir_mode: int = 0o700) -> None:
    """Write ``path`` whose directories ``missing`` (outermost first) do not exist yet, so that
    they and the file appear together, in one rename of a staging directory: a kill midway leaves
    only that staging directory, named as ours (``stale_temps`` of the outermost one)."""
    top = missing[0]
    for stale in stale_temps(top):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=top.parent, prefix=temp_prefix(top), suffix=".tmp"))
    try:
        os.chmod(staging, dir_mode)
        inner = staging
        for part in path.parent.relative_to(top).parts:
            inner = inner / part
            inner.mkdir(mode=dir_mode)
        write_atomic(inner / path.name, data, mode=mode)
        os.rename(staging, top)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(top.parent)


def remove_stale_staging(path: Path, root: Path) -> None:
    """The staging directories ``write_with_new_parents`` left for ``path`` when killed midway."""
    for ancestor in [path, *path.parents]:
        if ancestor == root or not ancestor.is_relative_to(root):
            break
        for stale in stale_temps(ancestor):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)


def remove(path: Path, *, backup_dir: Path | None = None, root: Path | None = None) -> Path | None:
    path = real_path(path)
    saved = backup(path, backup_dir, root) if backup_dir is not None else None
    path.unlink(missing_ok=True)
    return saved
