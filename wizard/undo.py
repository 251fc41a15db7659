"""``openclaw-remote undo [STEP ...]``: each step's own reversal, last step first.

The host knows nothing of what a step did: ``Step.undo(ctx)`` plans the reversal as actions,
exactly as ``plan()`` plans the step. When no step is left recorded, the wizard also takes away
what it kept for itself (its state file, redundant backups, the directories it created), so
that the home is as it was before ``setup``.
"""

from __future__ import annotations

from pathlib import Path

from wizard import files
from wizard.answers import RecordedAnswers
from wizard.errors import UsageError
from wizard.context import Context
from wizard.flow import EXIT_FAILED, EXIT_OK, guarded
from wizard.i18n import _
from wizard.report import CHANGED, DONE, FAILED, SKIPPED, WOULD_CHANGE
from wizard.state import FORMAT, inside
from wizard.step import Step, StepFailed


def _plan(step: Step, ctx: Context, answers: dict):
    ctx.step_name = step.name
    ctx.resolver = recorded_answers(step, ctx, answers)
    return guarded(step.undo, ctx)


def recorded_answers(step: Step, ctx: Context, answers: dict) -> RecordedAnswers:
    """``answers`` (a set this step recorded when it acted), then those other steps recorded,
    then the answers saved by completed runs (all a state file of an older version has)."""
    others = [(name, record.get("answers") or {}) for name, record in ctx.state.data["steps"].items()
              if name != step.name]
    return RecordedAnswers([
        *[(_("answers recorded by {step}").format(step=name), recorded)
          for name, recorded in [(step.name, answers), *others]],
        (_("saved answers"), ctx.state.answers),
    ])


def answer_sets(step: Step, ctx: Context) -> list[dict]:
    """Every set of answers the step acted with, latest first, one per distinct value of its own
    questions: a re-run with another alias left the first alias's block, and undo takes both."""
    record = ctx.state.step(step.name)
    found, seen = [], set()
    for answers in [record.get("answers") or {}, *record.get("earlier_answers", [])]:
        key = tuple(repr(answers.get(question.name)) for question in step.questions)
        if key not in seen:
            seen.add(key)
            found.append(answers)
    return found


def _each_plan(step: Step, ctx: Context):
    """The step's undo plan for each set of answers it acted with, planned one at a time (a real
    undo performs each before planning the next). An answer setup never recorded makes that
    step's undo fail, not undo."""
    if never_acted(ctx, ctx.state.step(step.name)):
        return
    for answers in answer_sets(step, ctx):
        try:
            yield _plan(step, ctx, answers)
        except UsageError as exc:
            raise StepFailed(str(exc)) from exc


def _heading(step: Step, ctx: Context) -> None:
    ctx.ui.heading(_("undo {step}: {title}").format(step=step.name, title=step.title))


def _confirm(steps: list[Step], ctx: Context, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    if not ctx.interactive:
        raise UsageError(_("undo removes what setup made; look first with --dry-run, then pass --yes"))
    names = ", ".join(step.name for step in steps)
    return bool(ctx.confirm(_("Undo these steps, in this order: {names}?").format(names=names), default=False))


def run_undo(steps: list[Step], ctx: Context, *, assume_yes: bool) -> int:
    ui = ctx.ui
    # Only what this wizard set up: a step it never ran may still find files of the same name.
    order = [step for step in reversed(steps) if ctx.state.step(step.name)]
    ctx.report.expect(step.name for step in reversed(steps))
    for step in steps:
        if step not in order:  # what undo is to bring about is already so
            ctx.report.note(step.name, DONE, _("never run here: nothing to undo"))
    if not order:
        if not ctx.dry_run and not ctx.state.path.exists():  # a wizard killed while making its first record
            files.remove_stale_staging(ctx.state.path, ctx.home)
        ui.ok(_("nothing to undo: these steps were never run here"))
        return EXIT_OK
    if ctx.dry_run:
        return _dry_run(order, ctx)
    if not _confirm(order, ctx, assume_yes):
        ui.say(_("Nothing was changed."))
        return EXIT_FAILED
    return _undo(order, ctx)


def _report_failure(ctx: Context, step: Step, failure: StepFailed) -> None:
    ctx.report.note(step.name, FAILED, ctx.mask(failure.message))
    ctx.ui.error(_("undo of {step} failed: {why}").format(step=step.name, why=failure.message))
    if failure.kept:
        ctx.ui.say("  " + failure.kept, err=True)


def _dry_run(order: list[Step], ctx: Context) -> int:
    ui = ctx.ui
    failed = False
    for step in order:
        _heading(step, ctx)
        shown: list[str] = []
        try:
            plans = list(_each_plan(step, ctx))
        except StepFailed as failure:
            _report_failure(ctx, step, failure)
            failed = True
            continue
        if None in plans:
            ui.skip(_("{step}: cannot be undone (its plugin offers no undo)").format(step=step.name))
            ctx.report.note(step.name, SKIPPED, _("its plugin offers no undo"))
            continue
        for text in (action.describe(ctx) for actions in plans for action in actions):
            if text not in shown:  # two answer sets may plan the same removal
                shown.append(text)
        if not shown:
            ui.ok(_("{step}: nothing to undo").format(step=step.name))
            ctx.report.note(step.name, DONE)
            continue
        ctx.report.note(step.name, WOULD_CHANGE, changes=[ctx.mask(first_line(text)) for text in shown])
        ui.say(_("would do:"))
        for text in shown:
            ui.block(text)
    ui.say(_("Dry run: nothing was changed."), style="bold")
    return EXIT_FAILED if failed else EXIT_OK


def first_line(text: str) -> str:
    return next(iter(text.strip().splitlines()), "")


class UndoOutcome:
    def __init__(self) -> None:
        self.undone: list[str] = []
        self.failed: list[tuple[str, str]] = []  # (step, why)
        self.not_undoable: list[str] = []

    def summary(self) -> str:
        parts = [_("undone: {steps}").format(steps=", ".join(self.undone) or "-")]
        if self.failed:
            parts.append(_("failed: {steps}").format(steps=", ".join(f"{name} ({why})" for name, why in self.failed)))
        if self.not_undoable:
            parts.append(_("cannot be undone: {kept}").format(kept=", ".join(self.not_undoable)))
        return "; ".join(parts)


def never_acted(ctx: Context, record: dict) -> bool:
    """A step records its answers before its first action: a failed one without them changed
    nothing (in a state this version started; an older one recorded no answers at all)."""
    return ctx.state.data.get("format", 1) >= FORMAT and record.get("status") == "failed" and "answers" not in record


def _undo_one(step: Step, ctx: Context, outcome: UndoOutcome) -> None:
    ui = ctx.ui
    _heading(step, ctx)
    changed, changes = False, []
    for actions in _each_plan(step, ctx):
        if actions is None:
            ui.skip(_("{step}: cannot be undone (its plugin offers no undo)").format(step=step.name))
            outcome.not_undoable.append(step.name)
            ctx.report.note(step.name, SKIPPED, _("its plugin offers no undo"))
            return
        for action in actions:
            guarded(action.perform, ctx)
            changes.append(ctx.mask(action.summary(ctx)))
        changed = changed or bool(actions)
    ctx.state.data["steps"].pop(step.name, None)
    ctx.state.save()
    outcome.undone.append(step.name)
    ctx.report.note(step.name, CHANGED if changed else DONE, changes=changes)
    ui.ok(_("{step}: undone").format(step=step.name) if changed else
          _("{step}: nothing to undo").format(step=step.name))


def _undo(order: list[Step], ctx: Context) -> int:
    """Every step is undone that can be: one that fails is reported and the others still go."""
    outcome = UndoOutcome()
    for step in order:
        try:
            _undo_one(step, ctx, outcome)
        except StepFailed as failure:
            _report_failure(ctx, step, failure)
            outcome.failed.append((step.name, failure.message))
    if not ctx.state.data["steps"]:
        tidy(ctx)
    ctx.ui.say(outcome.summary(), err=bool(outcome.failed))  # after the errors, so it is what is read last
    return EXIT_FAILED if outcome.failed else EXIT_OK


def tidy(ctx: Context) -> None:
    """Nothing is set up any more: remove the state file, the backups that hold nothing the user
    lacks (the file is back, byte for byte, as the backup has it), and every directory the wizard
    created that is empty now. Other backups are kept and named: they may be all that is left of
    a file (an agent setup replaced or removed, a line written inside our block)."""
    kept = []
    if ctx.backup_dir.is_dir() and inside(ctx.backup_dir, ctx.home):
        for saved in sorted(p for p in ctx.backup_dir.rglob("*") if p.is_file()):
            if saved in files.our_temps(saved.parent):  # a backup cut short by a kill: never a whole one
                saved.unlink()
                continue
            origin = files.backup_origin(ctx.backup_dir, ctx.home, saved)
            if origin.is_file() and origin.read_bytes() == saved.read_bytes():
                saved.unlink()
            else:
                kept.append(saved)
        _remove_empty_dirs(ctx.backup_dir)
    created = ctx.state.created_inside_home()  # a hand-edited path elsewhere is never touched
    ctx.state.path.unlink(missing_ok=True)
    for stale in _our_temps(created, ctx):
        stale.unlink(missing_ok=True)
    for directory in sorted((p for p in created if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        _rmdir_if_empty(directory)
    _rmdir_if_empty(ctx.config_dir)
    if kept:
        ctx.ui.say(_("kept {n} backup(s) of files that differ now: {paths}").format(
            n=len(kept), paths=", ".join(map(str, kept))))


def _our_temps(created: list[Path], ctx: Context) -> list[Path]:
    """Temp files a wizard killed mid-write left next to what it created or replaced (the name
    says they are ours: files.TEMP_MARK)."""
    written = [Path(p) for p in [*ctx.state.data.get("replaced", {}), *ctx.state.touched]]
    folders = {ctx.config_dir, *(p for p in created if p.is_dir()), *(p.parent for p in [*created, *written])}
    return [temp for folder in sorted(folders) if inside(folder, ctx.home) and folder.is_dir()
            for temp in files.our_temps(folder)]


def _remove_empty_dirs(root: Path) -> None:
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        _rmdir_if_empty(directory)
    _rmdir_if_empty(root)


def _rmdir_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty (or gone): someone else's now
