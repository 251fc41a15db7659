"""Loading plugins and putting their steps in order. Knows nothing of what steps do."""

from __future__ import annotations

import heapq
import os
import sys
from dataclasses import dataclass, field

import pluggy

from wizard import hookspecs
from wizard.i18n import _
from wizard.step import Check, Command, Step

from wizard.plugin_index import BUILTIN_DISTRIBUTION, ENTRY_POINT_GROUP, HOST_COMMANDS, PLUGIN_LIMIT_ENV  # noqa: F401


class PluginError(Exception):
    """Plugins that cannot work together (a cycle, an unknown step name)."""


_pm: pluggy.PluginManager | None = None
load_problems: list[str] = []


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every allowed entry point loaded once."""
    global _pm
    if _pm is None:
        _pm = pluggy.PluginManager("openclaw_remote")
        _pm.add_hookspecs(hookspecs)
        load_problems.extend(_load_entry_points(_pm, os.environ.get(PLUGIN_LIMIT_ENV)))
    return _pm


def _load_entry_points(pm: pluggy.PluginManager, limit: str | None) -> list[str]:
    from importlib.metadata import entry_points

    allowed = None if limit is None else {name.strip() for name in limit.split(",") if name.strip()}
    problems = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        # Only a limit needs the distribution's name, which costs parsing its METADATA file.
        if allowed is not None and entry.name not in allowed and not _is_builtin(entry):
            continue
        if pm.has_plugin(entry.name):
            continue
        try:
            plugin = entry.load()
        except Exception as exc:  # a broken third-party plugin must not stop the wizard
            problems.append(_("plugin {name} failed to load and was skipped: {why}").format(
                name=entry.name, why=f"{type(exc).__name__}: {exc}"))
            continue
        pm.register(plugin, name=entry.name)
    return problems


def _is_builtin(entry) -> bool:
    return entry.dist is not None and entry.dist.name == BUILTIN_DISTRIBUTION


@dataclass
class StepSet:
    steps: list[Step]                           # in the order they run
    owner: dict[str, str] = field(default_factory=dict)  # step name -> plugin name
    problems: list[str] = field(default_factory=list)
    commands: dict = field(default_factory=dict)  # command name -> Command
    checks: list = field(default_factory=list)    # Check, in step order


def _contributions(pm: pluggy.PluginManager, hook: str, kind: type, problems: list[str]) -> list[tuple[object, str]]:
    """(item, plugin name) for everything plugins ``register`` through ``hook``.
    A plugin whose hook raises is named in ``problems`` and contributes nothing."""
    found = []
    for impl in getattr(pm.hook, hook).get_hookimpls():
        mine: list = []
        try:
            impl.function(register=mine.append)
        except Exception as exc:
            problems.append(_("plugin {name} failed to register and was skipped: {why}").format(
                name=impl.plugin_name, why=f"{type(exc).__name__}: {exc}"))
            continue
        for item in mine:
            if isinstance(item, kind) and item.name:
                found.append((item, impl.plugin_name))
            else:
                problems.append(_("plugin {name} registered {item!r}, which is not a named {kind}; skipped").format(
                    name=impl.plugin_name, item=item, kind=kind.__name__))
    return found


def _unique(items: list[tuple[object, str]], taken: set[str], problems: list[str]) -> dict[str, tuple[object, str]]:
    chosen: dict[str, tuple[object, str]] = {}
    for item, plugin in items:
        name = item.name
        if name in chosen or name in taken:
            other = chosen[name][1] if name in chosen else "openclaw-remote"
            problems.append(_("{name} from plugin {plugin} was skipped: {other} already has that name").format(
                name=name, plugin=plugin, other=other))
            continue
        chosen[name] = (item, plugin)
    return chosen




def collect_steps(pm: pluggy.PluginManager | None = None) -> StepSet:
    """Ask every plugin for its steps and commands, then order the steps."""
    pm = pm or get_plugin_manager()
    problems = list(load_problems)
    steps = _unique(_contributions(pm, "register_steps", Step, problems), set(), problems)
    commands = _unique(_contributions(pm, "register_commands", Command, problems), HOST_COMMANDS, problems)
    checks = _unique(_contributions(pm, "register_checks", Check, problems), set(), problems)
    owner = {name: plugin for name, (_step, plugin) in steps.items()}
    ordered = order_steps([step for step, _plugin in steps.values()], owner)
    position = {step.name: index for index, step in enumerate(ordered)}
    in_order = sorted((check for check, _p in checks.values()), key=lambda c: position.get(c.step, len(position)))
    return StepSet(ordered, owner, problems, {name: command for name, (command, _p) in commands.items()}, in_order)


def order_steps(steps: list[Step], owner: dict[str, str]) -> list[Step]:
    """Topological order of after/before; ties go to the alphabetically first name."""
    by_name = {step.name: step for step in steps}
    edges: dict[str, set[str]] = {name: set() for name in by_name}  # a -> b: a runs before b
    for step in steps:
        for other, forward in [(n, False) for n in step.after] + [(n, True) for n in step.before]:
            if other not in by_name:
                raise PluginError(_("step {step} (plugin {plugin}) names an unknown step {other}").format(
                    step=step.name, plugin=owner.get(step.name, "?"), other=other))
            if forward:
                edges[step.name].add(other)
            else:
                edges[other].add(step.name)
    waiting = {name: 0 for name in by_name}
    for targets in edges.values():
        for target in targets:
            waiting[target] += 1
    ready = [name for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for target in edges[name]:
            waiting[target] -= 1
            if waiting[target] == 0:
                heapq.heappush(ready, target)
    if len(ordered) < len(steps):
        stuck = sorted(name for name, count in waiting.items() if count > 0)
        raise PluginError(_("steps {steps} wait on each other in a cycle (plugins: {plugins})").format(
            steps=", ".join(stuck), plugins=", ".join(sorted({owner.get(n, "?") for n in stuck}))))
    return ordered


def current_platform() -> str:
    return os.environ.get("OPENCLAW_REMOTE_PLATFORM") or ("darwin" if sys.platform == "darwin" else "linux")
