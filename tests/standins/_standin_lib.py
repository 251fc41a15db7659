"""Shared code for the macOS stand-ins (launchctl, open, osascript, supervise.py).

Standard library only: the stand-ins run under whatever ``python3`` is first on PATH.
All state lives in ``$STANDIN_STATE`` (a test's temp dir); nothing else is read or written.

State files (JSON unless noted), every read-modify-write under ``flock($STANDIN_STATE/.lock)``:
  calls.jsonl          one line per stand-in call: {"tool": NAME, "argv": [...]}
  launchd-env.json     {NAME: VALUE} from ``launchctl setenv``
  launchd-loaded.json  {LABEL: record} for every bootstrapped agent (see launchctl)
  launchd-disabled.json  [LABEL, ...] from ``launchctl disable`` (bootstrap answers 119)
  launchd-session.json {"manager": "Aqua" | "Background"} (Background: no gui/UID domain, as over ssh)
  tcc.json             how the user answers the Automation dialog (see osascript)
  tcc-decisions.json   {APP_NAME: "allow" | "deny"}: answers given, remembered as macOS does
  tcc-prompts.jsonl    one line per Automation dialog shown
  apps.json            {APP_NAME: {"pid": N, "start": T, "app": PATH, "keeper": N}}
  spawned.jsonl        every process a stand-in started: {"pid", "start", "kind", "name"}
  logs/                the supervisors' and app keepers' own stderr
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUPERVISE = HERE / "supervise.py"
OWNER_VARIABLE = "STANDIN_OWNER"  # marks every process a stand-in started (for the cleanup sweep)
LAUNCHD_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"  # what launchd gives agents and apps on macOS
POLL = 0.02


def state_dir() -> Path:
    value = os.environ.get("STANDIN_STATE")
    if not value:
        sys.stderr.write(f"{Path(sys.argv[0]).name} (test stand-in): STANDIN_STATE is not set; "
                         "refusing to run outside a test\n")
        sys.exit(70)
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(state: Path):
    fd = os.open(state / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load_json(state: Path, name: str, default):
    try:
        with open(state / name, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


def save_json(state: Path, name: str, value) -> None:
    tmp = state / f".{name}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, state / name)


def append_line(state: Path, name: str, value) -> None:
    data = (json.dumps(value) + "\n").encode("utf-8")
    fd = os.open(state / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_lines(state: Path, name: str) -> list:
    try:
        text = (state / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def record_call(state: Path, tool: str, argv: list[str]) -> None:
    with locked(state):
        append_line(state, "calls.jsonl", {"tool": tool, "argv": list(argv)})


# --- processes -------------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text.rsplit(")", 1)[1].split()  # fields from 3 (state) on


def proc_start(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): with the pid, identifies it for good."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def alive(pid: int | None, start: int | None = None) -> bool:
    """Running (zombies count as gone), and the same process when ``start`` is given."""
    if not pid:
        return False
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return start is None or int(fields[19]) == start


def wait_gone(pid: int, start: int | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid, start):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True


def wait_vanished(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is not even a zombie any more (pgrep lists zombies)."""
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}"):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL / 4)
    return True


def signal_group(pid: int, sig: int) -> None:
    """Signal the process group ``pid`` leads (every stand-in child is a session leader)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop(pid: int | None, start: int | None, grace: float = 1.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` s (ssh can sleep through SIGTERM)."""
    if not alive(pid, start):
        return
    signal_group(pid, signal.SIGTERM)
    if not wait_gone(pid, start, grace):
        signal_group(pid, signal.SIGKILL)
        wait_gone(pid, start, 2.0)


def spawn_detached(state: Path, argv: list[str], *, kind: str, name: str, env: dict,
                   cwd: str = "/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   executable: str | None = None) -> subprocess.Popen:
    """Start ``argv`` in a new session with no tie to the caller's terminal or pipes, and
    register it for the cleanup. Raises OSError when it cannot be started."""
    child = subprocess.Popen(argv, executable=executable, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                             stdout=stdout, stderr=stderr, start_new_session=True, close_fds=True,
                             umask=0o022)
    append_line(state, "spawned.jsonl",
                {"pid": child.pid, "start": proc_start(child.pid), "kind": kind, "name": name})
    return child


def spawn_helper(state: Path, role: str, spec: dict, *, name: str) -> subprocess.Popen:
    """Start supervise.py (``role`` "job" or "app") detached; its stderr goes to logs/."""
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", LAUNCHD_PATH), "STANDIN_STATE": str(state),
           OWNER_VARIABLE: owner_mark(state), "PYTHONDONTWRITEBYTECODE": "1"}
    if os.environ.get("STANDIN_MAX_LIFETIME"):
        env["STANDIN_MAX_LIFETIME"] = os.environ["STANDIN_MAX_LIFETIME"]
    # The spec goes in a file, not argv: argv shows in ps/pgrep -f (and an app's env holds secrets).
    specs = state / "specs"
    specs.mkdir(exist_ok=True)
    fd, spec_path = tempfile.mkstemp(prefix=f"{role}-", suffix=".json", dir=specs)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)
    with open(logs / f"{role}-{name}.log", "ab") as log:
        return spawn_detached(state, [sys.executable, str(SUPERVISE), role, spec_path],
                              kind=f"{role}-keeper", name=name, env=env, stderr=log)


def owner_mark(state: Path) -> str:
    return str(Path(state).resolve())


# --- launchd's environment -------------------------------------------------------------------

def launchd_base_env(state: Path, caller: dict | None = None) -> dict:
    """What launchd gives the processes it starts on macOS: a short PATH, the user's identity
    and home, NOT the caller's environment. ``STANDIN_LAUNCHD_PATH`` overrides the PATH."""
    caller = dict(os.environ if caller is None else caller)
    try:
        entry = pwd.getpwuid(os.getuid())
        user, shell, home = entry.pw_name, entry.pw_shell, entry.pw_dir
    except KeyError:
        user, shell, home = str(os.getuid()), "/bin/sh", "/"
    env = {
        "PATH": caller.get("STANDIN_LAUNCHD_PATH") or LAUNCHD_PATH,
        "HOME": caller.get("HOME", home),  # the test's temp home stands for the user's home
        "USER": caller.get("USER", user),
        "LOGNAME": caller.get("LOGNAME", user),
        "SHELL": caller.get("SHELL", shell),
        "TMPDIR": caller.get("TMPDIR", "/tmp"),
    }
    env["STANDIN_STATE"] = str(state)
    env[OWNER_VARIABLE] = owner_mark(state)
    return env


def launchd_env(state: Path) -> dict:
    return load_json(state, "launchd-env.json", {})


# --- apps --------------------------------------------------------------------------------------

def app_dirs(state: Path) -> list[Path]:
    configured = os.environ.get("STANDIN_APP_DIRS")
    if configured:
        return [Path(p) for p in configured.split(":") if p]
    dirs = [state / "Applications"]
    if os.environ.get("HOME"):
        dirs.append(Path(os.environ["HOME"]) / "Applications")
    return dirs + [Path("/Applications")]


def app_executable_name(app: Path) -> str:
    """CFBundleExecutable from Contents/Info.plist, else the bundle's name without .app."""
    import plistlib

    try:
        with open(app / "Contents" / "Info.plist", "rb") as handle:
            info = plistlib.load(handle)
        name = info.get("CFBundleExecutable") if isinstance(info, dict) else None
        if isinstance(name, str) and name and "/" not in name:
            return name
    except (OSError, ValueError, plistlib.InvalidFileException):
        pass
    return app.name[: -len(".app")]


def running_app(state: Path, name: str) -> int | None:
    entry = load_json(state, "apps.json", {}).get(name)
    if entry and alive(entry.get("pid"), entry.get("start")):
        return entry["pid"]
    return None


def launch_app(state: Path, app: Path, caller_env: dict | None = None,
               timeout: float = 5.0) -> tuple[int, subprocess.Popen | None]:
    """Start the fake app for bundle ``app`` (a copy of sleep named like the app, run by a keeper
    that reaps it) with launchd's environment; returns (app pid, keeper or None). An app
    already running is left alone, as macOS does."""
    name = app_executable_name(app)
    with locked(state):
        pid = running_app(state, name)
        if pid:
            return pid, None
        binary = state / "apps" / name
        if not binary.exists():
            import shutil

            binary.parent.mkdir(exist_ok=True)
            shutil.copy2(shutil.which("sleep") or "/bin/sleep", binary)
        env = launchd_base_env(state, caller_env)
        env.update(launchd_env(state))
        spec = {"name": name, "app": str(app), "binary": str(binary), "env": env,
                "argv0": str(app / "Contents" / "MacOS" / name)}
        keeper = spawn_helper(state, "app", spec, name=name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = load_json(state, "apps.json", {}).get(name)
        if entry and entry.get("keeper") == keeper.pid:
            return entry["pid"], keeper
        if keeper.poll() is not None:
            break
        time.sleep(POLL)
    raise RuntimeError(f"the fake {name} app did not start (see {state / 'logs'})")
