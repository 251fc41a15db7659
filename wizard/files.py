"""Atomic file writes with backups: a file is always either the old or the new version.

Only regular files are ever replaced (a rename over a device, FIFO or directory would destroy
it); what is replaced keeps its owner, group and mode; what is created gets exactly the mode
asked for, whatever the umask, and, when root works in another user's home, that user's
ownership (``home_owner``).
"""

from __future__ import annotations

import errno
import glob
import os
import stat
import time
from pathlib import Path

from wizard.errors import UsageError
from wizard.i18n import _


def identity(path: Path) -> tuple | None:
    """Which file is at ``path`` and its last change (device, inode, size, mtime, ctime), to
    tell whether an answer read from it still holds; None when there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


Owner = tuple[int, int]  # uid, gid


def home_owner(home: Path) -> Owner | None:
    """Who owns what the wizard creates under ``home``: as root (sudo, MDM, Ansible's become) the
    home directory's own uid and gid, so that its user's ssh accepts its own files ("Bad owner or
    permissions" otherwise). None for a normal user: new files are simply theirs."""
    if os.geteuid() != 0:
        return None
    try:
        info = os.stat(home)
    except OSError:
        return None
    return info.st_uid, info.st_gid


def _refuse(message: str) -> None:
    raise UsageError(message)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, _("a directory")), (stat.S_ISCHR, _("a character device")),
                       (stat.S_ISBLK, _("a block device")), (stat.S_ISFIFO, _("a FIFO")),
                       (stat.S_ISSOCK, _("a socket"))):
        if test(mode):
            return name
    return _("not a file")


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: Python < 3.13's word for a loop
        if isinstance(exc, OSError) and exc.errno != errno.ELOOP:
            raise
        _refuse(_("{path} is a symlink that leads nowhere (a loop); fix or remove it first").format(path=path))


def real_path(path: Path) -> Path:
    """Follow a symlinked file (a dotfiles manager's ~/.ssh/config) so we replace its target."""
    return _resolved(path) if path.is_symlink() else path


def replaceable(path: Path) -> Path:
    """The file a write to ``path`` replaces, once checked (UsageError before anything is
    written otherwise): a regular file or nothing at ``path``; through a symlink, a regular file
    or nothing in an existing directory (a dangling link must not make us create directories
    elsewhere). Not root: a file of another user's is refused, not silently taken over."""
    target = real_path(path)
    via = _("{path} (a symlink to {target})").format(path=path, target=target) if target != path else str(path)
    try:
        info = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):  # the latter: a file where a folder should be
        folder = next((p for p in target.parents if p.exists()), None)
        if target != path and folder != target.parent:
            _refuse(_("{path}: the directory {folder} does not exist; create it or fix the link first").format(
                path=via, folder=target.parent))
        if folder is not None and not folder.is_dir():
            _refuse(_("{path} cannot be created: {folder} is not a directory").format(path=path, folder=folder))
        return target
    if not stat.S_ISREG(info.st_mode):
        _refuse(_("{path} is not a regular file ({kind}); openclaw-remote only replaces regular files: "
                  "move it away first").format(path=via, kind=_kind(info.st_mode)))
    if os.geteuid() != 0 and info.st_uid != os.geteuid():
        _refuse(_("{path} belongs to another user (uid {uid}); replacing it would make it yours: "
                  "run as that user or as root").format(path=via, uid=info.st_uid))
    return target


def check_access(path: Path) -> None:
    """Before the first write: a file we will read and replace can be read, is not read-only, and
    its directory (or the nearest one that exists) lets us create files. UsageError otherwise."""
    target = replaceable(path)
    if target.exists():
        if not os.access(target, os.R_OK):
            _refuse(_("{path} cannot be read (permission denied); fix its permissions first").format(path=target))
        if not os.access(target, os.W_OK):
            _refuse(_("{path} is read-only; make it writable (chmod u+w) first, or leave it out").format(path=target))
    folder = next((p for p in target.parents if p.exists()), None)
    if folder is not None and not os.access(folder, os.W_OK | os.X_OK):
        _refuse(_("{path} cannot be written: the directory {folder} is read-only for you").format(
            path=target, folder=folder))


def _own(fd: int, owner: Owner | None) -> None:
    if owner is not None:
        os.fchown(fd, *owner)


def _keep_owner(fd: int, info: os.stat_result) -> None:
    """The replacement belongs to whoever owned the old file. Root can give it; a user can at
    most keep the group (one they belong to); ``replaceable`` refused other users' files."""
    if os.geteuid() == 0:
        os.fchown(fd, info.st_uid, info.st_gid)
        return
    try:
        os.fchown(fd, -1, info.st_gid)
    except PermissionError:
        pass


def make_dir(path: Path, mode: int = 0o700, owner: Owner | None = None) -> None:
    """``mkdir`` with exactly ``mode`` (mkdir's own mode is masked by the umask) and ``owner``."""
    path.mkdir(mode=0o700)  # never more open than asked, even for a moment
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, *owner)


def make_dirs(paths: list[Path], mode: int = 0o700, owner: Owner | None = None) -> None:
    for each in paths:  # outermost first
        make_dir(each, mode, owner)


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
    make_dirs(missing_parents(folder / "-"), 0o700, home_owner(root) if root is not None else None)
    for stale in our_temps(folder):  # a backup cut short by a killed wizard (one wizard at a time: the lock)
        stale.unlink(missing_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = folder / f"{path.name}.~{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{path.name}.~{stamp}.{n}"
    _copy(path, target)
    return target


def _copy(source: Path, target: Path) -> None:
    """A copy with the original's mode, owner and times, created private (no umask moment in
    between): a backup is never more readable than what it saves. Written under a temp name and
    renamed, so that a wizard killed midway leaves no half backup, only a temp file of ours."""
    import shutil  # here and below, not at the top: commands that write nothing need neither (~2 ms)
    import tempfile

    info = os.stat(source)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(target), suffix=".tmp")  # 0600
    try:
        os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o777)
        _keep_owner(fd, info)
        with os.fdopen(fd, "wb", closefd=False) as out, open(source, "rb") as original:
            shutil.copyfileobj(original, out)
            out.flush()
            os.fsync(fd)
        os.utime(fd, ns=(info.st_atime_ns, info.st_mtime_ns))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


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
                 backup_dir: Path | None = None, root: Path | None = None,
                 owner: Owner | None = None, exact_mode: bool = False) -> Path | None:
    """Replace ``path`` with ``data`` via temp file + rename. An existing file keeps its mode,
    owner and group; a new one gets ``mode`` and ``owner`` (and missing parents ``dir_mode``).
    ``exact_mode``: the file ends with ``mode`` even when one existed with another (a reader that
    refuses some modes, as launchd refuses group-writable plists), same content or not.
    Returns the backup. Anything but a regular file is refused (``replaceable``)."""
    path = replaceable(path)
    try:
        info = os.stat(path)
        old = path.read_bytes()
    except FileNotFoundError:
        info, old = None, None
    new = data.encode("utf-8") if isinstance(data, str) else data
    if old == new:
        if exact_mode and stat.S_IMODE(info.st_mode) != mode:
            os.chmod(path, mode)
        return None
    make_dirs(missing_parents(path), dir_mode, owner)
    saved = backup(path, backup_dir, root) if (backup_dir is not None and old is not None) else None
    for stale in stale_temps(path):  # left by a wizard killed mid-write
        stale.unlink(missing_ok=True)
    import tempfile  # here: a write that changes nothing (a no-op run's state) needs none

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
    try:
        os.fchmod(fd, stat.S_IMODE(info.st_mode) if info and not exact_mode else mode)
        if info:
            _keep_owner(fd, info)
        else:
            _own(fd, owner)
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
                           dir_mode: int = 0o700, owner: Owner | None = None) -> None:
    """Write ``path`` whose directories ``missing`` (outermost first) do not exist yet, so that
    they and the file appear together, in one rename of a staging directory: a kill midway leaves
    only that staging directory, named as ours (``stale_temps`` of the outermost one)."""
    import shutil
    import tempfile

    top = missing[0]
    for stale in stale_temps(top):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=top.parent, prefix=temp_prefix(top), suffix=".tmp"))
    try:
        os.chmod(staging, dir_mode)
        if owner is not None:
            os.chown(staging, *owner)
        inner = staging
        for part in path.parent.relative_to(top).parts:
            inner = inner / part
            make_dir(inner, dir_mode, owner)
        write_atomic(inner / path.name, data, mode=mode, owner=owner)
        os.rename(staging, top)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(top.parent)


def remove_stale_staging(path: Path, root: Path) -> None:
    """The staging directories ``write_with_new_parents`` left for ``path`` when killed midway."""
    import shutil

    for ancestor in [path, *path.parents]:
        if ancestor == root or not ancestor.is_relative_to(root):
            break
        for stale in stale_temps(ancestor):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)


def open_log(path: Path, *, mode: int = 0o600, owner: Owner | None = None) -> int:
    """A file descriptor appending to the log ``path`` (a regular file, ours): created with
    exactly ``mode`` and ``owner``, and an older one brought back to them."""
    path = replaceable(path)
    make_dirs(missing_parents(path), 0o700, owner)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, mode)
        _own(fd, owner)
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove(path: Path, *, backup_dir: Path | None = None, root: Path | None = None) -> Path | None:
    if not real_path(path).exists():
        return None
    path = replaceable(path)  # never a backup read from a device (/dev/zero has no end)
    saved = backup(path, backup_dir, root) if backup_dir is not None else None
    path.unlink(missing_ok=True)
    return saved
