"""launchd agents (macOS), shared by the steps that install one: plists via plistlib,
loading with ``launchctl bootstrap``, replacing cleanly with ``bootout`` first."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from plugins import _ports
from wizard import Run, StepFailed, WriteFile
from wizard.i18n import _

TOKEN_VARIABLE = "OPENCLAW_GATEWAY_TOKEN"  # what OpenClaw.app reads from launchd's environment
TOKEN_PUSH_LABEL = "openclaw-remote.token-push"  # our login agent, not one of OpenClaw's labels
# Labels of OpenClaw itself (field notes): the app, and its own local gateway agent (ai.openclaw.<profile>
# for named profiles). A tunnel agent under one of these would replace OpenClaw's.
OPENCLAW_LABELS = ("ai.openclaw.mac", "bot.molt.mac", "ai.openclaw.gateway", "com.clawdbot.gateway")
MAX_LABEL = 128  # <label>.plist and <label>.service stay well inside NAME_MAX (255)
PLIST_MODE = 0o644  # launchd refuses group- or world-writable agent plists


def domain() -> str:
    return f"gui/{os.getuid()}"


def plist_path(ctx, label: str) -> Path:
    return ctx.path("Library", "LaunchAgents", f"{label}.plist")


def log_path(ctx, name: str) -> Path:
    return ctx.path("Library", "Logs", f"{name}.log")


def render(job: dict) -> str:
    import plistlib  # here, not at start-up: only the launchd steps write or read a plist

    return plistlib.dumps(job, sort_keys=False).decode("utf-8")


def read(path: Path) -> dict | None:
    """The plist's contents; None when missing or not a plist we can read."""
    import plistlib
    from xml.parsers.expat import ExpatError

    try:
        with open(path, "rb") as handle:
            value = plistlib.load(handle)
    except (OSError, plistlib.InvalidFileException, ValueError, ExpatError):  # expat: broken XML
        return None
    return value if isinstance(value, dict) else None


def existing(path: Path) -> dict | None:
    """The plist at ``path``, None when there is none; a file we cannot read is someone else's
    and is never overwritten."""
    job = read(path)
    if job is None and path.exists():
        from wizard import UsageError

        raise UsageError(_("{path} exists but is not a plist this wizard can read; move it away first").format(
            path=path))
    return job


def check_ours(path: Path, label: str) -> None:
    """Refuse (UsageError) a file at our agent's path that is not a plist for ``label``."""
    job = existing(path)
    if job is not None and job.get("Label") != label:
        from wizard import UsageError

        raise UsageError(_("{path} is an agent for another label ({other!r}); move it away first").format(
            path=path, other=job.get("Label")))


class Service(NamedTuple):  # not a frozen dataclass: see wizard.runner.Result
    """What ``launchctl print gui/UID/LABEL`` says of one service; None where it says nothing."""

    state: str | None = None
    pid: int | None = None
    last_exit: int | None = None  # "last exit code = N"; None for "(never exited)" or an unknown shape


def parse_print(text: str) -> Service:
    """The service's own ``state``, ``pid`` and last exit code from ``launchctl print`` output.

    launchctl(1) says of that output: "IT IS NOT API IN ANY SENSE AT ALL". So this reads only
    ``key = value`` lines at the service's top level (nested blocks such as ``resource coalition
    = {…}`` carry their own ``state``/``active count``), takes the first of each, ignores what it
    does not know and never raises. Output without any block is read line by line the same way.
    The tests feed it output in the shape published from real Macs (tests/data/launchctl-print/)."""
    depth, opened = 0, False
    state = pid = last_exit = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.endswith("{"):
            depth, opened = depth + 1, True
            continue
        if line.startswith("}"):
            depth = max(0, depth - 1)
            continue
        if depth != (1 if opened else 0):
            continue
        key, sep, value = line.partition(" = ")
        value = value.strip()
        if not sep:
            continue
        if key == "state" and state is None:
            state = value
        elif key == "pid" and pid is None and value.isdigit():
            pid = int(value)
        elif key == "last exit code" and last_exit is None and value.lstrip("-").isdigit():
            last_exit = int(value)
    return Service(state, pid, last_exit)


def loaded_pid(ctx, label: str) -> tuple[bool, int | None]:
    """(loaded?, pid of the running job) from ``launchctl print``: loaded is its exit code (0),
    the pid whatever the defensive parser finds (None when it finds none)."""
    result = ctx.run(["launchctl", "print", f"{domain()}/{label}"], timeout=10)
    if not result.ok:
        return False, None
    return True, parse_print(result.stdout).pid


def last_run(ctx, label: str) -> tuple[bool, int | None, int | None]:
    """(loaded?, pid while running, last exit code) from ``launchctl print``; the exit code is
    None when launchd shows none (never exited) or prints it in a shape we do not know."""
    result = ctx.run(["launchctl", "print", f"{domain()}/{label}"], timeout=10)
    if not result.ok:
        return False, None, None
    service = parse_print(result.stdout)
    return True, service.pid, service.last_exit


def wait_finished(ctx, label: str, timeout: float) -> tuple[bool, int | None, int | None]:
    """Wait (briefly polling) until a run-once job is no longer running; returns last_run."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        state = last_run(ctx, label)
        if state[1] is None or time.monotonic() >= deadline:
            return state
        time.sleep(0.1)


# What launchctl's exit status means: launchd's errno values (launchctl(1), errno(2); the field notes).
NOT_LOADED = (3, 113)  # bootout's "No such process" / "Could not find service": already gone is fine
IN_PROGRESS = 36  # EINPROGRESS: bootout accepted; launchd stops the job asynchronously
RETRYABLE = (5, 37)  # EIO / EALREADY right after a bootout: the old job is still going away
DISABLED = 119  # "Service is disabled", in the system domain (gui/UID answers 5; Bootstrap enables first)
NO_DOMAIN = 125  # "Domain does not support specified action": no gui/UID (ssh, MDM, another user)
BOOTOUT_WAIT_SECONDS = 10.0
BOOTSTRAP_RETRY_SECONDS = 5.0


def cause(code: int) -> str:
    """Which of launchd's known causes an exit status is, in words (empty when unknown)."""
    causes = {
        5: _("input/output error: launchd refused the plist or a disabled label, or is still unloading the old job"),
        36: _("operation now in progress: launchd is still unloading the job"),
        37: _("operation already in progress: launchd is still unloading the old job"),
        DISABLED: _("the service is disabled (launchctl disable)"),
        NO_DOMAIN: _("there is no GUI session domain {domain}: this is not your desktop session (ssh, MDM, or "
                     "another user); run openclaw-remote from Terminal on the Mac itself").format(domain=domain()),
        124: _("launchctl did not answer"),
        127: _("launchctl is not on PATH"),
    }
    return causes.get(code, "")


def failed(ctx, argv: list[str], result) -> StepFailed:
    why = cause(result.returncode)
    return StepFailed(_("{command} failed (exit {code}{why}): {stderr}").format(
        command=ctx.mask(" ".join(argv)), code=result.returncode, why=f": {why}" if why else "",
        stderr=ctx.mask(result.stderr.strip()) or "-"))


class Bootout(Run):
    """``launchctl bootout gui/UID/LABEL``. Already gone is fine. Exit 36 means launchd goes on
    stopping the job after launchctl returns: wait (bounded) until ``print`` no longer finds it,
    so that a bootstrap right after does not meet the old job."""

    def perform(self, ctx) -> None:
        result = ctx.run(self.argv, timeout=self.timeout)
        if result.returncode in (0, *NOT_LOADED):
            return
        if result.returncode != IN_PROGRESS:
            raise failed(ctx, self.argv, result)
        label = self.argv[-1].rsplit("/", 1)[-1]
        with ctx.ui.waiting(_("launchd is unloading {label} (up to {s:g} s)…").format(
                label=label, s=BOOTOUT_WAIT_SECONDS)):
            gone = _ports.wait_for(lambda: not loaded_pid(ctx, label)[0], BOOTOUT_WAIT_SECONDS, interval=0.1)
        if not gone:
            raise StepFailed(_("launchd still has {label} loaded {s:g} s after 'launchctl bootout' answered 36 "
                               "(operation now in progress); see 'launchctl print {target}', then re-run").format(
                label=label, s=BOOTOUT_WAIT_SECONDS, target=self.argv[-1]))


def bootout(label: str) -> Run:
    return Bootout(["launchctl", "bootout", f"{domain()}/{label}"], why=_("unload"))


class Bootstrap(Run):
    """``launchctl enable gui/UID/LABEL``, then ``launchctl bootstrap gui/UID PLIST``, for an
    agent whose plist we wrote or put back. Enabled first, every time: a label once disabled
    (``launchctl disable``) stays in launchd's disabled database across reboots and plist
    rewrites, and in a user's GUI domain bootstrap refuses it with 5, the same code as a job still
    unloading (OpenClaw's own fix, openclaw/openclaw#849; 119 is the system domain's answer).
    Retried briefly on 5 or 37 (right after a bootout launchd may still be removing the old job);
    anything else fails at once, naming the cause."""

    def describe(self, ctx) -> str:
        return enable(self.label).describe(ctx) + super().describe(ctx)

    def perform(self, ctx) -> None:
        enabling = enable(self.label)
        enabled = ctx.run(enabling.argv, timeout=self.timeout)
        if not enabled.ok:
            raise failed(ctx, enabling.argv, enabled)
        result = self._with_retries(ctx)
        if result.returncode != 0:
            raise failed(ctx, self.argv, result)

    @property
    def label(self) -> str:
        return Path(self.argv[-1]).name[: -len(".plist")]  # our plists are named LABEL.plist

    def _with_retries(self, ctx):
        import time

        result = ctx.run(self.argv, timeout=self.timeout)
        if result.returncode not in RETRYABLE:
            return result
        deadline = time.monotonic() + BOOTSTRAP_RETRY_SECONDS
        with ctx.ui.waiting(_("launchd is still unloading the old job; trying again (up to {s:g} s)…").format(
                s=BOOTSTRAP_RETRY_SECONDS)):
            while result.returncode in RETRYABLE and time.monotonic() < deadline:
                time.sleep(0.25)
                result = ctx.run(self.argv, timeout=self.timeout)
        return result


def enable(label: str, why: str | None = None) -> Run:
    """``launchctl enable gui/UID/LABEL``: off launchd's disabled list, which outlives reboots."""
    return Run(["launchctl", "enable", f"{domain()}/{label}"], why=why or _("allowed to load"))


def bootstrap(path: Path) -> Run:
    return Bootstrap(["launchctl", "bootstrap", domain(), str(path)], why=_("load"))


def write_plist(path: Path, job: dict) -> list:
    """Write the agent's plist when its content or its mode is not what launchd needs: launchd
    refuses a group- or world-writable agent plist, so it is 0644 even if an older file was not."""
    import stat

    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = None
    if existing(path) == job and mode == PLIST_MODE:
        return []
    return [WriteFile(path, render(job), mode=PLIST_MODE, dir_mode=0o755, exact_mode=True)]


def load_actions(ctx, label: str, path: Path, changed: bool) -> list:
    """Load the agent; an agent already loaded is replaced (bootout, then bootstrap) only if
    its plist changed, since bootstrap fails on a loaded label."""
    loaded, _pid = loaded_pid(ctx, label)
    if loaded and not changed:
        return []
    return ([bootout(label)] if loaded else []) + [bootstrap(path)]


# --- the GUI session -------------------------------------------------------------------------

@dataclass(eq=False)
class _Session:
    """What the session check found for one Context (launchctl is asked once per run)."""

    context: object  # a weak reference: a later Context may get the id of one that is gone
    problem: str | None
    told: bool = False


_sessions: dict[int, _Session] = {}


def _session(ctx) -> _Session:
    import weakref

    found = _sessions.get(id(ctx))
    if found is None or found.context() is not ctx:
        found = _sessions[id(ctx)] = _Session(weakref.ref(ctx), _ask_session(ctx))
    return found


def session_problem(ctx) -> str | None:
    """Why this is not the user's GUI (Aqua) session, or None. Over ssh or from an MDM agent
    ``launchctl managername`` says ``Background`` (or fails), ``gui/UID`` does not exist, the
    login Keychain is locked and an app opened from there is not the user's: stop before any change."""
    return _session(ctx).problem


def _ask_session(ctx) -> str | None:
    manager = ctx.run(["launchctl", "managername"], timeout=10)
    name = manager.stdout.strip() if manager.ok else ""
    if name != "Aqua":
        seen = name or (cause(manager.returncode) or manager.stderr.strip() or f"exit {manager.returncode}")
        return _("this is not your desktop session: launchd's session here is {seen!r}, not 'Aqua' (over ssh, "
                 "from an MDM agent or as another user the login Keychain is locked and {domain} does not exist). "
                 "Run openclaw-remote from Terminal on the Mac while you are logged in there; an administrator "
                 "can see the user guide's 'macOS notes'").format(seen=seen, domain=domain())
    printed = ctx.run(["launchctl", "print", domain()], timeout=10)
    if not printed.ok:
        return _("launchd has no GUI session domain {domain} here (launchctl print {domain}: exit {code}); "
                 "run openclaw-remote from Terminal on the Mac while you are logged in there").format(
            domain=domain(), code=printed.returncode)
    return None


def require_gui_session(ctx) -> None:
    """Preflight of every step that needs launchd's GUI session or the login Keychain (macOS);
    the explanation is given once, the other steps refer to it."""
    session = _session(ctx)
    if not session.problem:
        return
    if session.told:
        raise StepFailed(_("not your desktop session (see above)"))
    session.told = True
    raise StepFailed(session.problem, kept=_("Nothing was changed."))


def getenv(ctx, name: str) -> str:
    """``launchctl getenv NAME`` ("" when unset or unreadable). Compare it; never print it."""
    result = ctx.run(["launchctl", "getenv", name], timeout=10)
    value = result.stdout.strip() if result.ok else ""
    if value:
        ctx.add_secret(value)
    return value
