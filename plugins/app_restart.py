"""Step ``app-restart``: quit OpenClaw.app and open it again so it reads the token (guide step 5).

Done means: the app runs and its environment already holds the token launchd has (a running
app never sees a later ``launchctl setenv``). Values are compared, never printed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from plugins import _app, _launchd, _ports
from plugins._app import DEFAULT_APP, app_executable, app_name, app_pid, holds
from wizard import Action, Check, Health, Question, Step, StepFailed, UsageError, hookimpl
from wizard.i18n import _

VARIABLE = _launchd.TOKEN_VARIABLE
# Each bounds the whole action (the command, then the wait for the process), as the plan says.
QUIT_TIMEOUT = 15.0
# The app is addressed by its bundle id, an argument of the script, never text parsed as AppleScript.
QUIT_SCRIPT = ("-e", "on run argv", "-e", "tell application id (item 1 of argv) to quit", "-e", "end run")
OPEN_TIMEOUT = 15.0
# The first Apple event to the app shows macOS's Automation (TCC) consent dialog and osascript
# blocks until the user answers; AppleScript's own timeout for an event is 2 minutes (-1712).
CONSENT_TIMEOUT = 120.0
NOT_AUTHORIZED = "(-1743)"  # errAEEventNotPermitted: the user refused (or refused earlier)
TIMED_OUT = "(-1712)"  # errAETimeout: nobody answered the dialog in time
MANUAL_QUIT_TIMEOUT = 60.0


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def check_app(text: str) -> str:
    text = text.strip().rstrip("/")
    if not text.startswith("/") or not text.endswith(".app"):
        raise ValueError(_("the app path must be absolute and end with .app, like /Applications/OpenClaw.app"))
    if len(text.encode("utf-8")) > 1024:
        raise ValueError(_("the app path is longer than 1024 bytes"))
    if ".." in Path(text).parts or any(ord(char) < 32 or char in '"\\' for char in text):
        # (The name reaches osascript as an argument, never as script text; these stay refused
        # so that the path prints and logs plainly.)
        raise ValueError(_("the app path must not contain '..', quotes, backslashes or control characters"))
    return text


APP = Question("app", _("Where OpenClaw.app is installed"), default=DEFAULT_APP, validate=check_app)


@dataclass(eq=False, repr=False)
class QuitApp(Action):
    """Quit the app with an Apple event to its bundle id (as ⌘Q does: it may save and clean up).
    macOS first asks the user whether this terminal may control the app (Automation): say so
    before, allow a human's time, and if the answer is no (-1743) or none comes, fall back:
    ask the user to quit it, or, with nobody to ask, SIGTERM its pid after saying so."""

    name: str
    executable: str
    bundle: str | None = None

    def argv(self) -> list[str]:
        return ["osascript", *QUIT_SCRIPT, self.bundle or ""]

    def describe(self, ctx):
        import shlex

        if not self.bundle:
            return _("send {name} SIGTERM (its Info.plist names no bundle id to send Apple events to)").format(
                name=self.name) + "\n"
        return ("$ " + shlex.join(self.argv()) + "    # "
                + _("then waits until it has quit (up to {s:g} s)").format(s=QUIT_TIMEOUT) + "\n")

    def perform(self, ctx):
        pid = app_pid(ctx, self.executable)
        if pid is None:
            return
        refused = self._apple_event(ctx) if self.bundle else _("its Info.plist names no bundle id")
        if refused:
            self._fall_back(ctx, pid, refused)
            return
        with ctx.ui.waiting(_("waiting for {name} to quit (up to {s:g} s)…").format(name=self.name, s=QUIT_TIMEOUT)):
            gone = _ports.wait_for(lambda: app_pid(ctx, self.executable) is None, QUIT_TIMEOUT, interval=0.1)
        if not gone:
            raise StepFailed(_("{name} did not quit within {s:g} s (an unsaved document or a dialog?)").format(
                name=self.name, s=QUIT_TIMEOUT), kept=_("The app is still running; quit it yourself, then re-run."))

    def _apple_event(self, ctx) -> str | None:
        """None once the app was asked to quit; else why it could not be (refused, no answer)."""
        ctx.ui.say("  " + _("asking {name} to quit. macOS may ask whether your terminal may control {name} "
                            "(Automation): choose OK. Nothing else is sent to it.").format(name=self.name))
        with ctx.ui.waiting(_("waiting for {name} to be asked to quit (up to {s:g} s while macOS asks you)…").format(
                name=self.name, s=CONSENT_TIMEOUT)):
            result = ctx.run(self.argv(), timeout=CONSENT_TIMEOUT + 5)  # osascript says -1712 first
        if result.ok:
            return None
        if NOT_AUTHORIZED in result.stderr:
            return _("macOS did not allow this terminal to control {name} (Automation, error -1743); allow it in "
                     "System Settings > Privacy & Security > Automation").format(name=self.name)
        if TIMED_OUT in result.stderr or result.returncode == 124:
            return _("nobody answered macOS's Automation question in time")
        raise StepFailed(_("osascript could not quit {name}: {why}").format(
            name=self.name, why=result.stderr.strip() or f"exit {result.returncode}"))

    def _fall_back(self, ctx, pid: int, why: str) -> None:
        import os
        import signal

        if ctx.interactive:
            ctx.ui.warn(_("{why}. Quit {name} yourself now (⌘Q); waiting up to {s:g} s…").format(
                why=why, name=self.name, s=MANUAL_QUIT_TIMEOUT))
            gone = _ports.wait_for(lambda: app_pid(ctx, self.executable) is None, MANUAL_QUIT_TIMEOUT, interval=0.2)
            if not gone:
                raise StepFailed(_("{name} is still running").format(name=self.name),
                                 kept=_("The app is still running; quit it yourself, then re-run."))
            return
        ctx.ui.warn(_("{why}. Sending {name} (pid {pid}) SIGTERM instead, as 'kill -TERM {pid}' would: it quits "
                      "without the chance to ask about unsaved work.").format(why=why, name=self.name, pid=pid))
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if not _ports.wait_for(lambda: app_pid(ctx, self.executable) is None, QUIT_TIMEOUT, interval=0.1):
            raise StepFailed(_("{name} did not quit within {s:g} s of SIGTERM").format(name=self.name, s=QUIT_TIMEOUT),
                             kept=_("The app is still running; quit it yourself, then re-run."))


@dataclass(eq=False, repr=False)
class OpenApp(Action):
    app: str

    def describe(self, ctx):
        import shlex

        return ("$ " + shlex.join(["open", self.app]) + "    # "
                + _("then waits until it runs (up to {s:g} s)").format(s=OPEN_TIMEOUT) + "\n")

    def perform(self, ctx):
        started = time.monotonic()
        deadline = started + OPEN_TIMEOUT
        with ctx.ui.waiting(_("waiting for {name} to start (up to {s:g} s)…").format(
                name=app_name(self.app), s=OPEN_TIMEOUT)):
            result = ctx.run(["open", self.app], timeout=OPEN_TIMEOUT)
            if not result.ok:
                raise StepFailed(_("open {app} failed: {why}").format(app=self.app, why=result.stderr.strip()))
            running = _ports.wait_for(lambda: app_pid(ctx, app_executable(self.app)) is not None, _left(deadline),
                                      interval=0.1)
        if not running:
            raise StepFailed(_("{app} did not start within {s:g} s").format(app=self.app, s=OPEN_TIMEOUT))
        ctx.ui.say("  " + _("{name} is running again ({ms} ms)").format(
            name=app_name(self.app), ms=round((time.monotonic() - started) * 1000)))


class AppRestart(Step):
    name = "app-restart"
    title = _("restart OpenClaw.app so it reads the token")
    after = ("tunnel",)
    questions = (APP,)

    def applies(self, ctx):
        return None if ctx.platform == "darwin" else _("OpenClaw.app only exists on macOS")

    def preflight(self, ctx):
        self._installed_app(ctx)
        _launchd.require_gui_session(ctx)  # an app opened from an ssh session is not the user's

    def plan(self, ctx):
        app = self._installed_app(ctx)
        name = app_name(app)
        pid = app_pid(ctx, app_executable(app))
        if pid is None:
            return [OpenApp(app)]
        if _app.process_env_value(ctx, pid, VARIABLE) is _app.UNSEEN:
            # Restarting on every run because we cannot look would be worse than saying so.
            ctx.ui.warn(_("cannot see {name}'s environment (ps -E shows none), so whether it has the token is "
                          "unknown; it is not restarted. If it reports 'unauthorized', quit and reopen it").format(
                name=name))
            return []
        if holds(ctx, pid, VARIABLE, _launchd.getenv(ctx, VARIABLE)):
            return []
        return [QuitApp(name, app_executable(app), _app.bundle_id(app)), OpenApp(app)]

    @staticmethod
    def _installed_app(ctx) -> str:
        app = ctx.answer("app")
        while not Path(app).is_dir():
            if not ctx.interactive:
                raise UsageError(_("OpenClaw.app is not installed at {app}; pass --app PATH").format(app=app))
            ctx.ui.warn(_("OpenClaw.app is not installed at {app}").format(app=app))
            ctx.forget("app")
            app = ctx.answer("app")
        return app

    def verify(self, ctx):
        if app_pid(ctx, app_executable(ctx.answer("app"))) is None:
            raise StepFailed(_("OpenClaw.app is not running after opening it"))

    def undo(self, ctx):
        return []  # a restart leaves nothing behind; the app forgets the token once token's undo ran and it restarts


@hookimpl
def register_steps(register):
    register(AppRestart())


class AppTokenCheck(Check):
    name, step = "app-token", "app-restart"
    title = _("OpenClaw.app holds the token launchd has")

    def run(self, ctx):
        if ctx.platform != "darwin":
            return Health("ok", _("not needed on this platform"))
        app = _app.app_path(ctx)
        pid = app_pid(ctx, app_executable(app))
        if pid is None:
            # Nothing is wrong with an app that is not running: it reads launchd's environment when it starts.
            return Health("ok", _("{name} is not running (it reads the token when it starts)").format(
                name=app_name(app)))
        wanted = _launchd.getenv(ctx, VARIABLE)
        if not wanted:
            return Health("fail", _("launchd holds no {var} to compare with").format(var=VARIABLE),
                          follows="token-launchd", details={"pid": pid})
        if holds(ctx, pid, VARIABLE, wanted):
            return Health("ok", _("pid {pid} started with it").format(pid=pid), details={"pid": pid})
        return Health("fail", _("{name} (pid {pid}) runs with a different or no {var}").format(
            name=app_name(app), pid=pid, var=VARIABLE), details={"pid": pid},
            advice=_("A running app never sees a later 'launchctl setenv': it started before the token was pushed "
                     "(launchd does not order login agents before login items) or before the token changed. The "
                     "fix quits it and opens it again."))


@hookimpl
def register_checks(register):
    register(AppTokenCheck())
