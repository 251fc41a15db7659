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
QUIT_SCRIPT = ("-e", "on run argv", "-e", "tell application (item 1 of argv) to quit", "-e", "end run")
OPEN_TIMEOUT = 15.0


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


@dataclass
class QuitApp(Action):
    name: str
    executable: str

    def argv(self) -> list[str]:
        # The name is the script's argument, never part of its text: nothing the user typed is
        # ever parsed as AppleScript (typographic quotes included).
        return ["osascript", *QUIT_SCRIPT, self.name]

    def describe(self, ctx):
        import shlex

        return ("$ " + shlex.join(self.argv()) + "    # "
                + _("then waits until it has quit (up to {s:g} s)").format(s=QUIT_TIMEOUT) + "\n")

    def perform(self, ctx):
        deadline = time.monotonic() + QUIT_TIMEOUT
        with ctx.ui.waiting(_("waiting for {name} to quit (up to {s:g} s)…").format(name=self.name, s=QUIT_TIMEOUT)):
            result = ctx.run(self.argv(), timeout=QUIT_TIMEOUT)
            if not result.ok:
                raise StepFailed(_("osascript could not quit {name}: {why}").format(
                    name=self.name, why=result.stderr.strip()))
            gone = _ports.wait_for(lambda: app_pid(ctx, self.executable) is None, _left(deadline), interval=0.1)
        if not gone:
            raise StepFailed(_("{name} did not quit within {s:g} s (an unsaved document or a dialog?)").format(
                name=self.name, s=QUIT_TIMEOUT), kept=_("The app is still running; quit it yourself, then re-run."))


@dataclass
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

    def plan(self, ctx):
        app = self._installed_app(ctx)
        name = app_name(app)
        pid = app_pid(ctx, app_executable(app))
        if pid is None:
            return [OpenApp(app)]
        if holds(ctx, pid, VARIABLE, _launchd.getenv(ctx, VARIABLE)):
            return []
        return [QuitApp(name, app_executable(app)), OpenApp(app)]

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
