"""What a step is: its questions, its plan of actions, and how it verifies itself.

A step never writes or runs anything while it plans: ``plan()`` returns a list of
actions, which the host prints (``--dry-run``) or performs, in order. An empty plan
means "already done".
"""

from __future__ import annotations

import shlex
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from wizard.errors import StepFailed
from wizard.i18n import _

# What ``ctx`` is: wizard.context.Context. That module sits above this one (it is built from the
# answers, which are built from steps' questions), so it is named here, never imported.
Context = Any


@dataclass(frozen=True)
class Question:
    """One answer a step needs.

    ``name`` is the answer's key everywhere: the flag ``--local-port`` for
    ``local_port``, the variable ``OPENCLAW_REMOTE_LOCAL_PORT``, the answers-file key.
    ``validate`` turns the text into a value or raises ``ValueError`` with a message
    saying why. A ``default`` may be a callable taking the Context.
    A ``secret`` is asked with hidden input, is never a flag, never saved, never
    shown: it comes from the prompt, ``env`` (default ``OPENCLAW_REMOTE_<NAME>``) or
    ``--<name>-stdin``. A ``confirm`` question is a yes/no switch (``--<name>``).
    ``upfront=False`` questions are asked only when a step calls ``ctx.ask()``.
    """

    name: str
    prompt: str
    default: Any = None
    validate: Callable[[str], Any] | None = None
    secret: bool = False
    confirm: bool = False
    help: str = ""
    env: str | None = None
    upfront: bool = True
    remember: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env_var(self) -> str:
        return self.env or "OPENCLAW_REMOTE_" + self.name.upper()

    @property
    def saved(self) -> bool:
        return self.remember and not self.secret and not self.confirm

    def parse(self, text: Any) -> Any:
        if self.validate is None or not isinstance(text, str):
            return text
        return self.validate(text)


class Action:
    """One change a step makes. ``describe`` feeds the dry run; ``perform`` does it.

    The built-in actions are ``@dataclass(eq=False, repr=False)``: an action is one change,
    compared by identity, and shown by the ``__repr__`` below; Python 3.11 pays ~50-80 µs at every
    start for each method a dataclass writes (the wizard has some twenty actions)."""

    def __repr__(self) -> str:
        fields = getattr(self, "__dataclass_fields__", {})  # a field(repr=False), such as a secret, is left out
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name, spec in fields.items() if spec.repr)
        return f"{type(self).__name__}({shown})"

    def describe(self, ctx: Context) -> str:
        raise NotImplementedError

    def perform(self, ctx: Context) -> None:
        raise NotImplementedError

    def summary(self, ctx: Context) -> str:
        """One line for the state file's record of what the step did."""
        lines = self.describe(ctx).splitlines()
        return lines[0] if lines else type(self).__name__


@dataclass(eq=False, repr=False)
class WriteFile(Action):
    """Write ``text`` to ``path`` atomically, keeping the old file's mode and a backup."""

    path: Path
    text: str | bytes  # bytes: written as they are (a file put back from its backup)
    mode: int = 0o600
    dir_mode: int = 0o700
    backup: bool = True  # False only where the old content is ours alone (undo taking a block out)
    exact_mode: bool = False  # True: an existing file gets ``mode`` too (launchd refuses group-writable plists)

    def old_text(self) -> str:
        try:
            return self.path.read_bytes().decode("utf-8", "replace")  # no newline translation: CRLF stays
        except FileNotFoundError:
            return ""

    def describe(self, ctx: Context) -> str:
        import difflib

        exists = self.path.exists()
        new = self.text if isinstance(self.text, str) else self.text.decode("utf-8", "replace")
        diff = difflib.unified_diff(
            self.old_text().splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=str(self.path) if exists else "/dev/null",
            tofile=str(self.path),
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in diff) + self._mode_change()

    def _mode_change(self) -> str:
        try:
            old = stat.S_IMODE(self.path.stat().st_mode)
        except OSError:
            return ""
        if not self.exact_mode or old == self.mode:
            return ""
        return _("chmod {old:o} -> {new:o} {path}").format(old=old, new=self.mode, path=self.path) + "\n"

    def perform(self, ctx: Context) -> None:
        ctx.write_file(self.path, self.text, mode=self.mode, dir_mode=self.dir_mode, backup=self.backup,
                       exact_mode=self.exact_mode)

    def summary(self, ctx: Context) -> str:
        return _("write {path}").format(path=self.path)


@dataclass(eq=False, repr=False)
class RemoveFile(Action):
    """Remove ``path``; a backup is kept unless the file is ours alone (a log, our own agent)."""

    path: Path
    backup: bool = True

    def describe(self, ctx: Context) -> str:
        return _("remove {path}").format(path=self.path) + "\n"

    def perform(self, ctx: Context) -> None:
        ctx.remove_file(self.path, backup=self.backup)


@dataclass(eq=False, repr=False)
class Run(Action):
    """Run a command (an argument list, never a shell string)."""

    argv: list[str]
    why: str = ""
    timeout: float = 30.0
    ok_codes: tuple[int, ...] = (0,)

    def describe(self, ctx: Context) -> str:
        line = "$ " + ctx.mask(shlex.join(self.argv))
        return (line + f"    # {self.why}" if self.why else line) + "\n"

    def perform(self, ctx: Context) -> None:
        result = ctx.run(self.argv, timeout=self.timeout)
        if result.returncode not in self.ok_codes:
            raise StepFailed(
                _("{command} failed (exit {code}): {stderr}").format(
                    command=ctx.mask(shlex.join(self.argv)),
                    code=result.returncode,
                    stderr=ctx.mask(result.stderr.strip()) or "-",
                )
            )


class Step:
    """Base class for a wizard step. Subclass it, then ``register(MyStep())``.

    Class attributes: ``name`` (unique, used on the command line), ``title`` (one
    line), ``after``/``before`` (names of steps this one must follow/precede),
    ``questions`` (what it needs to know).
    """

    name: str = ""
    title: str = ""
    after: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    questions: tuple[Question, ...] = ()
    # What the step keeps with ctx.remember(): field -> check (wizard.state.is_text, is_pid, ...).
    # A state file whose record fails a check is refused (exit 2) rather than acted on.
    record_fields: dict[str, Callable[[Any], bool]] = {}

    def applies(self, ctx: Context) -> str | None:
        """None when the step applies on this machine, else a one-line reason why not."""
        return None

    def preflight(self, ctx: Context) -> None:
        """Called for every step about to run, once all answers are in and before any step
        changes anything: raise ``UsageError`` for what would stop this step later (a file it
        must not overwrite, a config it cannot parse), so that the run stops with nothing changed."""

    def plan(self, ctx: Context) -> list[Action]:
        """What would change. Reads, never writes. An empty list means already done."""
        raise NotImplementedError

    def verify(self, ctx: Context) -> None:
        """After the actions ran: raise StepFailed unless the step's goal really holds."""

    def undo(self, ctx: Context) -> list[Action] | None:
        """What reverses this step (``openclaw-remote undo``), planned like ``plan()``: reads,
        never writes. An empty list: nothing left to undo. None: this step cannot be undone."""
        return None


class Command:
    """A top-level command a plugin adds (see ``register_commands``), e.g. ``token push``.

    A command that changes things (starts or stops a process, writes a file or the state)
    runs holding the home's lock, as ``setup`` does, so that it cannot interleave with another
    wizard: ``changes(args)`` says whether it does (by default it does). While another wizard
    holds the lock, such a command is refused with exit 2 before ``run`` is called."""

    name: str = ""
    help: str = ""

    def add_arguments(self, parser) -> None:
        """Add this command's arguments to its argparse sub-parser."""

    def changes(self, args) -> bool:
        """True when this invocation may change anything; False only for a command that just
        looks (``tunnel logs``), which then needs no lock."""
        return True

    def run(self, ctx: Context, args) -> int:
        """Do the work; return the exit code (0 ok, 1 failed, 2 bad usage)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Health:
    """What a check found. ``status`` is "ok", "warn" or "fail"; ``reason`` is one line;
    ``details`` are JSON-friendly facts (a pid, a version), never a secret.

    For ``doctor``, a failing Health also says what to do about it: ``advice`` is the likely
    cause and the fix in plain words; ``doctor --fix`` performs ``actions`` (say, one
    ``launchctl`` command), then re-runs the steps named in ``rerun`` (None: the check's own
    ``step``; ``()``: none). With neither, the fix is the user's to make (``advice`` says how).
    ``follows`` names the check whose failure causes this one: doctor fixes that one instead.
    """

    status: str
    reason: str
    details: dict | None = None
    advice: str = ""
    actions: tuple[Action, ...] = ()
    rerun: tuple[str, ...] | None = None
    follows: str = ""


class Check:
    """One layer of ``openclaw-remote status`` (see ``register_checks``)."""

    name: str = ""
    title: str = ""
    step: str = ""  # the step that sets this layer up (also where doctor will look for the fix)
    bound: float = 10.0  # at most how long run() takes, in seconds: status shows the longest while it waits

    def run(self, ctx: Context) -> Health:
        """Look, never change anything; stay within a few seconds even when the remote is gone."""
        raise NotImplementedError
