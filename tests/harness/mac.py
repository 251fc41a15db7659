"""What a test needs from "the Mac": a launchd domain, a Keychain, an app to quit and open, the
tunnels that run. Two backends, chosen by what exists, never by a flag:

- on macOS (``sys.platform == "darwin"``, the macOS workflow on GitHub's macos-14 runner) the
  real ``launchctl``, ``/usr/bin/security`` (the login Keychain), ``osascript`` and ``open``, and
  a tiny stay-open AppleScript applet built by the test (``osacompile``) as the app;
- elsewhere the stand-ins of tests/standins on PATH (their launchd, their Keychain over a real
  Secret Service, their fake app), with the wizard told it runs on darwin.

Both are driven the same way: through the command-line tools themselves (``launchctl print``,
``launchctl getenv``, ``security find-generic-password``, ``pgrep``, ``ps``), so that everything
here but the applet's build runs on Linux too, against the stand-ins. ``Mac.standins`` is the
stand-in world, or None on a real Mac: what only a stand-in can see (its call log) is looked
at only where it exists.

**Never run on a real Mac by this project**: the darwin backend has only been exercised on
Linux with the stand-ins answering for the real tools (README, "macOS in CI"). What it cannot
know: whether the runner's session is Aqua, whether the login Keychain answers a ``security``
started with a temporary HOME, whether the Automation (TCC) dialog appears there for an
osascript that quits the applet.

Isolation on a real Mac: the tunnel label and the host alias (so the Keychain item
``openclaw-remote:ALIAS``) are unique per test; the token's login agent
(``openclaw-remote.token-push``) and launchd's ``OPENCLAW_GATEWAY_TOKEN`` are fixed names of the
wizard, with no user value in making them settable, so the real backend runs only on a
throwaway machine (GitHub Actions sets ``GITHUB_ACTIONS=true``) and always boots the agents out,
unsets the variable, deletes the Keychain item and ends the applets in teardown.
"""

from __future__ import annotations

import itertools
import os
import plistlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from plugins._keyring import ACCOUNT as KEYCHAIN_ACCOUNT
from plugins._launchd import TOKEN_PUSH_LABEL, TOKEN_VARIABLE  # the wizard's fixed names (see above)
from tests.standins import wait_until

REAL = sys.platform == "darwin"
ITEM_NOT_FOUND = 44  # security(1): errSecItemNotFound's low byte
_unique = itertools.count()


def link_login_keychain(home: Path) -> None:
    """The wizard runs with HOME at the test's home, and security(1) finds the login Keychain
    through $HOME: ~/Library/Keychains, and the default-keychain preference in
    ~/Library/Preferences/com.apple.security.plist (Apple's Security, DLDBListCFPref.cpp). Without
    them there is no default keychain and every add fails. So the test's home gets links to the
    real ones: on a real Mac these tests use the real login Keychain on purpose (unique items,
    deleted in teardown). Never run on a Mac by this project."""
    import pwd

    real = Path(pwd.getpwuid(os.getuid()).pw_dir) / "Library"
    for part in ("Keychains", "Preferences/com.apple.security.plist"):
        if (real / part).exists() and not (home / "Library" / part).exists():
            (home / "Library" / part).parent.mkdir(parents=True, exist_ok=True)
            (home / "Library" / part).symlink_to(real / part)


def _domain() -> str:
    return f"gui/{os.getuid()}"


class Mac:
    """One test's Mac. ``env`` goes into the wizard's environment; ``label`` and ``alias`` are
    this test's tunnel label and host alias (pass them with --label/--alias)."""

    def __init__(self, root: Path, standins=None, keychain_env: dict | None = None):
        self.real = standins is None
        self.standins = standins
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        n = f"{os.getpid()}-{next(_unique)}"
        self.label = f"test.openclaw-remote.{n}"
        self.alias = f"ocr-test-{n}"
        self.env: dict[str, str] = {}
        if standins is not None:
            from tests.standins import BIN_DIR

            # The wizard on Linux believes it is on a Mac; launchd's stand-in runs agents with
            # the stand-ins first on PATH, as it would run the real tools on a Mac.
            self.env = {**standins.env, **standins.strict_env, **(keychain_env or {}),
                        "OPENCLAW_REMOTE_PLATFORM": "darwin", "STANDIN_LAUNCHD_PATH": f"{BIN_DIR}:/usr/bin:/bin"}
            # What a login session's launchd would give the agents: the Keychain (the security
            # stand-in's Secret Service) and, as on a Mac where it is detected, the platform.
            for name, value in {**(keychain_env or {}), "OPENCLAW_REMOTE_PLATFORM": "darwin"}.items():
                standins.setenv(name, value)
        self._apps: list[Path] = []

    # --- running the Mac's tools ---------------------------------------------------------------

    def tool(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a tool as the wizard would find it (the stand-ins first on PATH, or the real one)."""
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **self.env}, stdin=subprocess.DEVNULL)

    def calls(self, tool: str) -> list[list[str]] | None:
        """The stand-in's log of what ``tool`` was asked; None on a real Mac (nothing records it)."""
        return None if self.standins is None else self.standins.calls(tool)

    def clear_calls(self) -> None:
        if self.standins is not None:
            self.standins.clear_calls()

    # --- launchd -------------------------------------------------------------------------------

    def service(self, label: str) -> tuple[bool, int | None]:
        """(loaded?, pid of its running program) as ``launchctl print`` says."""
        from plugins import _launchd

        printed = self.tool("launchctl", "print", f"{_domain()}/{label}")
        if printed.returncode != 0:
            return False, None
        return True, _launchd.parse_print(printed.stdout).pid

    def loaded(self, label: str) -> bool:
        return self.service(label)[0]

    def job_pid(self, label: str, timeout: float = 10) -> int | None:
        """The agent's running program, waited for (launchd starts it a moment after loading)."""
        return wait_until(lambda: self.service(label)[1], timeout)

    def bootout(self, label: str, timeout: float = 10) -> None:
        """``launchctl bootout`` and wait until launchd no longer knows it (it may answer 36 and
        finish later, launchctl(1))."""
        self.tool("launchctl", "bootout", f"{_domain()}/{label}")
        wait_until(lambda: not self.loaded(label), timeout)

    def disable(self, label: str) -> None:
        assert self.tool("launchctl", "disable", f"{_domain()}/{label}").returncode == 0

    def enabled(self, label: str) -> bool:
        """Not disabled in ``launchctl print-disabled`` (``"LABEL" => disabled``, or ``=> true``
        before macOS 11)."""
        printed = self.tool("launchctl", "print-disabled", _domain()).stdout
        return f'"{label}" => disabled' not in printed and f'"{label}" => true' not in printed

    def getenv(self, name: str) -> str | None:
        value = self.tool("launchctl", "getenv", name).stdout.rstrip("\n")
        return value or None

    def setenv(self, name: str, value: str) -> None:
        assert self.tool("launchctl", "setenv", name, value).returncode == 0

    def unsetenv(self, name: str) -> None:
        self.tool("launchctl", "unsetenv", name)

    # --- the Keychain --------------------------------------------------------------------------

    def keychain_item(self, service: str, account: str = KEYCHAIN_ACCOUNT) -> str | None:
        """The generic password's value, None when there is no such item."""
        found = self.tool("security", "find-generic-password", "-s", service, "-a", account, "-w")
        if found.returncode == ITEM_NOT_FOUND:
            return None
        assert found.returncode == 0, found.stderr
        return found.stdout.rstrip("\n")

    def delete_keychain_item(self, service: str, account: str = KEYCHAIN_ACCOUNT) -> None:
        self.tool("security", "delete-generic-password", "-s", service, "-a", account)

    # --- the app -------------------------------------------------------------------------------

    def install_app(self, name: str, bundle_id: str = "ai.openclaw.mac") -> Path:
        """An app bundle named NAME.app that answers Apple events (quit) and whose process is NAME
        (at most 15 bytes: pgrep -x matches the kernel's 15-byte name)."""
        if self.standins is not None:
            app = self.standins.install_app(name, bundle_id)
        else:
            app = _build_applet(self.root / "Applications", name, bundle_id)
        self._apps.append(app)
        return app

    def app_pid(self, app: Path) -> int | None:
        """By process name, as macOS shows it (CFBundleExecutable; the stand-in's fake app is a
        copy of sleep under that name)."""
        found = self.tool("pgrep", "-U", str(os.getuid()), "-x", _executable(app)).stdout.split()
        return min(int(pid) for pid in found) if found else None

    def start_app(self, app: Path) -> int:
        """``open`` the app as the user did before: it gets launchd's environment as it is now
        (on the stand-ins the call is logged like any other: clear_calls() after it)."""
        assert self.tool("open", str(app)).returncode == 0
        pid = wait_until(lambda: self.app_pid(app), 15)
        assert pid, f"{app} did not start"
        return pid

    def app_env(self, pid: int, name: str) -> str | None:
        """``name`` in the environment the app was started with: ps prints it after the command
        (BSD ps on a Mac spells that ``-E``, ps(1); procps spells it ``e``)."""
        show_env = "-E" if REAL else "e"
        shown = self.tool("ps", show_env, "-ww", "-o", "command=", "-p", str(pid)).stdout.split()
        values = [word.split("=", 1)[1] for word in shown if word.startswith(f"{name}=")]
        return values[-1] if values else None

    # --- tunnels -------------------------------------------------------------------------------

    def ssh_tunnels(self, home: Path) -> list[int]:
        """Pids of ``ssh -N`` processes whose command line names ``home`` (its ssh config).
        ``ps -A -ww -o pid=,command=`` reads the same on BSD ps and procps; a zombie shows as
        ``(ssh)``/``[ssh] <defunct>``, without its arguments, so it is not counted."""
        found = []
        for line in self.tool("ps", "-A", "-ww", "-o", "pid=,command=").stdout.splitlines():
            pid, _, command = line.strip().partition(" ")
            words = command.split()
            if words and words[0].endswith("ssh") and "-N" in words and str(home) in command:
                found.append(int(pid))
        return found

    # --- teardown ------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """After each test. A real Mac: ``forget()``. The stand-ins: their own cleanup, which
        kills whatever they started (their world is thrown away with tmp_path)."""
        if self.standins is None:
            self.forget()
        else:
            self.standins.cleanup()

    def forget(self) -> None:
        """Boot out this test's agents, unset the token in launchd, delete the Keychain item,
        end the apps: through the tools, so a Linux test can prove it on the stand-ins."""
        for label in (self.label, TOKEN_PUSH_LABEL):
            if self.loaded(label):
                self.bootout(label)
            self.tool("launchctl", "enable", f"{_domain()}/{label}")  # a test may have disabled it
        self.unsetenv(TOKEN_VARIABLE)
        self.delete_keychain_item(f"openclaw-remote:{self.alias}")
        for app in self._apps:
            pid = self.app_pid(app)
            if pid:
                os.kill(pid, signal.SIGTERM)
                wait_until(lambda app=app: self.app_pid(app) is None, 5)


def _executable(app: Path) -> str:
    return plistlib.loads((app / "Contents" / "Info.plist").read_bytes())["CFBundleExecutable"][:15]


# A stay-open applet: its runtime answers the quit Apple event (AppleScript Language Guide,
# "Stay-Open Script Applications"); idle returns the seconds until the next idle call.
APPLET_SCRIPT = "on idle\nreturn 300\nend idle"


def _build_applet(folder: Path, name: str, bundle_id: str) -> Path:
    """NAME.app from ``osacompile -s`` (stay-open), its executable and bundle id renamed, then
    signed again ad hoc: editing Info.plist breaks the seal, and Apple silicon runs no
    executable whose signature does not verify. Darwin only (osacompile, codesign)."""
    folder.mkdir(parents=True, exist_ok=True)
    app = folder / f"{name}.app"
    subprocess.run(["osacompile", "-s", "-o", str(app), "-e", APPLET_SCRIPT], check=True, capture_output=True)
    info_path = app / "Contents" / "Info.plist"
    info = plistlib.loads(info_path.read_bytes())
    executable = info["CFBundleExecutable"]  # "applet"
    (app / "Contents" / "MacOS" / executable).rename(app / "Contents" / "MacOS" / name)
    resources = app / "Contents" / "Resources"
    if (resources / f"{executable}.rsrc").exists():  # unverified whether the runtime looks it up by the new name:
        shutil.copy2(resources / f"{executable}.rsrc", resources / f"{name}.rsrc")  # both names are there
    info.update(CFBundleExecutable=name, CFBundleIdentifier=bundle_id, CFBundleName=name)
    info_path.write_bytes(plistlib.dumps(info))
    # codesign refuses extended attributes ("resource fork, Finder information, or similar detritus")
    subprocess.run(["xattr", "-cr", str(app)], check=True, capture_output=True)
    subprocess.run(["codesign", "--force", "--deep", "--sign", "-", str(app)], check=True, capture_output=True)
    return app


def real_mac_problem() -> str | None:
    """Why the real backend must not run here, or None: it changes the user's launchd session
    (the fixed token agent label, launchd's token variable). Whether this is a GUI (Aqua)
    session is the wizard's own check, but a runner outside one would fail every test the same
    way: said once, here, with what launchd answered."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return ("the darwin tests drive this Mac's real launchd and login Keychain, including the wizard's own "
                f"{TOKEN_PUSH_LABEL} agent and launchd's {TOKEN_VARIABLE}: run them on a throwaway Mac "
                "(the macOS workflow, where GITHUB_ACTIONS=true)")
    manager = subprocess.run(["launchctl", "managername"], capture_output=True, text=True).stdout.strip()
    if manager != "Aqua":
        return (f"launchctl managername says {manager or 'nothing'!r}, not 'Aqua': this job does not run in the "
                "runner user's GUI session, so there is no gui/UID domain for the darwin tests")
    return None
