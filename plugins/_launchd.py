"""launchd agents (macOS), shared by the steps that install one: plists via plistlib,
loading with ``launchctl bootstrap``, replacing cleanly with ``bootout`` first."""

from __future__ import annotations

import os
import plistlib
from pathlib import Path

from wizard import Run
from wizard.i18n import _

TOKEN_VARIABLE = "OPENCLAW_GATEWAY_TOKEN"  # what OpenClaw.app reads from launchd's environment
TOKEN_PUSH_LABEL = "openclaw-remote.token-push"  # our login agent, not one of OpenClaw's labels
# Labels of OpenClaw itself (field notes): the app, and its own local gateway agent (ai.openclaw.<profile>
# for named profiles). A tunnel agent under one of these would replace OpenClaw's.
OPENCLAW_LABELS = ("ai.openclaw.mac", "bot.molt.mac", "ai.openclaw.gateway", "com.clawdbot.gateway")
MAX_LABEL = 128  # <label>.plist and <label>.service stay well inside NAME_MAX (255)
NOT_LOADED = (3, 113)  # bootout's "No such process" / "Could not find service": already gone is fine


def domain() -> str:
    return f"gui/{os.getuid()}"


def plist_path(ctx, label: str) -> Path:
    return ctx.path("Library", "LaunchAgents", f"{label}.plist")


def log_path(ctx, name: str) -> Path:
    return ctx.path("Library", "Logs", f"{name}.log")


def render(job: dict) -> str:
    return plistlib.dumps(job, sort_keys=False).decode("utf-8")


def read(path: Path) -> dict | None:
    """The plist's contents; None when missing or not a plist we can read."""
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


def loaded_pid(ctx, label: str) -> tuple[bool, int | None]:
    """(loaded?, pid of the running job) from ``launchctl print``."""
    result = ctx.run(["launchctl", "print", f"{domain()}/{label}"], timeout=10)
    if not result.ok:
        return False, None
    for line in result.stdout.splitlines():
        key, _sep, value = line.strip().partition(" = ")
        if key == "pid" and value.strip().isdigit():
            return True, int(value)
    return True, None


def last_run(ctx, label: str) -> tuple[bool, int | None, int | None]:
    """(loaded?, pid while running, last exit code) from ``launchctl print``; the exit code is
    None when launchd shows none (never exited) or prints it in a shape we do not know."""
    result = ctx.run(["launchctl", "print", f"{domain()}/{label}"], timeout=10)
    if not result.ok:
        return False, None, None
    pid = code = None
    for line in result.stdout.splitlines():
        key, _sep, value = line.strip().partition(" = ")
        value = value.strip()
        if key == "pid" and value.isdigit():
            pid = int(value)
        elif key == "last exit code" and value.lstrip("-").isdigit():
            code = int(value)
    return True, pid, code


def wait_finished(ctx, label: str, timeout: float) -> tuple[bool, int | None, int | None]:
    """Wait (briefly polling) until a run-once job is no longer running; returns last_run."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        state = last_run(ctx, label)
        if state[1] is None or time.monotonic() >= deadline:
            return state
        time.sleep(0.1)


def bootout(label: str) -> Run:
    return Run(["launchctl", "bootout", f"{domain()}/{label}"], why=_("unload"), ok_codes=(0, *NOT_LOADED))


BOOTSTRAP_RETRY_SECONDS = 5.0


class Bootstrap(Run):
    """``launchctl bootstrap``, retried briefly: right after a ``bootout`` launchd can still
    answer "5: Input/output error" while the old job is going away."""

    def perform(self, ctx) -> None:
        result = ctx.run(self.argv, timeout=self.timeout)
        if result.returncode == 5:
            with ctx.ui.waiting(_("launchd is still unloading the old job; trying again (up to {s:g} s)…").format(
                    s=BOOTSTRAP_RETRY_SECONDS)):
                result = self._retry(ctx)
        if result.returncode != 0:
            from wizard import StepFailed

            raise StepFailed(_("{command} failed (exit {code}): {stderr}").format(
                command=" ".join(self.argv), code=result.returncode, stderr=result.stderr.strip() or "-"))

    def _retry(self, ctx):
        import time

        deadline = time.monotonic() + BOOTSTRAP_RETRY_SECONDS
        while True:
            time.sleep(0.25)
            result = ctx.run(self.argv, timeout=self.timeout)
            if result.returncode != 5 or time.monotonic() >= deadline:
                return result


def bootstrap(path: Path) -> Run:
    return Bootstrap(["launchctl", "bootstrap", domain(), str(path)], why=_("load"))


def load_actions(ctx, label: str, path: Path, changed: bool) -> list:
    """Load the agent; an agent already loaded is replaced (bootout, then bootstrap) only if
    its plist changed, since bootstrap fails on a loaded label."""
    loaded, _pid = loaded_pid(ctx, label)
    if loaded and not changed:
        return []
    return ([bootout(label)] if loaded else []) + [bootstrap(path)]


def getenv(ctx, name: str) -> str:
    """``launchctl getenv NAME`` ("" when unset or unreadable). Compare it; never print it."""
    result = ctx.run(["launchctl", "getenv", name], timeout=10)
    value = result.stdout.strip() if result.ok else ""
    if value:
        ctx.add_secret(value)
    return value
