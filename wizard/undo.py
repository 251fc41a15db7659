"""``openclaw-remote undo [STEP ...]``: each step's own reversal, last step first.

The host knows nothing of what a step did: ``Step.undo(ctx)`` plans the reversal as actions,
exactly as ``plan()`` plans the step. When no step is left recorded, the wizard also takes away
what it kept for itself (its state file, redundant backups, the directories it created), so
that the home is as it was before ``setup``.
"""

from __future__ import annotations

from pathlib import Path

from wizard import files
from wizard.answers import UsageError
from wizard.context import Context
from wizard.flow import EXIT_FAILED, EXIT_OK, guarded
from wizard.i18n import _
from wizard.status import settle_answers
from wizard.step import Step, StepFailed


def _plan(step: Step, ctx: Context):
    ctx.step_name = step.name
    ctx.ui.heading(_("undo {step}: {title}").format(step=step.name, title=step.title))
    return guarded(step.undo, ctx)


def _confirm(steps: list[Step], ctx: Context, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    if not ctx.interactive:
        raise UsageError(_("undo removes what setup made; look first with --dry-run, then pass --yes"))
    names = ", ".join(step.name for step in steps)
    return bool(ctx.confirm(_("Undo these steps, in this order: {names}?").format(names=names), default=False))


def run_undo(steps: list[Step], ctx: Context, *, assume_yes: bool) -> int:
    ui = ctx.ui
    settle_answers(ctx)  # the last run's answers: undo asks nothing but consent
    # Only what this wizard set up: a step it never ran may still find files of the same name.
    order = [step for step in reversed(steps) if ctx.state.step(step.name)]
    if not order:
        ui.ok(_("nothing to undo: these steps were never run here"))
        return EXIT_OK
    try:
        if ctx.dry_run:
            return _dry_run(order, ctx)
        if not _confirm(order, ctx, assume_yes):
            ui.say(_("Nothing was changed."))
            return EXIT_FAILED
        return _undo(order, ctx)
    except StepFailed as failure:
        ui.error(_("undo of {step} failed: {why}").format(step=ctx.step_name, why=failure.message))
        if failure.kept:
            ui.say("  " + failure.kept, err=True)
        return EXIT_FAILED


def _dry_run(order: list[Step], ctx: Context) -> int:
    ui = ctx.ui
    for step in order:
        actions = _plan(step, ctx)
        if actions is None:
            ui.skip(_("{step}: cannot be undone (its plugin offers no undo)").format(step=step.name))
        elif not actions:
            ui.ok(_("{step}: nothing to undo").format(step=step.name))
        else:
            ui.say(_("would do:"))
            for action in actions:
                ui.block(action.describe(ctx))
    ui.say(_("Dry run: nothing was changed."), style="bold")
    return EXIT_OK


def _undo(order: list[Step], ctx: Context) -> int:
    ui = ctx.ui
    undone, kept = [], []
    try:
        for step in order:
            actions = _plan(step, ctx)
            if actions is None:
                ui.skip(_("{step}: cannot be undone (its plugin offers no undo)").format(step=step.name))
                kept.append(step.name)
                continue
            for action in actions:
                guarded(action.perform, ctx)
            ctx.state.data["steps"].pop(step.name, None)
            ctx.state.save()
            undone.append(step.name)
            ui.ok(_("{step}: undone").format(step=step.name) if actions else
                  _("{step}: nothing to undo").format(step=step.name))
    except StepFailed:
        ui.say(_("undone: {done}; not undone: {left}").format(
            done=", ".join(undone) or "-", left=", ".join(s.name for s in order if s.name not in undone)), err=True)
        raise
    if not ctx.state.data["steps"]:
        tidy(ctx)
    ui.say(_("undone: {done}").format(done=", ".join(undone) or "-")
           + ("; " + _("cannot be undone: {kept}").format(kept=", ".join(kept)) if kept else ""))
    return EXIT_OK


def tidy(ctx: Context) -> None:
    """Nothing is set up any more: remove the state file, the backups that hold nothing the user
    lacks (the file is back, byte for byte, as the backup has it), and every directory the wizard
    created that is empty now. Other backups are kept and named: they may be all that is left of
    a file (an agent setup replaced or removed, a line written inside our block)."""
    kept = []
    if ctx.backup_dir.is_dir():
        for saved in sorted(p for p in ctx.backup_dir.rglob("*") if p.is_file()):
            origin = files.backup_origin(ctx.backup_dir, ctx.home, saved)
            if origin.is_file() and origin.read_bytes() == saved.read_bytes():
                saved.unlink()
            else:
                kept.append(saved)
        _remove_empty_dirs(ctx.backup_dir)
    created = [Path(p) for p in ctx.state.created]
    ctx.state.path.unlink(missing_ok=True)
    for directory in sorted((p for p in created if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        _rmdir_if_empty(directory)
    _rmdir_if_empty(ctx.config_dir)
    if kept:
        ctx.ui.say(_("kept {n} backup(s) of files that differ now: {paths}").format(
            n=len(kept), paths=", ".join(map(str, kept))))


def _remove_empty_dirs(root: Path) -> None:
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        _rmdir_if_empty(directory)
    _rmdir_if_empty(root)


def _rmdir_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty (or gone): someone else's now
