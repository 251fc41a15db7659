"""Running steps: ask everything first, then plan, apply, verify and record each step."""

from __future__ import annotations

from wizard.answers import resolve_upfront
from wizard.errors import UsageError
from wizard.context import Context
from wizard.i18n import _
from wizard.report import CHANGED, DONE, FAILED, NOT_RUN, SKIPPED, WOULD_CHANGE, WOULD_STOP
from wizard.step import Step, StepFailed

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Outcome:
    def __init__(self) -> None:
        self.done: list[str] = []
        self.unchanged: list[str] = []
        self.skipped: list[str] = []
        self.planned: list[str] = []
        self.stopped: list[str] = []  # a dry run: their preflight says a real run would stop
        self.failed: str | None = None

    def summary(self, all_steps: list[Step]) -> str:
        touched = set(self.done + self.unchanged + self.skipped + self.planned + self.stopped)
        not_run = [s.name for s in all_steps if s.name not in touched and s.name != self.failed]
        parts = []
        for label, names in [
            (_("changed"), self.done), (_("already done"), self.unchanged),
            (_("would change"), self.planned), (_("would stop"), self.stopped), (_("skipped"), self.skipped),
            (_("failed"), [self.failed] if self.failed else []), (_("not run"), not_run),
        ]:
            if names:
                parts.append(_("{label}: {names}").format(label=label, names=", ".join(names)))  # French: " : "
        return "; ".join(parts)


def ask_upfront(steps: list[Step], ctx: Context) -> None:
    """Every answer the applicable steps declare, validated before anything changes (every bad
    one reported at once; saved ones offered in a terminal)."""
    questions, later = {}, {}
    for step in steps:
        for question in step.questions:
            (questions if question.upfront else later).setdefault(
                question.name, ctx.questions.get(question.name, question))
    resolve_upfront(list(questions.values()), ctx, [q for name, q in later.items() if name not in questions])
    ctx.step_name = None


def used_answers(ctx: Context) -> dict:
    """This run's answers that may be kept (never a secret, never a yes/no switch)."""
    return {name: value for name, value in ctx.resolver.values.items()
            if (question := ctx.questions.get(name)) is not None and question.saved}


def remember_answers(ctx: Context) -> None:
    ctx.state.answers.update(used_answers(ctx))


def run_steps(steps: list[Step], ctx: Context) -> int:
    try:
        return _run_steps(steps, ctx)
    finally:
        _save_pending(ctx)


def _run_steps(steps: list[Step], ctx: Context) -> int:
    ui = ctx.ui
    outcome = Outcome()
    ctx.report.expect(step.name for step in steps)
    applicable = []
    try:
        for step in steps:
            ctx.step_name = step.name
            reason = guarded(step.applies, ctx)
            if reason:
                ui.skip(_("{step}: does not apply here: {reason}").format(step=step.name, reason=reason))
                outcome.skipped.append(step.name)
                ctx.report.note(step.name, SKIPPED, reason)
            else:
                applicable.append(step)
        ask_upfront(applicable, ctx)  # bad answers stop here: exit 2, nothing changed
        problems = preflight(applicable, ctx)  # and so does what would stop a step later
        if problems and not ctx.dry_run:
            for name, (_code, why) in problems.items():
                ctx.report.note(name, FAILED, ctx.mask(why))
            return _report_problems(problems, ctx, _("Nothing was changed:"))
        for number, step in enumerate(applicable, 1):
            if step.name in problems:  # a dry run shows the rest of the plan
                _heading(ui, step, f"[{number}/{len(applicable)}]")
                ui.warn(_("{step}: its checks fail, so a real run would change nothing at all (the reason "
                          "is at the end)").format(step=step.name))
                outcome.stopped.append(step.name)
                ctx.report.note(step.name, WOULD_STOP, ctx.mask(problems[step.name][1]))
                continue
            try:
                _run_one(step, ctx, outcome, f"[{number}/{len(applicable)}]")
            except UsageError as exc:
                # Found out mid-run (a password nobody can type): say what was already done.
                if not outcome.done:
                    raise
                raise StepFailed(str(exc)) from exc
    except StepFailed as failure:
        outcome.failed = ctx.step_name
        if ctx.step_name:
            ctx.report.note(ctx.step_name, FAILED, ctx.mask(failure.message))
        ui.error(_("step {step} failed: {why}").format(step=ctx.step_name, why=failure.message))
        if failure.kept:
            ui.say("  " + failure.kept, err=True)
        _record(ctx, "failed", why=ctx.mask(failure.message))
        ui.say(outcome.summary(steps), err=True)
        return EXIT_FAILED
    except (KeyboardInterrupt, EOFError):  # Ctrl-C, or Ctrl-D at a prompt
        ui.error(_("interrupted; files are either as they were or fully written"))
        ctx.report.error(_("interrupted"))
        if ctx.step_name and ctx.report.steps.get(ctx.step_name, {}).get("status") == NOT_RUN:
            ctx.report.note(ctx.step_name, FAILED, _("interrupted"))  # cut short: maybe partly done
        ui.say(outcome.summary(steps), err=True)
        return EXIT_INTERRUPTED
    if ctx.dry_run:
        ui.say(_("Dry run: nothing was changed."), style="bold")
    ui.say(outcome.summary(steps))
    if ctx.dry_run and problems:
        return _report_problems(problems, ctx, _("A real run would stop before changing anything (none of the "
                                                 "changes above would be made):"))
    return EXIT_OK


def preflight(steps: list[Step], ctx: Context) -> dict[str, tuple[int, str]]:
    """Every step's ``preflight``, all of them, before anything changes: step name -> (exit code,
    why). A ``UsageError`` is an answer to correct (exit 2); a ``StepFailed``, a machine that
    cannot do the step as it is (exit 1)."""
    problems: dict[str, tuple[int, str]] = {}
    for step in steps:
        ctx.step_name = step.name
        try:
            guarded(step.preflight, ctx)
        except UsageError as exc:
            problems[step.name] = (EXIT_USAGE, str(exc))
        except StepFailed as failure:
            problems[step.name] = (EXIT_FAILED, failure.message)
    ctx.step_name = None
    return problems


def _report_problems(problems: dict[str, tuple[int, str]], ctx: Context, heading: str) -> int:
    ctx.ui.error(heading)
    for name, (_code, why) in problems.items():
        ctx.ui.say("  " + _("{step}: {why}").format(step=name, why=why), err=True)
    return EXIT_USAGE if any(code == EXIT_USAGE for code, _why in problems.values()) else EXIT_FAILED


def guarded(method, ctx: Context):
    """Call a plugin's method; a crash becomes a step failure naming the step, not a traceback."""
    try:
        return method(ctx)
    except (StepFailed, UsageError, KeyboardInterrupt, EOFError):
        raise
    except OSError as exc:
        raise StepFailed(str(exc)) from exc
    except Exception as exc:
        raise StepFailed(_("step {step} crashed: {why}").format(
            step=ctx.step_name, why=f"{type(exc).__name__}: {exc}")) from exc


def _record(ctx: Context, status: str, save: bool = True, **details) -> None:
    if not ctx.dry_run and ctx.step_name:
        if status == "done":
            remember_answers(ctx)  # saved once a step really completed, never for a refused run
        if status in ("started", "done"):
            details.update(_answers_record(ctx))  # what undo will act on: never today's answers
        ctx.state.record(ctx.step_name, status, **details)
        if save:
            ctx.state.save()
        else:  # written with the next record, or at the end of the run (_save_pending)
            ctx.state.pending = True


def _save_pending(ctx: Context) -> None:
    if ctx.state.pending and not ctx.dry_run:
        ctx.state.save()


def _answers_record(ctx: Context) -> dict:
    """This run's answers, and every earlier set they replace (a re-run with another alias leaves
    the first alias's block in place: undo takes away what each set made)."""
    record = ctx.state.step(ctx.step_name)
    now = used_answers(ctx)
    earlier = [answers for answers in [record.get("answers"), *record.get("earlier_answers", [])]
               if answers and answers != now]
    return {"answers": now, "earlier_answers": list({repr(a): a for a in earlier}.values())}


def _heading(ui, step: Step, counter: str) -> None:
    ui.heading(f"{counter} {step.name}: {step.title}")  # titles have parentheses of their own


def _run_one(step: Step, ctx: Context, outcome: Outcome, counter: str) -> None:
    ui = ctx.ui
    ctx.step_name = step.name
    _heading(ui, step, counter)
    actions = guarded(step.plan, ctx)
    if not actions:
        ui.ok(_("{step}: already done, nothing to change").format(step=step.name))
        outcome.unchanged.append(step.name)
        ctx.report.note(step.name, DONE)
        # Nothing changed, so nothing is lost if a kill comes before this record is written: it
        # waits for the next write (one fsync'd state write per no-op run, not one per step). A
        # record that already says done keeps when that was and what changed then, so that a run
        # that changes nothing leaves the state file as it was (no write at all).
        earlier = ctx.state.step(step.name)
        kept = earlier if earlier.get("status") == "done" else {}
        _record(ctx, "done", save=False, changed=kept.get("changed", []), since=kept.get("at"))
        return
    if ctx.dry_run:
        ui.say(_("would do:"))
        for action in actions:
            ui.block(action.describe(ctx))
        outcome.planned.append(step.name)
        ctx.report.note(step.name, WOULD_CHANGE, changes=[ctx.mask(action.summary(ctx)) for action in actions])
        return
    summaries = [ctx.mask(action.summary(ctx)) for action in actions]
    # Recorded before the first action: a kill from here on leaves a step undo knows about.
    _record(ctx, "started")
    for action in actions:
        guarded(action.perform, ctx)
    guarded(step.verify, ctx)
    _record(ctx, "done", changed=summaries)
    outcome.done.append(step.name)
    ctx.report.note(step.name, CHANGED, changes=summaries)
    ui.ok(_("{step}: done").format(step=step.name))
