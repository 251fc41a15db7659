"""Stand-ins for macOS tools (launchctl, open, osascript, security) so the wizard's macOS steps run for real
on Linux with ``OPENCLAW_REMOTE_PLATFORM=darwin``.

Put ``BIN_DIR`` first on PATH and set ``STANDIN_STATE`` to a temp dir (``StandIns.env`` does
both); every call is logged to ``$STANDIN_STATE/calls.jsonl`` and the tools behave like
Apple's for the commands the wizard uses (see each script's docstring). What launchd and
LaunchServices would start (agents' programs, apps) really runs, detached, under small
supervisor processes that reap it; ``StandIns.cleanup()`` kills all of it.

As on macOS, agents and apps get launchd's environment, not the caller's: PATH
``/usr/bin:/bin:/usr/sbin:/sbin`` (override: ``STANDIN_LAUNCHD_PATH`` in the caller's env),
HOME/USER/LOGNAME/SHELL/TMPDIR from the caller, then every ``launchctl setenv`` value (read at
each start), then the plist's EnvironmentVariables. ``STANDIN_STATE`` and ``STANDIN_OWNER``
are added as markers.

Typical use (fixtures in ``tests.standins.fixtures``)::

    def test_x(standins, home):
        app = standins.install_app("OpenClaw")
        env = clean_env(home, OPENCLAW_REMOTE_PLATFORM="darwin", **standins.env)
        ...
        assert ["bootstrap", f"gui/{os.getuid()}", str(plist)] in standins.calls("launchctl")
"""

from __future__ import annotations

import os
import plistlib
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.standins import _standin_lib as lib

__all__ = ["BIN_DIR", "StandIns", "StandInsError", "wait_until"]

BIN_DIR = Path(__file__).resolve().parent / "bin"
TOOLS = ("launchctl", "open", "osascript", "security")


class StandInsError(RuntimeError):
    pass


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.02):
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` s pass
    (returns the last falsy value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class StandIns:
    """One isolated macOS-like world in ``state`` (a fresh temp dir)."""

    def __init__(self, state: Path | str):
        self.state = Path(state)
        self.state.mkdir(parents=True, exist_ok=True)
        self.bin_dir = BIN_DIR
        self._keepers: list[subprocess.Popen] = []

    # --- for the code under test -------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """Merge into a subprocess env: PATH with the stand-ins first, and STANDIN_STATE."""
        return {"PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
                "STANDIN_STATE": str(self.state)}

    def _tool_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def run(self, tool: str, *args: str, env: dict | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a stand-in like the code under test would (the call is logged too)."""
        if tool not in TOOLS:
            raise ValueError(f"not a stand-in: {tool}")
        return subprocess.run([str(BIN_DIR / tool), *args], capture_output=True, text=True,
                              env={**self._tool_env(), **(env or {})}, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    # --- what happened -----------------------------------------------------------------------

    def calls(self, tool: str | None = None) -> list[list[str]]:
        """Logged calls in order. With ``tool``: each call's argv (without the tool name);
        without: ``[tool, *argv]`` for every call."""
        lines = lib.read_lines(self.state, "calls.jsonl")
        if tool is None:
            return [[line["tool"], *line["argv"]] for line in lines]
        return [line["argv"] for line in lines if line["tool"] == tool]

    def clear_calls(self) -> None:
        with lib.locked(self.state):
            (self.state / "calls.jsonl").unlink(missing_ok=True)

    def launchd_env(self) -> dict[str, str]:
        """The ``launchctl setenv`` store."""
        return lib.launchd_env(self.state)

    def loaded(self) -> dict[str, dict]:
        """Loaded agents: label -> record with "plist", "supervisor_pid", "pid" (job pid or None
        while not running; may be stale, see ``job_pid``), "starts", "last_exit",
        "last_signal", "spec" (what was read from the plist)."""
        return lib.load_json(self.state, "launchd-loaded.json", {})

    def disabled(self) -> list[str]:
        """Labels ``launchctl disable`` switched off (persisting across logins, as on macOS)."""
        return lib.load_json(self.state, "launchd-disabled.json", [])

    def job_pid(self, label: str) -> int | None:
        """The pid of the agent's running program, None when not loaded or not running."""
        record = self.loaded().get(label)
        if record and lib.alive(record.get("pid"), record.get("pid_start")):
            return record["pid"]
        return None

    def app_pid(self, name: str | None = None) -> int | None:
        """The pid of the running fake app ``name`` (default: the last one installed), or None."""
        return lib.running_app(self.state, name or getattr(self, "app_name", "OpenClaw"))

    @staticmethod
    def process_env(pid: int) -> dict[str, str]:
        """A process's environment as it was started (/proc/PID/environ)."""
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        return dict(item.split("=", 1) for item in raw.decode("utf-8", "replace").split("\0") if "=" in item)

    # --- preconditions (not logged as calls) ---------------------------------------------------

    def install_app(self, name: str = "OpenClaw", bundle_id: str = "ai.openclaw.mac",
                    folder: Path | str | None = None) -> Path:
        """Create ``NAME.app`` (a bundle with Contents/Info.plist) in ``folder`` (default
        ``$STANDIN_STATE/Applications``, where ``open -a NAME`` looks); returns its path.

        Process names are machine-wide: ``pgrep -x OpenClaw`` also sees another test run's fake
        OpenClaw. Tests that may run concurrently can use a unique name (at most 15 characters,
        the kernel's limit for what ``pgrep -x`` matches), e.g. ``f"OpenClaw{os.getpid()}"``."""
        if not name or "/" in name or len(name.encode()) > 15:
            raise ValueError(f"an app name has 1 to 15 bytes and no '/' (pgrep -x matches 15): {name!r}")
        self.app_name = name
        app = Path(folder or self.state / "Applications") / f"{name}.app"
        (app / "Contents" / "MacOS").mkdir(parents=True, exist_ok=True)
        info = {"CFBundleExecutable": name, "CFBundleIdentifier": bundle_id, "CFBundleName": name,
                "CFBundlePackageType": "APPL"}
        (app / "Contents" / "Info.plist").write_bytes(plistlib.dumps(info))
        return app

    def start_app(self, name: str = "OpenClaw", app: Path | str | None = None,
                  env: dict | None = None) -> int:
        """Start the fake app as if the user had opened it earlier (it gets the launchd env as it
        is NOW); installs the bundle first if needed. ``env`` stands for the caller's env (its
        HOME/USER/... are passed on, as ``open`` would). Returns the app's pid."""
        bundle = Path(app) if app else self.state / "Applications" / f"{name}.app"
        if not bundle.is_dir():
            bundle = self.install_app(name, folder=bundle.parent)
        pid, keeper = lib.launch_app(self.state, bundle.resolve(), {**self._tool_env(), **(env or {})})
        if keeper is not None:
            self._keepers.append(keeper)
        return pid

    @property
    def strict_env(self) -> dict[str, str]:
        """Merge into the env of the code under test: launchctl answers 36 to a bootout of a
        running job and finishes it a moment later, as a real Mac may (see bin/launchctl)."""
        return {"STANDIN_LAUNCHD_STRICT": "1"}

    def set_session(self, manager: str) -> None:
        """``Aqua`` (the GUI login session, the default) or ``Background`` (an ssh session: no
        gui/UID domain)."""
        with lib.locked(self.state):
            lib.save_json(self.state, "launchd-session.json", {"manager": manager})

    def disable(self, label: str) -> None:
        """``launchctl disable gui/UID/LABEL`` as the user may have run it earlier (not logged)."""
        with lib.locked(self.state):
            labels = lib.load_json(self.state, "launchd-disabled.json", [])
            lib.save_json(self.state, "launchd-disabled.json", sorted({*labels, label}))

    def disabled(self) -> list[str]:
        return lib.load_json(self.state, "launchd-disabled.json", [])

    def automation_user(self, answer: str, after: float = 0.3) -> None:
        """How the user answers macOS's Automation dialog: "allow", "deny" or "none", after
        ``after`` s (see bin/osascript)."""
        with lib.locked(self.state):
            lib.save_json(self.state, "tcc.json", {"answer": answer, "after": after})

    def automation_prompts(self) -> list[dict]:
        """Every Automation dialog shown: {"app": NAME, "at": TIME}."""
        return lib.read_lines(self.state, "tcc-prompts.jsonl")

    def setenv(self, name: str, value: str) -> None:
        """Set a launchd variable without logging a call (e.g. a stale token)."""
        with lib.locked(self.state):
            env = lib.launchd_env(self.state)
            env[name] = value
            lib.save_json(self.state, "launchd-env.json", env)

    # --- processes ---------------------------------------------------------------------------

    def _marked(self) -> list[int]:
        """Live processes whose environment carries this world's STANDIN_OWNER mark."""
        mark = f"{lib.OWNER_VARIABLE}={lib.owner_mark(self.state)}".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if mark in environ.split(b"\0") and lib.alive(int(entry)):
                found.append(int(entry))
        return found

    def processes(self) -> list[int]:
        """Every live process the stand-ins started (supervisors, app keepers, jobs, apps)."""
        recorded = {entry["pid"] for entry in lib.read_lines(self.state, "spawned.jsonl")
                    if lib.alive(entry["pid"], entry.get("start"))}
        return sorted(recorded | set(self._marked()))

    def cleanup(self, timeout: float = 5.0) -> None:
        """Kill everything the stand-ins started. Supervisors and keepers first get SIGINT: they
        SIGKILL their job or app and its group and reap them (no zombie left named like it);
        then SIGKILL for whatever is left. Raises StandInsError if a process survives."""
        spawned = lib.read_lines(self.state, "spawned.jsonl")
        keepers = [e for e in spawned if e["kind"].endswith("-keeper") and lib.alive(e["pid"], e.get("start"))]
        for entry in keepers:
            _signal(entry["pid"], signal.SIGINT)
        deadline = time.monotonic() + min(3.0, timeout)
        while any(lib.alive(e["pid"], e.get("start")) for e in keepers) and time.monotonic() < deadline:
            time.sleep(lib.POLL)
        deadline = time.monotonic() + timeout
        while True:
            spawned = lib.read_lines(self.state, "spawned.jsonl")
            # keepers first: then nothing restarts what is killed next
            order = sorted(spawned, key=lambda e: not e["kind"].endswith("-keeper"))
            left = [e["pid"] for e in order if lib.alive(e["pid"], e.get("start"))]
            left += [pid for pid in self._marked() if pid not in left]
            if not left:
                break
            if time.monotonic() >= deadline:
                raise StandInsError(f"stand-in processes survived the cleanup: {left}")
            for pid in left:
                _signal(pid, signal.SIGKILL, group=True)
            time.sleep(lib.POLL)
        for keeper in self._keepers:
            try:
                keeper.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        self._keepers.clear()

    def __enter__(self) -> StandIns:
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


def _signal(pid: int, sig: int, group: bool = False) -> None:
    try:
        if group and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
