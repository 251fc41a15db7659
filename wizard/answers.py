"""Where answers come from, in order: flags, environment, ``--answers`` file, the last
run's saved answers, defaults; or, interactively, a questionary prompt whose default
is the first of those found."""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import Any, Mapping

from wizard.errors import UsageError  # also importable from here, as plugins did before wizard.errors
from wizard.i18n import _
from wizard.step import Question

Context = Any  # wizard.context.Context, which is built from this module: named, never imported


TRUE_WORDS = {"1", "true", "yes", "y", "on"}
FALSE_WORDS = {"0", "false", "no", "n", "off", ""}


ANSWERS_FILE_LIMIT = 64 * 1024  # a page of answers; /dev/zero or a log file named by mistake is not one
KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def load_answers_file(path: Path, secrets: set[str] = frozenset()) -> dict:
    """The answers in a TOML file: a regular file of at most ANSWERS_FILE_LIMIT bytes (never a
    FIFO or device, which could hang or never end), keys that are answer names, and no secret
    (those come only from a hidden prompt, a variable or ``--NAME-stdin``)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(_("answers file {path} is not a regular file").format(path=path))
        if info.st_size > ANSWERS_FILE_LIMIT:
            raise UsageError(
                _("answers file {path} is larger than {n} KiB").format(path=path, n=ANSWERS_FILE_LIMIT // 1024)
            )
        with open(path, "rb") as handle:
            data = tomllib.loads(handle.read(ANSWERS_FILE_LIMIT + 1).decode("utf-8"))
    except OSError as exc:
        raise UsageError(_("cannot read answers file {path}: {why}").format(path=path, why=exc.strerror)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(_("answers file {path} is not valid TOML: {why}").format(path=path, why=exc)) from None
    except RecursionError:  # [[[[… thousands deep: the parser gives up, and so do we, cleanly
        raise UsageError(
            _("answers file {path} is nested too deeply to be an answers file").format(path=path)
        ) from None
    answers = {}
    for key, value in data.items():
        if not KEY_RE.match(key):
            raise UsageError(
                _("answers file {path}: {key} is not an answer name").format(path=path, key=repr(key[:40]))
            )
        name = key.replace("-", "_")
        if name in secrets:
            raise UsageError(_("answers file {path}: {key} is a secret, never read from a file (it would sit there in "
                               "plain text): use its variable or --{flag}-stdin").format(
                path=path, key=key, flag=name.replace("_", "-")))
        answers[name] = value
    return answers


def _parse_bool(text: Any, source: str) -> bool:
    if isinstance(text, bool):
        return text
    word = str(text).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise UsageError(_("{source}: expected yes or no, got {value!r}").format(source=source, value=text))


class Resolver:
    """Finds the value of each question once, then remembers it for this run."""

    def __init__(self, *, flags: Mapping[str, Any], env: Mapping[str, str], file_answers: Mapping[str, Any],
                 saved: Mapping[str, Any], interactive: bool, stdin_secret: tuple[str, str] | None = None):
        self.flags = flags
        self.env = env
        self.file_answers = file_answers
        self.saved = saved
        self.interactive = interactive
        self.stdin_secret = stdin_secret
        self.values: dict[str, Any] = {}

    def get(self, question: Question, ctx: Context) -> Any:
        if question.name not in self.values:
            if question.secret:
                value = self._secret(question)
                ctx.add_secret(value)
            elif question.confirm:
                value = self._confirm(question)
            else:
                value = self._text(question, ctx)
            self.values[question.name] = value
        return self.values[question.name]

    def given(self, question: Question) -> Any:
        """The value only if the user supplied it (flag, variable, stdin, answers file), else None.
        Never a prompt's answer: callers use this to tell "handed to us" from "typed"."""
        if question.secret:
            if self.stdin_secret and self.stdin_secret[0] == question.name:
                return self._checked(question, self.stdin_secret[1], question.flag + "-stdin")
            return self._checked(question, self.env[question.env_var], question.env_var) if self.env.get(
                question.env_var) else None
        if question.confirm:
            return self._given_switch(question)
        if self.flags.get(question.name) is not None:
            return self._checked(question, self.flags[question.name], question.flag)
        if question.env_var in self.env:
            return self._checked(question, self.env[question.env_var], question.env_var)
        if question.name in self.file_answers:
            return self._checked(question, self.file_answers[question.name], question.name)
        return None

    def _secret(self, question: Question) -> str:
        if self.stdin_secret and self.stdin_secret[0] == question.name:
            value = self.stdin_secret[1]
        elif self.env.get(question.env_var):
            value = self.env[question.env_var]
        elif self.interactive:
            from wizard import prompts

            value = prompts.secret(question.prompt, optional=question.default is not None, question=question)
        elif question.default is not None:
            value = question.default
        else:
            raise UsageError(
                _("{prompt}: no value; set {env} or pass {flag}-stdin").format(
                    prompt=question.prompt, env=question.env_var, flag=question.flag)
            )
        try:
            return question.parse(value)
        except ValueError as exc:
            raise UsageError(f"{question.env_var}: {exc}") from None

    def _given_switch(self, question: Question) -> bool | None:
        if self.flags.get(question.name):
            return True
        if question.env_var in self.env:
            return _parse_bool(self.env[question.env_var], question.env_var)
        if question.name in self.file_answers:
            return _parse_bool(self.file_answers[question.name], question.name)
        return None

    def _confirm(self, question: Question) -> bool:
        given = self._given_switch(question)
        if given is not None:
            return given
        if self.interactive:
            from wizard import prompts

            return prompts.confirm(question.prompt, default=bool(question.default))
        return bool(question.default)

    def _candidate(self, question: Question, ctx: Context) -> tuple[Any, str]:
        if question.env_var in self.env:
            return self.env[question.env_var], question.env_var
        if question.name in self.file_answers:
            return self.file_answers[question.name], _("answers file key {key}").format(key=question.name)
        if question.remember and question.name in self.saved:
            return self.saved[question.name], _("saved answer {key}").format(key=question.name)
        default = question.default(ctx) if callable(question.default) else question.default
        return default, _("default for {flag}").format(flag=question.flag)

    def _text(self, question: Question, ctx: Context) -> Any:
        if self.flags.get(question.name) is not None:
            return self._checked(question, self.flags[question.name], question.flag)
        candidate, source = self._candidate(question, ctx)
        if self.interactive:
            from wizard import prompts

            return prompts.text(question, "" if candidate is None else str(candidate))
        if candidate is None or candidate == "":
            raise UsageError(
                _("no answer for “{prompt}”: pass {flag} (or set {env})").format(
                    prompt=question.prompt, flag=question.flag, env=question.env_var)
            )
        return self._checked(question, candidate, source)

    @staticmethod
    def _checked(question: Question, raw: Any, source: str) -> Any:
        try:
            return question.parse(raw if isinstance(raw, str) else str(raw))
        except ValueError as exc:
            raise UsageError(f"{source}: {exc}") from None


def resolve_upfront(questions: list[Question], ctx: Context, later: list[Question] = ()) -> None:
    """Every up-front answer, before anything changes. Every bad value handed to us (flag,
    variable, answers file) is reported at once, before any prompt, also for the ``later``
    questions a step asks only when it needs them (a token, a yes/no switch); without a terminal,
    so is every answer still missing. In a terminal, saved answers are offered with one
    confirmation."""
    errors = []
    for question in [*questions, *later]:
        try:
            ctx.resolver.given(question)
        except UsageError as error:
            errors.append(error)
    if errors:
        raise UsageError.of(errors)
    if ctx.interactive:
        offer_saved(questions, ctx)
    for question in questions:
        try:
            ctx.answer(question.name)
        except UsageError as error:
            if ctx.interactive:
                raise
            errors.append(error)
    if errors:
        raise UsageError.of(errors)


def _reusable(question: Question, ctx: Context) -> tuple[bool, Any]:
    """(True, value) when the last run's answer would be the prompt's default and still holds."""
    resolver = ctx.resolver
    if (not question.saved or question.name in resolver.values or question.name not in resolver.saved
            or resolver.flags.get(question.name) is not None or question.env_var in resolver.env
            or question.name in resolver.file_answers):
        return False, None
    try:
        return True, question.parse(str(resolver.saved[question.name]))
    except ValueError:
        return False, None  # asked again, with the reason


def offer_saved(questions: list[Question], ctx: Context) -> None:
    """Show the last run's answers and ask once whether to use them: yes, and those questions are
    not asked again; no, and each is asked with its saved value as the default."""
    offered = {}
    for question in questions:
        reusable, value = _reusable(question, ctx)
        if reusable:
            offered[question] = value
    if not offered:
        return
    ctx.ui.say(_("Answers from the last run:"))
    for question, value in offered.items():
        ctx.ui.say("  " + _("{question}: {answer}").format(question=question.prompt, answer=value))
    if ctx.confirm(_("Use these answers?"), default=True):
        for question, value in offered.items():
            ctx.resolver.values[question.name] = value


def read_stdin_secret() -> str:
    """One line from stdin (for --token-stdin / --password-stdin), without its newline."""
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


class RecordedAnswers:
    """Undo's answers: the ones the steps recorded when they acted, never today's flags,
    environment, answers file or defaults, so that a different alias today cannot leave
    yesterday's block behind, and a default cannot name something setup never made."""

    def __init__(self, recorded: list[tuple[str, Mapping[str, Any]]]):
        self.recorded = recorded  # (where it was recorded, answers), the undone step's own first
        self.values: dict[str, Any] = {}
        self.flags: Mapping[str, Any] = {}
        self.interactive = False

    def get(self, question: Question, ctx: Context) -> Any:
        if question.name not in self.values:
            self.values[question.name] = self._recorded(question)
        return self.values[question.name]

    def given(self, question: Question) -> Any:
        return None  # nothing is handed to undo: it acts on records

    def _recorded(self, question: Question) -> Any:
        if question.confirm:
            return False  # undo asks nothing but its own consent
        if question.secret:
            raise UsageError(_("undo never asks for {prompt}").format(prompt=question.prompt))
        for where, answers in self.recorded:
            if question.name in answers:
                return Resolver._checked(question, answers[question.name], where)
        raise UsageError(_("no recorded answer for {flag}: setup never used it here").format(flag=question.flag))


def settle_answers(ctx: Context) -> None:
    """Resolve the answers once from flags, environment and the last run, never prompting: looking
    at what is set up must not ask what was already answered (and the resolver is not thread-safe,
    so this happens before the checks' threads start). Prompts stay on for what comes later."""
    prompting, ctx.resolver.interactive = ctx.resolver.interactive, False
    try:
        for name, question in ctx.questions.items():
            if not (question.secret or question.confirm):
                try:
                    ctx.answer(name)
                except UsageError:
                    pass  # the checks that need it report it
    finally:
        ctx.resolver.interactive = prompting
