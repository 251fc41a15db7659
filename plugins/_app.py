"""OpenClaw.app as a process (macOS): where it is, whether it runs, what its environment holds.
Shared by the app-restart step, the token step's login agent and their checks."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_APP = "/Applications/OpenClaw.app"


def app_name(app: str) -> str:
    return Path(app).name[: -len(".app")]


def app_path(ctx) -> str:
    """The app answer given in this run or saved by an earlier one, without asking for it: the
    token step writes it into its login agent, which may have to restart the app."""
    if "app" not in ctx.questions:
        return ctx.state.answers.get("app") or DEFAULT_APP
    return (ctx.answer_if_given("app") or ctx.resolver.values.get("app") or ctx.state.answers.get("app")
            or DEFAULT_APP)


def app_executable(app: str) -> str:
    """The process name (macOS matches CFBundleExecutable, cut to 15 characters)."""
    import plistlib
    from xml.parsers.expat import ExpatError

    try:
        with open(Path(app) / "Contents" / "Info.plist", "rb") as handle:
            name = plistlib.load(handle).get("CFBundleExecutable") or app_name(app)
    except (OSError, ValueError, plistlib.InvalidFileException, ExpatError):
        name = app_name(app)
    return str(name)[:15]


def app_pid(ctx, name: str) -> int | None:
    result = ctx.run(["pgrep", "-U", str(os.getuid()), "-x", name], timeout=5)
    pids = [int(word) for word in result.stdout.split() if word.isdigit()]
    return min(pids) if pids else None


def bundle_id(app: str) -> str | None:
    """CFBundleIdentifier from the app's Info.plist (OpenClaw: ai.openclaw.mac, older bot.molt.mac)."""
    import plistlib
    from xml.parsers.expat import ExpatError

    try:
        with open(Path(app) / "Contents" / "Info.plist", "rb") as handle:
            value = plistlib.load(handle).get("CFBundleIdentifier")
    except (OSError, ValueError, AttributeError, plistlib.InvalidFileException, ExpatError):
        return None
    return value if isinstance(value, str) and value else None


PROC = Path("/proc")  # Linux only (the tests point it elsewhere to take the macOS path)
UNSEEN = object()  # the process's environment could not be seen at all


def process_env_value(ctx, pid: int, variable: str):
    """``variable`` in a running process's environment (None when it has none), or ``UNSEEN``:
    /proc where it exists, else macOS's ``ps -E`` (BSD ps; procps spells it ``e``). BSD ps shows
    the environment of the same user's processes but not of Apple platform binaries: an output
    with no variable at all (launchd always gives an app PATH and HOME) is an environment unseen."""
    environ = PROC / str(pid) / "environ"
    if PROC.is_dir():
        if not environ.exists():
            return None
        for item in environ.read_bytes().split(b"\0"):
            name, _sep, value = item.decode(errors="replace").partition("=")
            if name == variable:
                return value
        return None
    result = ctx.run(["ps", "-E", "-ww", "-o", "command=", "-p", str(pid)], timeout=5)
    words = result.stdout.split()
    if not any(word.startswith(("PATH=", "HOME=")) for word in words):
        return UNSEEN
    for word in words:
        if word.startswith(variable + "="):
            return word[len(variable) + 1:]
    return None


def holds(ctx, pid: int, variable: str, wanted: str) -> bool:
    """Does the process's environment hold ``variable`` = ``wanted``? Compared in constant time,
    in this process only: neither value is printed, logged or written anywhere."""
    value = process_env_value(ctx, pid, variable)
    value = "" if value is None or value is UNSEEN else value
    from hmac import compare_digest  # here, not at start-up: only this check compares a token

    return compare_digest(value.encode(), wanted.encode())
