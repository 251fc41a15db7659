"""The file system as it really is: the wizard only ever replaces regular files, keeps the owner,
group and mode of what it replaces, gives what it creates exact modes whatever the umask (and,
as root in another user's home, that user's ownership), and refuses files that are not what
they seem before anything is written (exit 2, home unchanged)."""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.test_mac_side import LABEL, linux, mac, plist  # noqa: F401  (linux, mac are fixtures)
from tests.test_undo_recovery import run_unprivileged

pytestmark = pytest.mark.timeout(120)
ANSWERS = ["--yes", "--host", "gw.example", "--user", "u"]
USER_CONFIG = "Host mine\n    User me\n"
CONFIG_DIR = ".config/openclaw-remote"


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (and ``root`` itself): type, mode, owner, size, content hash, link."""
    entries = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else None
        link = os.readlink(path) if path.is_symlink() else None
        entries[str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode),
                                                info.st_uid, info.st_gid, info.st_size, digest, link)
    return entries


def refused(result: subprocess.CompletedProcess, *words: str, code: int = 2) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def run_under_umask(cli: Cli, mask: str, *args: str) -> subprocess.CompletedProcess:
    argv = ["sh", "-c", f'umask {mask}; exec "$@"', "sh", sys.executable, "-m", "wizard", *args]
    return subprocess.run(argv, env=cli.env, text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def throwaway_user():
    """A real user with no login of its own, removed afterwards (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a throwaway user")
    name = "ocrfs" + secrets.token_hex(3)
    subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def chown_tree(root: Path, user) -> None:
    for path in [root, *root.rglob("*")]:
        os.lchown(path, user.pw_uid, user.pw_gid)


# only regular files are replaced -----------------------------------------------------------------

def _char_device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is, made in the test's own dir


SPECIALS = {
    "character device": _char_device,
    "FIFO": lambda path: os.mkfifo(path, 0o600),
    "directory": lambda path: path.mkdir(),
}


@pytest.mark.parametrize("kind", SPECIALS)
@pytest.mark.parametrize("where", ["state file", "symlinked state file"])
def test_a_state_file_that_is_not_a_regular_file_is_refused_and_left_alone(cli, home, tmp_path, kind, where):
    if kind == "character device" and os.geteuid() != 0:
        pytest.skip("mknod needs root")
    state = home / CONFIG_DIR / "state.json"
    state.parent.mkdir(parents=True)
    special = tmp_path / "special" if where.startswith("symlinked") else state
    SPECIALS[kind](special)
    if special != state:
        state.symlink_to(special)
    before = tree(tmp_path)
    refused(cli("run", "ssh-config", *ANSWERS, timeout=20), "the state file", "(not a regular file)", "move it away")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("kind", ["character device", "FIFO"])
def test_a_symlinked_config_to_a_device_or_fifo_is_refused_and_the_target_kept(cli, home, tmp_path, kind):
    if kind == "character device" and os.geteuid() != 0:
        pytest.skip("mknod needs root")
    special = tmp_path / "special"
    SPECIALS[kind](special)
    (home / ".ssh/config").symlink_to(special)
    before = tree(tmp_path)
    refused(cli("run", "ssh-config", *ANSWERS, timeout=20), f"{home / '.ssh/config'} (a symlink to {special}) "
            f"is not a regular file ({'a ' + kind})", "Nothing was changed")
    assert tree(tmp_path) == before


def test_a_dangling_symlink_into_a_missing_directory_creates_nothing_elsewhere(cli, home, tmp_path):
    (home / ".ssh/config").symlink_to(tmp_path / "dotfiles" / "ssh" / "config")
    before = tree(tmp_path)
    refused(cli("run", "ssh-config", *ANSWERS), "the directory", "does not exist")
    assert tree(tmp_path) == before and not (tmp_path / "dotfiles").exists()


def test_a_dangling_symlink_in_an_existing_directory_is_written_through(cli, home, tmp_path):
    (tmp_path / "dotfiles").mkdir()
    (home / ".ssh/config").symlink_to(tmp_path / "dotfiles" / "config")
    result = cli("run", "ssh-config", *ANSWERS)
    assert result.returncode == 0, result.stderr
    assert (home / ".ssh/config").is_symlink() and "Host remote-gateway" in (tmp_path / "dotfiles/config").read_text()


def test_a_symlink_loop_is_refused_cleanly(cli, home):
    (home / ".ssh/config").symlink_to(home / ".ssh/loop")
    (home / ".ssh/loop").symlink_to(home / ".ssh/config")
    before = tree(home)
    refused(cli("run", "ssh-config", *ANSWERS), "a loop")
    assert tree(home) == before


# owner, group and mode of what is replaced ---------------------------------------------------------

def test_a_replaced_file_keeps_its_owner_group_and_mode(cli, home, tmp_path, throwaway_user):
    target = tmp_path / "dotfiles-config"  # another user's file, reached through the user's symlink
    target.write_text(USER_CONFIG)
    os.chown(target, throwaway_user.pw_uid, throwaway_user.pw_gid)
    target.chmod(0o640)
    (home / ".ssh/config").symlink_to(target)
    result = cli("run", "ssh-config", *ANSWERS)
    assert result.returncode == 0, result.stderr
    theirs = (throwaway_user.pw_uid, throwaway_user.pw_gid, 0o640)
    assert "Host remote-gateway" in target.read_text()
    assert (target.stat().st_uid, target.stat().st_gid, mode(target)) == theirs
    backup, = (home / CONFIG_DIR / "backups").rglob("dotfiles-config.~*")  # outside the home: under _root
    assert (backup.stat().st_uid, backup.stat().st_gid, mode(backup)) == theirs


def as_user(user, *argv: str) -> list[str]:
    """``argv`` run as ``user``, a real non-root user, still able to read (not write) the Python
    installed under /root: CAP_DAC_READ_SEARCH only, kept across the uid change."""
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--", *argv]


@pytest.fixture
def open_tmp():
    """A directory every user can reach (pytest's own is root's alone): a real user's home goes here."""
    folder = Path(tempfile.mkdtemp(prefix="ocr-fs-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_normal_user_does_not_take_over_another_users_file(open_tmp, throwaway_user):
    home = open_tmp / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    target = open_tmp / "shared" / "config"  # root's, in a directory the user may write
    target.parent.mkdir()
    target.write_text(USER_CONFIG)
    target.chmod(0o666)
    (home / ".ssh/config").symlink_to(target)
    chown_tree(home, throwaway_user)
    os.chown(target.parent, throwaway_user.pw_uid, throwaway_user.pw_gid)
    before = tree(open_tmp)
    result = subprocess.run(as_user(throwaway_user, sys.executable, "-m", "wizard", "run", "ssh-config", *ANSWERS),
                            env=Cli(home).env, text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    refused(result, "belongs to another user (uid 0)", "Nothing was changed")
    assert tree(open_tmp) == before


# root working in another user's home ---------------------------------------------------------------

@pytest.mark.parametrize("ssh_dir", ["existing", "missing"])
def test_as_root_everything_created_in_a_users_home_belongs_to_that_user(cli, home, throwaway_user, ssh_dir):
    if ssh_dir == "missing":
        (home / ".ssh").rmdir()
    else:
        (home / ".ssh/config").write_text(USER_CONFIG)  # replaced: a backup, and its directories
    chown_tree(home, throwaway_user)
    result = cli("run", "ssh-config", *ANSWERS)
    assert result.returncode == 0, result.stderr
    assert (home / CONFIG_DIR / "state.json").exists() and (home / ".ssh/config").exists()
    if ssh_dir == "existing":
        assert list((home / CONFIG_DIR / "backups" / ".ssh").iterdir())
    owners = {name: entry[2:4] for name, entry in tree(home).items()}
    assert owners == {name: (throwaway_user.pw_uid, throwaway_user.pw_gid) for name in owners}


# modes do not depend on the umask ------------------------------------------------------------------

def test_under_umask_000_directories_are_0700_files_0600_and_backups_no_more_readable(cli, home):
    (home / ".ssh/config").write_text(USER_CONFIG)
    (home / ".ssh/config").chmod(0o640)
    result = run_under_umask(cli, "000", "run", "ssh-config", *ANSWERS)
    assert result.returncode == 0, result.stderr
    for folder in [".config", CONFIG_DIR, f"{CONFIG_DIR}/backups", f"{CONFIG_DIR}/backups/.ssh"]:
        assert mode(home / folder) == 0o700, folder
    assert mode(home / CONFIG_DIR / "state.json") == 0o600
    assert mode(home / ".ssh/config") == 0o640  # replaced: its own mode kept
    backup, = (home / CONFIG_DIR / "backups/.ssh").iterdir()
    assert mode(backup) == 0o640


def test_under_umask_000_a_new_ssh_directory_and_config_are_private(cli, home):
    (home / ".ssh").rmdir()
    result = run_under_umask(cli, "000", "run", "ssh-config", *ANSWERS)
    assert result.returncode == 0, result.stderr
    assert (mode(home / ".ssh"), mode(home / ".ssh/config")) == (0o700, 0o600)


def test_under_umask_000_the_tunnel_log_and_unit_have_their_modes(cli, home, linux):
    result = run_under_umask(cli, "000", "run", "ssh-config", "ssh-key", "tunnel", "--yes", *linux.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert mode(home / CONFIG_DIR / "tunnel.log") == 0o600
    modes = {name: mode(home / ".ssh" / name) for name in ("id_ed25519", "id_ed25519.pub", "known_hosts")}
    assert modes == {"id_ed25519": 0o600, "id_ed25519.pub": 0o644, "known_hosts": 0o600}
    result = run_under_umask(cli, "000", "run", "autostart", "--yes", *linux.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    unit, = (home / ".config/systemd/user").glob("*.service")
    assert (mode(unit.parent), mode(unit)) == (0o755, 0o644)  # what systemd expects of a unit
    assert mode(home / ".ssh") == 0o700


# files that are not what they seem ------------------------------------------------------------------

def test_an_ssh_directory_that_is_a_file_is_refused(cli, home):
    (home / ".ssh").rmdir()
    (home / ".ssh").write_text("not a directory\n")
    before = tree(home)
    refused(cli("run", "ssh-config", *ANSWERS), f"{home / '.ssh'} is not a directory", "Nothing was changed")
    assert tree(home) == before


@pytest.mark.parametrize("what, chmod, words", [
    ("read-only .ssh", (".ssh", 0o500), ["is read-only for you"]),
    ("read-only config", (".ssh/config", 0o400), ["is read-only; make it writable"]),
    ("unreadable config", (".ssh/config", 0o000), ["cannot be read (permission denied)"]),
])
def test_read_only_and_unreadable_files_are_refused_before_anything(cli, home, what, chmod, words):
    (home / ".ssh/config").write_text(USER_CONFIG)
    where, bits = chmod
    (home / where).chmod(bits)
    before = tree(home)
    try:
        result = run_unprivileged(cli, "run", "ssh-config", *ANSWERS)
    finally:
        (home / where).chmod(0o700 if where == ".ssh" else 0o600)
    refused(result, *words, "Nothing was changed")
    (home / where).chmod(bits)
    assert tree(home) == before  # no backup, no state, no directory


def test_as_root_a_whole_linux_setup_in_a_users_home_belongs_to_that_user(cli, home, throwaway_user, linux):
    chown_tree(home, throwaway_user)
    result = cli("run", "ssh-config", "ssh-key", "tunnel", "autostart", "--yes", *linux.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    made = {".ssh/id_ed25519", ".ssh/known_hosts", f"{CONFIG_DIR}/tunnel.log", ".config/systemd/user"}
    assert made <= set(tree(home)), sorted(tree(home))
    owners = {name: entry[2:4] for name, entry in tree(home).items()}
    assert owners == {name: (throwaway_user.pw_uid, throwaway_user.pw_gid) for name in owners}


def test_a_read_only_state_directory_stops_a_run_before_anything(cli, home):
    (home / CONFIG_DIR).mkdir(parents=True)
    (home / CONFIG_DIR).chmod(0o500)
    before = tree(home)
    try:
        result = run_unprivileged(cli, "run", "ssh-config", *ANSWERS)
        looking = run_unprivileged(cli, "status")  # only looks: not refused for it
    finally:
        (home / CONFIG_DIR).chmod(0o700)
    refused(result, f"{home / CONFIG_DIR / 'state.json'} cannot be written", "is read-only for you")
    assert "read-only" not in looking.stderr and "Traceback" not in looking.stderr, looking.stderr
    (home / CONFIG_DIR).chmod(0o500)
    assert tree(home) == before


def test_a_tunnel_log_that_links_to_a_fifo_is_refused_before_the_tunnel_starts(cli, home, tmp_path, linux):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    (home / CONFIG_DIR).mkdir(parents=True)
    (home / CONFIG_DIR / "tunnel.log").symlink_to(fifo)
    assert cli("run", "ssh-config", "ssh-key", "--yes", *linux.flags).returncode == 0
    result = cli("run", "tunnel", "--yes", *linux.flags, timeout=30)
    refused(result, "is not a regular file (a FIFO)", "Nothing was changed")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and (home / CONFIG_DIR / "tunnel.log").is_symlink()


def test_under_umask_000_the_macs_plists_are_0644_in_a_0755_folder(cli, home, mac):
    result = run_under_umask(cli, "000", "setup", "--yes", *mac.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    agents = plist(home, LABEL).parent
    token_agent = agents / "openclaw-remote.token-push.plist"
    assert (mode(agents), mode(plist(home, LABEL)), mode(token_agent)) == (0o755, 0o644, 0o644)
    assert mode(home / CONFIG_DIR) == 0o700 and mode(home / CONFIG_DIR / "state.json") == 0o600
