"""``openclaw-remote status``: every plugin check at once, one line per layer, in step order.

JSON (``--json``, schema 1, documented in docs/status.md)::

    {"schema": 1, "ok": bool, "checks": [{"name", "title", "step", "status", "reason", "details"}]}
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from wizard.answers import settle_answers
from wizard.errors import UsageError
from wizard.context import Context
from wizard.i18n import _
from wizard.step import Check, Health

SCHEMA = 1


def _run(check: Check, ctx: Context) -> Health:
    try:
        health = check.run(ctx)
    except UsageError as exc:  # an answer nobody gave: that layer was never set up
        return Health("fail", str(exc))
    except Exception as exc:  # noqa: BLE001  (a broken check must not hide the others)
        return Health("fail", _("check crashed: {why}").format(why=f"{type(exc).__name__}: {exc}"))
    return health if health.status in ("ok", "warn", "fail") else Health("fail", repr(health.status))


STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


def gather(checks: list[Check], ctx: Context) -> list[tuple[Check, Health]]:
    """Every check, run at once; in the checks' order."""
    settle_answers(ctx)
    bound = max((check.bound for check in checks), default=0.0)
    with ctx.ui.waiting(_("checking {n} layers (up to {s:g} s)…").format(n=len(checks), s=bound)), \
            ThreadPoolExecutor(max_workers=max(1, len(checks))) as pool:
        found = list(pool.map(lambda check: _run(check, ctx), checks))
    return list(zip(checks, found))


def say_lines(found: list[tuple[Check, Health]], ctx: Context) -> None:
    for check, health in found:
        line = _("{title}: {reason}").format(title=check.title, reason=health.reason)  # French: " : "
        ctx.ui.say(f"{health.status:<4}  {line}", style=STYLE[health.status])


def nothing_set_up(ctx: Context) -> bool:
    """No step was ever recorded and no answer saved: every check would fail for that one reason."""
    return not ctx.state.data["steps"] and not ctx.state.answers


def not_set_up_health(ctx: Context) -> Health:
    return Health("fail", _("nothing is set up in {home} yet: run 'openclaw-remote setup' (or 'openclaw-remote "
                            "setup --dry-run' to see what it would do)").format(home=ctx.home),
                  {"home": str(ctx.home)})


def _say_not_set_up(ctx: Context, as_json: bool) -> int:
    health = not_set_up_health(ctx)
    if as_json:  # schema 1 unchanged: one pseudo-check named "setup" says why (docs/status.md)
        row = {"name": "setup", "title": _("set up"), "step": "", "status": health.status,
               "reason": health.reason, "details": health.details}
        print(json.dumps({"schema": SCHEMA, "ok": False, "checks": [row]}, indent=2))
    else:
        ctx.ui.error(health.reason)
    return 1


def json_rows(found: list[tuple[Check, Health]], ctx: Context) -> list[dict]:
    """The checks as ``status --json`` lists them (and ``doctor --json``)."""
    return [{"name": check.name, "title": check.title, "step": check.step, "status": health.status,
             "reason": ctx.mask(health.reason), "details": health.details or {}}
            for check, health in found]


def run_status(checks: list[Check], ctx: Context, as_json: bool) -> int:
    if nothing_set_up(ctx):
        return _say_not_set_up(ctx, as_json)
    found = gather(checks, ctx)
    ok = all(health.status == "ok" for _check, health in found)
    if as_json:
        print(ctx.mask(json.dumps({"schema": SCHEMA, "ok": ok, "checks": json_rows(found, ctx)}, indent=2)))
    else:
        say_lines(found, ctx)
    return 0 if ok else 1
