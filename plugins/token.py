"""Step ``token``: the Gateway token, kept in the keyring and given to launchd (guide step 3).

``launchctl setenv`` is lost at logout and reboot, so a small login agent of ours sets it again
at every login. It runs only what ships with macOS (``/bin/sh`` running ``security``,
``launchctl``, ``pgrep``, ``ps``, ``open``), never this Python: a Python path vanishes when
Homebrew upgrades Python or a uv/pipx environment is rebuilt, and launchd then fails silently
at every login. The Keychain item trusts ``/usr/bin/security`` (plugins/_keyring.py), so the
read asks nothing. The token is only ever in the Keychain, in the shell's memory, and in that
one ``launchctl setenv`` call.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field

from plugins import _app, _common, _gateway, _keyring, _launchd, _openclaw_cli, _ports, _remote
from wizard import Action, Check, Command, Health, Question, RemoveFile, Run, Step, StepFailed, UsageError, hookimpl
from wizard.i18n import _

VARIABLE = _launchd.TOKEN_VARIABLE
PUSH_LABEL = _launchd.TOKEN_PUSH_LABEL
TOKEN_TRIES = 3
AGENT_TIMEOUT = 20.0  # the push is instant; quitting and opening the app takes up to 15 s


def check_token(text: str) -> str:
    if not text:
        raise ValueError(_("the token is empty"))
    if len(text) > 4096:
        raise ValueError(_("the token is longer than 4096 characters"))
    if any(char.isspace() or unicodedata.category(char).startswith("C") for char in text):
        raise ValueError(_("the token contains whitespace or control characters"))
    return text


TOKEN = Question("token", _("Gateway token (hidden; stored in your keyring)"), secret=True, env=VARIABLE,
                 validate=check_token, upfront=False)
# Asked before the hidden prompt: the ssh login we set up can read the token where the Gateway runs.
FROM_REMOTE = Question("token_from_remote", _("Fetch the token from the remote machine over ssh?"), default=True,
                       confirm=True, upfront=False,
                       help=_("fetch the Gateway token from the remote machine over ssh ('openclaw gateway auth-token "
                              "--show' there) instead of typing it"))


PUSH_SHELL = "/bin/sh"
# The login agent's script. Its values arrive as positional arguments ($1 service, $2 account,
# $3 variable, $4 app, $5 the app's process name) and are never parsed as shell text. The token
# stays in a shell variable (not exported: no child's environment gets it) and is compared with
# the shell's own test builtin, never passed to a program but launchctl setenv.
# After the push: launchd does not order login agents against login items, so OpenClaw.app may
# already run without the token; then it is quit (SIGTERM: an Apple event would need the
# Automation consent, a dialog at login) and opened again, and it reads launchd's environment.
PUSH_SCRIPT = """\
token=$(security find-generic-password -s "$1" -a "$2" -w)
found=$?
if [ "$found" -ne 0 ] || [ -z "$token" ]; then
  echo "openclaw-remote: the Keychain gave no token for $1 (security exit $found); run 'openclaw-remote doctor'" >&2
  exit 1
fi
launchctl setenv "$3" "$token" || exit 1
uid=$(id -u)
pid=$(pgrep -U "$uid" -x "$5" | head -n 1)
[ -n "$pid" ] || exit 0
environment() {
  if [ -r "/proc/$pid/environ" ]; then tr '\\000' '\\n' < "/proc/$pid/environ"
  else ps -E -ww -o command= -p "$pid" | tr ' ' '\\n'; fi
}
if ! environment | grep -q '^HOME='; then  # ps -E showed no environment: say so, do not restart at every login
  echo "openclaw-remote: cannot see $5's environment (ps -E shows none): not restarting it" >&2
  exit 0
fi
if environment | { while IFS= read -r entry; do [ "$entry" = "$3=$token" ] && exit 0; done; exit 1; }; then
  exit 0
fi
echo "openclaw-remote: $5 was started without the token: restarting it" >&2
kill -TERM "$pid"
tries=0
while pgrep -U "$uid" -x "$5" > /dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -gt 75 ]; then echo "openclaw-remote: $5 did not quit within 15 s" >&2; exit 1; fi
  sleep 0.2
done
open "$4"
"""


def push_command(ctx, alias: str) -> list[str]:
    app = _app.app_path(ctx)
    return [PUSH_SHELL, "-c", PUSH_SCRIPT, PUSH_LABEL, _keyring.service(alias), _keyring.ACCOUNT, VARIABLE,
            app, _app.app_executable(app)]


def push_agent(ctx, alias: str) -> dict:
    return {
        "Label": PUSH_LABEL,
        "ProgramArguments": push_command(ctx, alias),
        "RunAtLoad": True,
        "StandardErrorPath": str(_launchd.log_path(ctx, PUSH_LABEL)),
    }


@dataclass(eq=False, repr=False)
class StoreToken(Action):
    alias: str
    token: str = field(repr=False)

    def describe(self, ctx):
        return _("store the token in the keyring (service {service}, account {account})").format(
            service=_keyring.service(self.alias), account=_keyring.ACCOUNT) + "\n"

    def perform(self, ctx):
        _keyring.set_token(self.alias, self.token)


@dataclass(eq=False, repr=False)
class DeleteToken(Action):
    alias: str

    def describe(self, ctx):
        return _("delete the token from the keyring (service {service}, account {account})").format(
            service=_keyring.service(self.alias), account=_keyring.ACCOUNT) + "\n"

    def perform(self, ctx):
        _keyring.delete_token(self.alias)


def _stored_token(ctx, alias: str) -> str | None:
    """The stored token. An unreadable keyring stops a real run; a dry run only warns, so that
    the rest of the plan still shows."""
    try:
        return _keyring.get_token(alias)
    except StepFailed as failure:
        if not ctx.dry_run:
            raise
        ctx.ui.warn(failure.message)
        return None


class Token(Step):
    name = "token"
    title = _("the Gateway token, in your keyring (and launchd on macOS)")
    # After the tunnel: a new token is tried on the Gateway before it is stored.
    after = ("tunnel",)
    before = ("app-restart",)
    questions = (_common.ALIAS, TOKEN, FROM_REMOTE, _remote.REMOTE_OPENCLAW)

    def preflight(self, ctx):
        if ctx.platform == "darwin":
            _common.check_editable(_launchd.plist_path(ctx, PUSH_LABEL))
            _launchd.check_ours(_launchd.plist_path(ctx, PUSH_LABEL), PUSH_LABEL)
            _launchd.require_gui_session(ctx)  # before the Keychain: over ssh it is locked
        alias = ctx.answer("alias")
        try:
            stored = _keyring.get_token(alias)
        except StepFailed as failure:
            raise StepFailed(failure.message + " " + _(
                "The tunnel does not need it: leave this step out for now (for example 'openclaw-remote run ssh-config "
                "ssh-key tunnel'), and run 'openclaw-remote run token' once a keyring works.")) from None
        if (not stored and not ctx.interactive and not ctx.answer_if_given("token")
                and not ctx.answer_if_given("token_from_remote")):
            raise UsageError(_("no Gateway token, and nobody can be asked for it: set {env}, pass "
                               "--token-stdin, or fetch it with --token-from-remote").format(env=VARIABLE))

    def plan(self, ctx):
        alias = ctx.answer("alias")
        stored = _stored_token(ctx, alias)
        if stored:
            ctx.add_secret(stored)
        token = self._wanted(ctx, alias, stored)
        if token != stored and not ctx.dry_run:
            token = self._accepted(ctx, token)
        actions: list[Action] = []
        if token != stored:
            actions.append(StoreToken(alias, token))
        if ctx.platform == "darwin":
            actions += self._launchd_actions(ctx, alias, token)
        return actions

    @staticmethod
    def _wanted(ctx, alias: str, stored: str | None) -> str:
        given = ctx.answer_if_given("token")
        if given:
            return given
        if stored and not ctx.confirm(_("A token is already stored for {alias}. Replace it?").format(alias=alias)):
            return stored
        from_remote = Token._from_remote(ctx)
        if ctx.dry_run:
            # a dry run never asks for a secret, nor fetches one: shown as is, a placeholder
            return "<token from the remote>" if from_remote else "<token>"
        if not from_remote:
            return ctx.answer("token")
        fetched = _openclaw_cli.fetch_token(ctx, alias)
        try:
            return check_token(fetched)  # the same rules as a typed token
        except ValueError as exc:
            raise StepFailed(_("the token fetched from the remote machine cannot be used: {why}").format(why=exc),
                             kept=_("The token was not stored.")) from None

    @staticmethod
    def _from_remote(ctx) -> bool:
        """--token-from-remote (or its variable or answers-file key); in a terminal, a yes/no first.
        A token handed to us in the environment or on stdin is used as it is."""
        if ctx.answer_if_given("token"):
            return False
        if (not ctx.interactive or ctx.dry_run) and not ctx.answer_if_given("token_from_remote"):
            return False  # a dry run asks for no secret, so it does not offer to fetch one either
        return bool(ctx.answer("token_from_remote"))

    @staticmethod
    def _accepted(ctx, token: str) -> str:
        """Try a new token on the Gateway before keeping it, when the tunnel is up to ask: a typed one
        that is refused is asked again (three tries, as the password); a refused one is never stored."""
        port = _common.answer_known(ctx, "local_port")
        for attempt in range(1, TOKEN_TRIES + 1):
            tunnel = bool(port) and _ports.accepting(port)
            fetched = bool(ctx.resolver.values.get("token_from_remote")) and not ctx.answer_if_given("token")
            if not tunnel and fetched:  # no tunnel yet, but the alias reaches the Gateway: a short-lived probe
                remote_port = int(_common.answer_known(ctx, "remote_port") or _common.REMOTE_PORT.default)
                result = _remote.probe_gateway(ctx, ctx.answer("alias"), remote_port, token)
            elif not tunnel:
                return token  # no tunnel yet: the handshake checks it later
            else:
                result = _gateway.probe(port, token)
            if result.kind != _gateway.TOKEN_REJECTED:
                return token
            if fetched:
                raise StepFailed(_("the Gateway rejected the token its own host revealed ({code}): the token was "
                                   "probably changed there without a restart; run 'openclaw gateway restart' on the "
                                   "remote machine, then 'openclaw-remote run token'").format(code=result.code),
                                 kept=_("The token was not stored."))
            typed = ctx.interactive and not ctx.answer_if_given("token")
            if not typed or attempt == TOKEN_TRIES:
                raise StepFailed(_("the Gateway rejected this token ({code}): copy the token from the Gateway's "
                                   "configuration and run 'openclaw-remote run token'").format(code=result.code),
                                 kept=_("The token was not stored."))
            ctx.ui.warn(_("the Gateway rejected this token ({code}); please type it again ({n} of {total})").format(
                code=result.code, n=attempt, total=TOKEN_TRIES))
            ctx.forget("token")
            token = ctx.answer("token")
        return token

    @staticmethod
    def _launchd_actions(ctx, alias: str, token: str) -> list[Action]:
        actions: list[Action] = []
        current = _launchd.getenv(ctx, VARIABLE)
        if current and current != token:
            ctx.ui.warn(_("launchd holds a different {var} (a stale value there is the classic cause of "
                          "persistent \"unauthorized\"); it will be replaced").format(var=VARIABLE))
        if current != token:
            actions.append(Run(["launchctl", "setenv", VARIABLE, token], why=_("for apps started from now on")))
        path = _launchd.plist_path(ctx, PUSH_LABEL)
        agent = push_agent(ctx, alias)
        changed = _launchd.existing(path) != agent
        actions += _launchd.write_plist(path, agent)
        actions += _launchd.load_actions(ctx, PUSH_LABEL, path, changed)
        return actions

    def verify(self, ctx):
        alias = ctx.answer("alias")
        token = _keyring.get_token(alias)
        if not token:
            raise StepFailed(_("the keyring does not return the token after storing it"))
        if ctx.platform == "darwin":
            self._verify_push_agent(ctx)
            if _launchd.getenv(ctx, VARIABLE) != token:
                raise StepFailed(_("launchd does not hold the stored token after launchctl setenv"))
        port = _common.answer_known(ctx, "local_port")
        if port and _ports.accepting(port):
            result = _gateway.probe(port, token)
            if result.kind == _gateway.TOKEN_REJECTED:
                raise StepFailed(
                    _(
                        "the Gateway rejected this token ({code}): copy the token from the "
                        "Gateway's configuration and run 'openclaw-remote run token'"
                    ).format(code=result.code),
                    kept=_("The token is stored; the Gateway refuses it."),
                )

    @staticmethod
    def _verify_push_agent(ctx) -> None:
        """The agent ran when it was loaded (RunAtLoad), as it will at each login: wait for it to
        finish (so that an app restart it began is over before the app-restart step looks), and
        check that it could read the Keychain and push, with no one there to answer a dialog."""
        loaded, running, code = _launchd.wait_finished(ctx, PUSH_LABEL, AGENT_TIMEOUT)
        if running is not None:
            raise StepFailed(_("the login agent {label} is still running after {s:g} s; see {log}").format(
                label=PUSH_LABEL, s=AGENT_TIMEOUT, log=_launchd.log_path(ctx, PUSH_LABEL)))
        if loaded and code not in (0, None):
            raise StepFailed(_("the login agent {label} could not push the token (exit {code}); see {log}").format(
                label=PUSH_LABEL, code=code, log=_launchd.log_path(ctx, PUSH_LABEL)))

    def undo(self, ctx):
        alias = ctx.answer("alias")
        stored = _stored_token(ctx, alias)
        ctx.add_secret(stored or "")
        actions: list[Action] = [DeleteToken(alias)] if stored else []
        if ctx.platform != "darwin":
            return actions
        current = _launchd.getenv(ctx, VARIABLE)
        if current and current == stored:
            actions.append(Run(["launchctl", "unsetenv", VARIABLE], why=_("apps started from now on no longer get it")))
        elif current:
            ctx.ui.warn(_("launchd holds a {var} that is not the stored token: left as it is").format(var=VARIABLE))
        if _launchd.loaded_pid(ctx, PUSH_LABEL)[0]:
            actions.append(_launchd.bootout(PUSH_LABEL))
        for path in (_launchd.plist_path(ctx, PUSH_LABEL), _launchd.log_path(ctx, PUSH_LABEL)):
            if path.exists():
                actions.append(RemoveFile(path, backup=False))  # ours alone: the login agent and its log
        return actions


class TokenCommand(Command):
    name = "token"
    help = _(
        "token push: set launchd's OPENCLAW_GATEWAY_TOKEN from the keyring (by hand; the login agent does it at login)"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "action",
            choices=["push"],
            help=_("push: set launchd's OPENCLAW_GATEWAY_TOKEN from the keyring (what the login agent does at login)"),
        )
        parser.add_argument("--alias", help=_common.ALIAS.prompt)

    def run(self, ctx, args) -> int:
        alias = ctx.answer("alias")
        try:
            token = _keyring.get_token(alias)
        except StepFailed as failure:
            ctx.ui.error(failure.message)
            return 1
        if not token:
            ctx.ui.error(_("no token is stored for {alias}; run 'openclaw-remote run token'").format(alias=alias))
            return 1
        ctx.add_secret(token)
        if ctx.platform != "darwin":
            ctx.ui.say(_("nothing to push: launchd only exists on macOS (the token stays in the keyring)"))
            return 0
        result = ctx.run(["launchctl", "setenv", VARIABLE, token], timeout=10)
        if not result.ok:
            ctx.ui.error(_("launchctl setenv failed: {why}").format(why=ctx.mask(result.stderr.strip())))
            return 1
        ctx.ui.ok(_("{var} set for {alias}").format(var=VARIABLE, alias=alias))
        return 0


@hookimpl
def register_steps(register):
    register(Token())


@hookimpl
def register_commands(register):
    register(TokenCommand())


class KeyringCheck(Check):
    name, step = "token-keyring", "token"
    title = _("token in the keyring")

    def run(self, ctx):
        try:
            token = _keyring.get_token(ctx.answer("alias"))
        except StepFailed as failure:
            return Health("fail", failure.message, rerun=(),
                          advice=_("Without a keyring the token cannot be kept safely; the message above says how "
                                   "to get one. Then run 'openclaw-remote run token'."))
        if token:
            return Health("ok", _("stored"))
        return Health("fail", _("no token stored"), rerun=("token", "app-restart"),
                      advice=_("The keyring has no Gateway token for this alias (the entry was deleted, or the token "
                               "step never ran). The fix asks for the token (without a terminal: "
                               "OPENCLAW_GATEWAY_TOKEN or --token-stdin with --yes) and stores it."))


class LaunchdTokenCheck(Check):
    name, step = "token-launchd", "token"
    title = _("token in launchd's environment")

    def run(self, ctx):
        if ctx.platform != "darwin":
            return Health("ok", _("not needed on this platform"))
        try:
            stored = _keyring.get_token(ctx.answer("alias"))
        except StepFailed as failure:
            return Health("fail", failure.message, follows="token-keyring", rerun=())
        if not stored:
            return Health("fail", _("no token stored to compare with"), follows="token-keyring")
        current = _launchd.getenv(ctx, VARIABLE)
        fix = _(" The fix sets it from the keyring and restarts OpenClaw.app, which reads it only when it starts.")
        if not current:
            return Health("fail", _("{var} is not set in launchd (lost at logout?)").format(var=VARIABLE),
                          advice=_("launchd forgets it at every logout, and the login agent that sets it again did "
                                   "not run.") + fix, rerun=("token", "app-restart"))
        if current != stored:
            return Health("fail", _("launchd holds a different {var} than the keyring (stale)").format(var=VARIABLE),
                          advice=_("A stale value in launchd overrides the app's token: the classic cause of a "
                                   "persistent \"unauthorized\".") + fix, rerun=("token", "app-restart"))
        return Health("ok", _("same as the keyring"))


class PushAgentCheck(Check):
    name, step = "token-agent", "token"
    title = _("login agent that gives launchd the token")

    def run(self, ctx):
        if ctx.platform != "darwin":
            return Health("ok", _("not needed on this platform"))
        path = _launchd.plist_path(ctx, PUSH_LABEL)
        job = _launchd.read(path)
        fix = _(" The fix writes the agent again (it runs only macOS's own /bin/sh, security and launchctl) and "
                "loads it.")
        if job is None:
            return Health("fail", _("{path} is missing or unreadable").format(path=path),
                          advice=_("Without it, launchd forgets the token at the next logout.") + fix)
        program = _program(job)
        if not program or not os.path.isfile(program) or not os.access(program, os.X_OK):
            return Health("fail", _("its program {program} does not exist: launchd cannot start it").format(
                program=program or "-"), details={"program": program or ""},
                advice=_("An agent from an earlier version ran a Python that is gone (a Homebrew Python upgrade "
                         "or a rebuilt uv/pipx environment); launchd fails silently at every login.") + fix)
        if job != push_agent(ctx, ctx.answer("alias")):
            return Health("fail", _("{path} is not the agent this version writes").format(path=path),
                          details={"program": program},
                          advice=_("An earlier version's agent runs a Python path that can vanish, and its Keychain "
                                   "read may ask for a password at login.") + fix)
        loaded, _pid, code = _launchd.last_run(ctx, PUSH_LABEL)
        if not loaded:
            return Health("fail", _("written but not loaded in launchd"), advice=_("It runs at the next login only "
                                                                                   "if it is loaded.") + fix)
        if code not in (0, None):
            return Health("fail", _("its last run failed (exit {code}); see {log}").format(
                code=code, log=_launchd.log_path(ctx, PUSH_LABEL)), details={"exit_code": code},
                follows="token-keyring",
                advice=_("The agent could not read the token from the Keychain or push it.") + fix)
        return Health("ok", _("runs {program} (loaded)").format(program=program), details={"program": program})


def _program(job: dict) -> str:
    argv = job.get("ProgramArguments")
    program = job.get("Program") or (argv[0] if isinstance(argv, list) and argv else "")
    return program if isinstance(program, str) else ""


@hookimpl
def register_checks(register):
    register(KeyringCheck())
    register(LaunchdTokenCheck())
    register(PushAgentCheck())
