"""``openclaw-remote doctor [--fix]``: status, then the cause and the fix of every failing layer.

The host knows no layer: each check's Health carries its advice and its repair (actions to
perform, steps to re-run). ``--fix`` repairs the earliest failing layer first and then looks at
everything again, because one repair (a key copied again) often mends the layers after it (the
tunnel). Each check is repaired at most once per run, so doctor always ends.
"""

from __future__ import annotations

from wizard.context import Context
from wizard.flow import guarded, run_steps
from wizard.i18n import _
from wizard.report import CHANGED, FAILED, SKIPPED, WOULD_CHANGE
from wizard.status import gather, json_rows, not_set_up_health, nothing_set_up, say_lines
from wizard.step import Check, Health, Step, StepFailed


def rerun(check: Check, health: Health) -> tuple[str, ...]:
    return (check.step,) if health.rerun is None else health.rerun


def _fix_lines(check: Check, health: Health, ctx: Context) -> list[str]:
    lines = [line for action in health.actions for line in action.describe(ctx).strip().splitlines()]
    steps = rerun(check, health)
    if steps:
        lines.append(_("re-run: openclaw-remote run {steps}").format(steps=" ".join(steps)))
    return lines


def _follows(health: Health, failing) -> bool:
    """A failure that follows from another one, when that one does fail (else it stands alone)."""
    return bool(health.follows) and any(check.name == health.follows for check, _h in failing)


def explain(failing: list[tuple[Check, Health]], ctx: Context) -> None:
    ui = ctx.ui
    for check, health in failing:
        ui.say("")
        ui.say(_("{title}: {reason}").format(title=check.title, reason=health.reason), style="bold")
        if _follows(health, failing):
            ui.say("  " + _("follows from '{name}': the fix there mends this too").format(name=health.follows))
            continue
        if health.advice:
            ui.say("  " + health.advice)
        fix = _fix_lines(check, health, ctx)
        if fix:
            ui.say("  " + _("fix:"))
            for line in fix:
                ui.say("    " + line)
        else:
            ui.say("  " + _("fix: yours to make (doctor cannot do it for you)"))


def _failing(found):
    return [(check, health) for check, health in found if health.status != "ok"]


def _next_repair(failing, tried: set[str], ctx: Context):
    for check, health in failing:
        if check.name not in tried and not _follows(health, failing) and _fix_lines(check, health, ctx):
            return check, health
    return None


def _consent(ctx: Context, check: Check, assume_yes: bool) -> bool | None:
    if assume_yes or ctx.dry_run:
        return True
    return ctx.confirm(_("Apply the fix for '{title}'?").format(title=check.title), default=True)


def _apply(check: Check, health: Health, steps: dict[str, Step], ctx: Context) -> bool:
    ctx.step_name = check.step  # what an action remembers belongs to the layer's step
    try:
        for action in health.actions:
            if ctx.dry_run:
                ctx.ui.say(_("would do:"))
                ctx.ui.block(action.describe(ctx))
            else:
                guarded(action.perform, ctx)
    except StepFailed as failure:
        ctx.ui.error(_("the fix for '{title}' failed: {why}").format(title=check.title, why=failure.message))
        _note_repair(ctx, check, FAILED, failure.message)
        return False
    finally:
        ctx.step_name = None
    names = [name for name in rerun(check, health) if name in steps]
    ok = not names or run_steps([steps[name] for name in names], ctx) == 0
    _note_repair(ctx, check, WOULD_CHANGE if ctx.dry_run else CHANGED if ok else FAILED,
                 None if ok else _("re-running {steps} failed").format(steps=", ".join(names)))
    return ok


def _note_repair(ctx: Context, check: Check, status: str, reason: str | None) -> None:
    """One repair in the --json report (docs/status.md): which layer, what came of its fix."""
    ctx.report.extra.setdefault("repairs", []).append(
        {"check": check.name, "status": status, "reason": ctx.mask(reason) if reason else None})
    if status == CHANGED:
        ctx.report.extra["changed"] = True


def run_doctor(checks: list[Check], steps: dict[str, Step], ctx: Context, *, fix: bool, assume_yes: bool) -> int:
    ui = ctx.ui
    if nothing_set_up(ctx):  # one line and the way forward, not every layer misdiagnosed
        ui.error(not_set_up_health(ctx).reason)
        ctx.report.error(not_set_up_health(ctx).reason)
        return 1
    found = gather(checks, ctx)
    ctx.report.extra.update(checks=json_rows(found, ctx), repairs=[])
    say_lines(found, ctx)
    failing = _failing(found)
    if not failing:
        ui.ok(_("every layer is ok: nothing to repair"))
        return 0
    explain(failing, ctx)
    if not fix:
        ui.say("")
        ui.say(_("Run 'openclaw-remote doctor --fix' to apply the fixes above (it asks before each one)."))
        return 1
    tried: set[str] = set()
    while (target := _next_repair(failing, tried, ctx)) is not None:
        check, health = target
        tried.add(check.name)
        ui.say("")
        ui.heading(_("Repairing '{title}'").format(title=check.title))
        consent = _consent(ctx, check, assume_yes)
        if consent is None:
            ui.warn(_("not applied: nobody to ask; pass --yes to apply the fixes without asking"))
            _note_repair(ctx, check, SKIPPED, _("nobody to ask; pass --yes"))
            break
        if not consent:
            _note_repair(ctx, check, SKIPPED, _("declined"))
            continue
        _apply(check, health, steps, ctx)
        if ctx.dry_run:
            continue  # nothing changed: the next fix is shown against the same findings
        failing = _failing(gather(checks, ctx))
    if ctx.dry_run:
        ui.say(_("Dry run: nothing was changed."), style="bold")
        return 1
    ui.say("")
    ui.heading(_("After the repairs:"))
    found = gather(checks, ctx)
    ctx.report.extra["checks"] = json_rows(found, ctx)
    say_lines(found, ctx)
    left = _failing(found)
    if left:
        ui.error(_("still failing: {names}").format(names=", ".join(check.name for check, _h in left)))
        return 1
    ui.ok(_("every layer is ok now"))
    return 0
