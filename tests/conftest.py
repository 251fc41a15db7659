"""Shared test helpers. Every test works in a temporary home: the real one is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.harness.fixtures", "tests.standins.fixtures"]

REPO = Path(__file__).resolve().parent.parent


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment with no trace of the developer's own setup."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OPENCLAW_", "SSH_", "LC_", "LANGUAGE"))}
    lang = "en_US.UTF-8" if sys.platform == "darwin" else "C.UTF-8"  # macOS has no C.UTF-8 locale
    env.update(HOME=str(home), OPENCLAW_REMOTE_HOME=str(home), LANG=lang,
               PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", COLUMNS="200", NO_COLOR="1")
    env.update(extra)
    return env


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    return home


def pytest_configure(config):
    # The macOS workflow runs `pytest -m real_mac`: these tests take what they need from the Mac
    # through tests/harness/mac.py (the real tools on macOS, the stand-ins elsewhere), so the same
    # body runs on both; the Linux suite runs them as it runs every other test.
    config.addinivalue_line("markers", "real_mac: runs on a real Mac too (the macOS workflow), "
                            "through the mac_backend fixture or with no Mac tool at all")


# A real_mac test runs on a Mac too: it must not take what exists only on Linux (the stand-ins'
# world, gnome-keyring, the systemd stand-in), only the mac_backend that picks one or the other.
LINUX_ONLY_FIXTURES = {"standins", "secret_service", "secret_service_session", "linux"}


def pytest_collection_modifyitems(items):
    for item in items:
        taken = LINUX_ONLY_FIXTURES & set(getattr(item, "fixturenames", ()))
        if taken and item.get_closest_marker("real_mac"):
            raise pytest.UsageError(f"{item.nodeid} is marked real_mac but takes {sorted(taken)}, which exist on "
                                    "Linux only: take mac_backend (tests/harness/mac.py) instead")


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (files, directories, links, anything else) with its type and
    mode, owner, size and content hash (a link: its target), to prove nothing changed at all."""
    import hashlib

    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            content = "-> " + os.readlink(path)
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = ""
        found[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_gid,
                                              info.st_size if path.is_file() else 0, content)
    return found


def dist_info(root: Path, distribution: str, groups: dict[str, dict[str, str]], version: str = "0.1.0") -> Path:
    """Packaging metadata for ``distribution`` in ``root`` as pip installs it (its ``.dist-info``
    folder, returned), with the entry points ``groups`` names, without installing anything."""
    folder = root / f"{distribution.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (folder / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items()) + "\n"
        for group, entries in groups.items()))
    return folder


def _worktree_entry_points() -> Path:
    """A dist-info for this checkout's pyproject.toml, first on PYTHONPATH: the wizard's subprocesses
    then load the plugins this tree declares, even when the installed (editable) metadata is an
    older checkout's (a step added here would otherwise be invisible until a reinstall)."""
    import atexit
    import shutil
    import tempfile

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    from wizard import __version__

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    site = Path(tempfile.mkdtemp(prefix="openclaw-remote-entry-points-"))
    atexit.register(shutil.rmtree, site, True)
    info = site / f"openclaw_remote_wizard-{__version__}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {__version__}\n")
    groups = "".join(f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items()) + "\n"
                     for group, entries in project["entry-points"].items())
    (info / "entry_points.txt").write_text(groups)
    return site


ENTRY_POINTS_SITE = _worktree_entry_points()
sys.path.insert(0, str(ENTRY_POINTS_SITE))  # and for the tests that load plugins in this process


class Cli:
    """Runs the real ``openclaw-remote`` command in a subprocess against a temp home."""

    def __init__(self, home: Path):
        self.home = home
        self.env = clean_env(home, PYTHONPATH=str(ENTRY_POINTS_SITE))

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "wizard", *args], input=input, text=True,
                              capture_output=True, env={**self.env, **(env or {})}, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)


@pytest.fixture
def registered():
    """``with registered(plugin, ("name", plugin), ...):`` the wizard in this process with the
    built-in steps and these plugins only (wizard.testing.registered, the helper plugin authors use)."""
    from wizard.testing import registered

    return registered


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)


def pytest_terminal_summary(terminalreporter):
    """The bad-input corpus's count, as the reliability issue asks."""
    from tests import test_bad_input

    if test_bad_input.PASSED:
        terminalreporter.write_line(f"bad-input corpus: {len(test_bad_input.PASSED)} hostile or malformed inputs, "
                                    "each refused with exit 2 and the home unchanged")
