"""What a step sees of the world: the home it works in, answers, and the ways to act."""

from __future__ import annotations

import os
import pwd
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard import files, runner
from wizard.answers import Resolver, load_answers_file, read_stdin_secret
from wizard.errors import UsageError
from wizard.i18n import _
from wizard.report import Report
from wizard.state import State, config_dir, inside
from wizard.step import Question
from wizard.ui import UI


def passwd_home() -> Path:
    """The home ssh uses for ``~`` (from the passwd entry, not $HOME)."""
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


@dataclass(eq=False, repr=False)  # no repr: env holds the token's and the password's variables
class Context:
    home: Path
    platform: str
    interactive: bool
    dry_run: bool
    ui: UI
    state: State
    resolver: Resolver
    questions: dict[str, Question]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    step_name: str | None = None
    report: Report = field(default_factory=lambda: Report(""))  # what --json prints at the end

    @property
    def real_home(self) -> bool:
        """True when ``home`` is the one ssh itself would use, so defaults need no -F."""
        return self.home.resolve() == passwd_home().resolve()

    @property
    def config_dir(self) -> Path:
        return config_dir(self.home)

    @property
    def backup_dir(self) -> Path:
        return self.config_dir / "backups"

    @property
    def owner(self) -> files.Owner | None:
        """Who what this run creates belongs to: the home's owner when root works for them."""
        return files.home_owner(self.home)

    def path(self, *parts: str) -> Path:
        return self.home.joinpath(*parts)

    # answers --------------------------------------------------------------
    def answer(self, name: str) -> Any:
        """The answer to a question any loaded step declared (asked now if not yet)."""
        try:
            question = self.questions[name]
        except KeyError:
            raise KeyError(f"no step declares a question named {name!r}") from None
        return self.resolver.get(question, self)


    def answer_if_given(self, name: str) -> Any:
        """The answer only if the user gave it (flag, variable, stdin, file): never prompts."""
        value = self.resolver.given(self.questions[name])
        if value is not None and self.questions[name].secret:
            self.add_secret(value)
        return value

    def forget(self, name: str) -> None:
        """Drop this run's answer (and its flag) so that the next ``answer(name)`` asks again."""
        self.resolver.values.pop(name, None)
        self.resolver.flags = {**self.resolver.flags, name: None}

    def confirm(self, prompt: str, default: bool = False) -> bool | None:
        """Ask yes/no. None when nobody can be asked (--yes): the caller decides what that means."""
        if not self.interactive:
            return None
        from wizard import prompts

        return prompts.confirm(prompt, default=default)

    def add_secret(self, value: str) -> None:
        if value:
            self.ui.secrets.add(value)

    def mask(self, text: str) -> str:
        return self.ui.mask(text)

    # step's own record ------------------------------------------------------
    @property
    def record(self) -> dict:
        """What this step recorded in an earlier run (read-only view)."""
        return dict(self.state.step(self.step_name or ""))

    def remember(self, **data: Any) -> None:
        """Keep facts about this step's work (a pid, a path) in the state file. No secrets."""
        if not self.dry_run and self.step_name:
            self.state.data["steps"].setdefault(self.step_name, {}).update(data)
            self.state.save()

    # acting -------------------------------------------------------------------
    def run(self, argv: list[str], *, input: str | None = None, timeout: float = 30.0,
            env: dict | None = None) -> runner.Result:
        """Run a command. While planning only read-only commands may run (ssh -G, probes)."""
        return runner.run(argv, input=input, timeout=timeout, env=env if env is not None else self.env)

    def start(self, argv: list[str], *, timeout: float = 30.0, env: dict | None = None,
              until: str | None = None) -> runner.Started:
        """Start a read-only command (a probe) that runs while other checks go on; its
        ``result()`` is the ``run`` result (``until``: see ``runner.Started``)."""
        return runner.start(argv, timeout=timeout, env=env if env is not None else self.env, until=until)

    def _refuse_in_dry_run(self) -> None:
        if self.dry_run:
            raise RuntimeError(_("internal error: a write was attempted during a dry run"))

    def write_file(self, path: Path, text: str | bytes, *, mode: int = 0o600, dir_mode: int = 0o700,
                   backup: bool = True, exact_mode: bool = False) -> None:
        self._refuse_in_dry_run()
        target = files.real_path(path)
        new = [*files.missing_parents(target), *([] if target.exists() else [target])]
        if backup and target.exists():
            new += files.missing_parents(self.backup_dir / "-")
        touched = self.state.note_touched(target)
        self._note_created(new, save=touched)  # before creating them: a kill midway leaves nothing undo does not know
        try:
            saved = files.write_atomic(path, text, mode=mode, dir_mode=dir_mode, owner=self.owner,
                                       backup_dir=self.backup_dir if backup else None, root=self.home,
                                       exact_mode=exact_mode)
        except BaseException:
            self._forget_never_created(new)
            raise
        if saved:
            self.ui.say("  " + _("backup of {path}: {backup}").format(path=path, backup=saved))
            self._note_replaced(target, saved)

    def replaced_original(self, path: Path) -> Path | None:
        """The backup of what was at ``path`` before the wizard first replaced it (a file the user
        had), or None: undo can put it back."""
        saved = self.state.data.get("replaced", {}).get(str(files.real_path(path)))
        # Only a backup of ours: a hand-edited state must not copy some other file into place.
        trusted = saved and inside(Path(saved), self.backup_dir) and Path(saved).is_file()
        return Path(saved) if trusted else None

    def _note_replaced(self, target: Path, saved: Path) -> None:
        replaced = self.state.data.setdefault("replaced", {})
        if str(target) not in replaced and str(target) not in self.state.created:  # the user's, not ours
            replaced[str(target)] = str(saved)
            self.state.save()

    def remove_file(self, path: Path, *, backup: bool = True) -> None:
        self._refuse_in_dry_run()
        if backup and path.exists():
            self._note_created(files.missing_parents(self.backup_dir / "-"))
        files.remove(path, backup_dir=self.backup_dir if backup else None, root=self.home)

    def make_dir(self, directory: Path, mode: int = 0o700) -> None:
        """Create ``directory`` (and its parents) if missing; undo removes what this created."""
        self._refuse_in_dry_run()
        missing = files.missing_parents(directory / "-")
        self._note_created(missing)  # first: see write_file
        files.make_dirs(missing, mode, self.owner)

    def adopt(self, path: Path, mode: int) -> None:
        """A file a child program (ssh-keygen, ssh) just created for us: exactly ``mode`` whatever
        the umask, and the home's owner when root works for another user (see ``owner``)."""
        self._refuse_in_dry_run()
        if path.is_symlink():  # not one it made: leave the user's link (and its target) alone
            return
        os.chmod(path, mode)
        if self.owner is not None:
            os.chown(path, *self.owner)

    def _note_created(self, paths: list[Path], save: bool = False) -> None:
        if paths or save:
            self.state.note_created(paths)
            self.state.save()

    def _forget_never_created(self, paths: list[Path]) -> None:
        """After a failed write: what was noted but never made is not ours (the user may make it)."""
        gone = [str(path) for path in paths if not path.exists()]
        if gone:
            self.state.data["created"] = [p for p in self.state.created if p not in gone]
            self.state.save()


def current_platform() -> str:
    return os.environ.get("OPENCLAW_REMOTE_PLATFORM") or ("darwin" if sys.platform == "darwin" else "linux")


withheld: dict[str, str] = {}  # secret variables taken out of os.environ while a command runs


def restore_environment() -> None:
    """Put back the secret variables ``make_context`` withheld: a caller in the same process (a
    test, a plugin) gets its environment as it was."""
    os.environ.update(withheld)
    withheld.clear()


def make_context(home: Path, questions: dict, *, dry_run: bool, interactive: bool, writes: bool | None = None,
                 flags: dict, stdin_names: list[str], answers_file: Path | None, stdout_is_data: bool,
                 report: Report | None = None) -> Context:
    """The context of one command: its answers' sources, its state, its UI, and an environment for
    children with every secret variable taken out (call ``restore_environment`` when it ends)."""
    state = State.load(home)
    if (not dry_run) if writes is None else writes:
        files.check_access(state.path)  # every change is recorded there first: a read-only one stops now
    if len(stdin_names) > 1:
        first, *others = (questions[name] for name in stdin_names)
        raise UsageError(_("{flags} all read standard input, and it can hold only one secret: keep {first}, and "
                           "give the other in its variable ({variables})").format(
            flags=", ".join(questions[name].flag + "-stdin" for name in stdin_names), first=first.flag + "-stdin",
            variables=", ".join(q.env_var for q in others)))
    stdin_secret = (stdin_names[0], read_stdin_secret()) if stdin_names else None
    resolver = Resolver(
        flags=flags, env=dict(os.environ), saved=state.answers, interactive=interactive, stdin_secret=stdin_secret,
        file_answers=load_answers_file(answers_file, {n for n, q in questions.items() if q.secret})
        if answers_file else {},
    )
    ui = UI(stdout_is_data=stdout_is_data)
    unknown = sorted(set(resolver.file_answers) - set(questions))
    if unknown:
        ui.warn(_("{path}: unknown answers ignored: {keys} (known: {known})").format(
            path=answers_file, keys=", ".join(unknown), known=", ".join(sorted(questions))))
    # Children (a long-lived ssh -N among them) must not inherit a token or password that was
    # handed to us in the environment: `ps eww` would show it to any process of the user.
    secret_vars = {q.env_var for q in questions.values() if q.secret}
    child_env = {key: value for key, value in os.environ.items() if key not in secret_vars}
    for name in secret_vars & set(os.environ):  # the resolver keeps its copy; no child started any way
        withheld[name] = os.environ.pop(name)    # inherits one (restore_environment puts them back)
    ctx = Context(home=home, platform=current_platform(), interactive=interactive, dry_run=dry_run,
                  ui=ui, state=state, resolver=resolver, questions=questions, env=child_env)
    if report is not None:
        ctx.report = report
        ctx.report.mask = ui.mask  # the secrets this run learns are masked in it too
    return ctx
