"""Loading plugins and putting their steps in order. Knows nothing of what steps do."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import pluggy

from wizard import hookspecs, plugin_index
from wizard.errors import PluginError
from wizard.i18n import _
from wizard.plugin_index import ENTRY_POINT_GROUP, PLUGIN_LIMIT_ENV
from wizard.step import Check, Command, Step


_pm: pluggy.PluginManager | None = None
load_problems: list[str] = []
# plugin name -> (distribution, version) it was installed with (entry points only)
distributions: dict = {}
# plugin name -> why it was not loaded (its import raised)
load_failures: dict[str, str] = {}


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every allowed entry point loaded once."""
    global _pm
    if _pm is None:
        _pm = pluggy.PluginManager("openclaw_remote")
        _pm.add_hookspecs(hookspecs)
        load_problems.extend(_load_entry_points(_pm))
    return _pm


def _load_entry_points(pm: pluggy.PluginManager) -> list[str]:
    found, cached = plugin_index.entries()
    problems, missing = _register_entry_points(pm, found)
    if missing and cached:  # a module the cache names is not there: it is older than a change in place
        load_failures.clear()
        found, _cached = plugin_index.entries(refresh=True)
        problems, _missing = _register_entry_points(pm, found)
    return problems


def _register_entry_points(pm: pluggy.PluginManager, found: list[plugin_index.Entry]) -> tuple[list[str], bool]:
    """The plugins ``found`` registered: the problems to report, and whether a plugin's own module
    was not there at all (rather than raising as it was imported: a broken plugin)."""
    allowed = plugin_index.allowed_plugins()
    plugins = [entry for entry in found if entry.group == ENTRY_POINT_GROUP]
    problems, missing = [], False
    for entry in plugins:
        if allowed is not None and entry.name not in allowed and not plugin_index.is_builtin(entry):
            continue
        if pm.has_plugin(entry.name):
            continue
        try:
            plugin = plugin_index.load(entry)
        except Exception as exc:  # noqa: BLE001  (a broken third-party plugin must not stop the wizard)
            missing = missing or plugin_index.names_missing_module(entry, exc)
            why = f"{type(exc).__name__}: {exc}"
            load_failures[entry.name] = why
            problems.append(_("plugin {name} failed to load and was skipped: {why}").format(name=entry.name, why=why))
            continue
        pm.register(plugin, name=entry.name)
        if entry.distribution:
            distributions[entry.name] = (entry.distribution, entry.version)  # what `plugins` shows
    unmatched = sorted((allowed or set()) - {entry.name for entry in plugins})
    if unmatched:  # a typo would otherwise silently load nothing
        third_party = sorted(entry.name for entry in plugins if not plugin_index.is_builtin(entry))
        problems.append(_("{env} names {names}, which no installed plugin is; installed plugins: {known}").format(
            env=PLUGIN_LIMIT_ENV, names=", ".join(unmatched), known=", ".join(third_party) or _("none")))
    return problems, missing


@dataclass(eq=False)
class StepSet:
    steps: list[Step]                           # in the order they run
    owner: dict[str, str] = field(default_factory=dict)  # step name -> plugin name
    problems: list[str] = field(default_factory=list)
    commands: dict = field(default_factory=dict)  # command name -> Command
    checks: list = field(default_factory=list)    # Check, in step order
    plugins: list = field(default_factory=list)   # PluginInfo, by name: what `openclaw-remote plugins` shows
    command_owner: dict[str, str] = field(default_factory=dict)  # command name -> plugin name


@dataclass(eq=False)
class PluginInfo:
    """One plugin as ``openclaw-remote plugins`` lists it."""
    name: str
    distribution: str | None = None   # None: registered in-process (a test)
    version: str | None = None
    steps: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    skipped: str | None = None        # why the plugin contributes nothing

    def as_json(self) -> dict:
        return {"name": self.name, "distribution": self.distribution, "version": self.version,
                "steps": self.steps, "commands": self.commands, "checks": self.checks, "skipped": self.skipped}


HOOKS = (("register_steps", Step), ("register_commands", Command), ("register_checks", Check))


def _contributions(pm: pluggy.PluginManager, problems: list[str]) -> tuple[dict[str, list], dict[str, str]]:
    """hook name -> [(item, plugin name)] for everything plugins ``register``, and plugin name ->
    why it was skipped. A plugin any of whose hooks raises contributes nothing at all: its checks
    and commands would otherwise register and then crash on its missing step."""
    offered: dict[str, list[tuple[str, list]]] = {}
    failed: dict[str, str] = {}
    for hook, _kind in HOOKS:
        offered[hook] = []
        for impl in getattr(pm.hook, hook).get_hookimpls():
            if impl.plugin_name in failed:
                continue
            mine: list = []
            try:
                impl.function(register=mine.append)
            except Exception as exc:  # noqa: BLE001  (a plugin's hook may raise anything: skip that plugin)
                failed[impl.plugin_name] = f"{hook}: {type(exc).__name__}: {exc}"
                problems.append(_("plugin {name} failed to register and was skipped: {why}").format(
                    name=impl.plugin_name, why=f"{type(exc).__name__}: {exc}"))
                continue
            offered[hook].append((impl.plugin_name, mine))
    found: dict[str, list] = {}
    for hook, kind in HOOKS:
        found[hook] = []
        for plugin, mine in offered[hook]:
            if plugin in failed:
                continue
            for item in mine:
                if isinstance(item, kind) and item.name:
                    found[hook].append((item, plugin))
                else:
                    problems.append(_("plugin {name} registered {item!r}, which is not a named {kind}; skipped").format(
                        name=plugin, item=item, kind=kind.__name__))
    return found, failed


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




def collect_steps(pm: pluggy.PluginManager | None = None, reserved=()) -> StepSet:
    """Ask every plugin for its steps and commands, then order the steps. ``reserved``: the host's
    own command names, which no plugin command may take."""
    pm = pm or get_plugin_manager()
    problems = list(load_problems)
    found, failed = _contributions(pm, problems)
    steps = _unique(found["register_steps"], set(), problems)
    commands = _unique(found["register_commands"], set(reserved), problems)
    checks = _unique(found["register_checks"], set(), problems)
    owner = {name: plugin for name, (_step, plugin) in steps.items()}
    ordered = order_steps([step for step, _plugin in steps.values()], owner)
    position = {step.name: index for index, step in enumerate(ordered)}
    in_order = sorted((check for check, _p in checks.values()), key=lambda c: position.get(c.step, len(position)))
    chosen = {"steps": steps, "commands": commands, "checks": checks}
    return StepSet(ordered, owner, problems, {name: command for name, (command, _p) in commands.items()}, in_order,
                   _plugin_infos(pm, chosen, failed), {name: plugin for name, (_c, plugin) in commands.items()})


def _plugin_infos(pm: pluggy.PluginManager, chosen: dict[str, dict], failed: dict[str, str]) -> list[PluginInfo]:
    infos = {}
    for name, _plugin in pm.list_name_plugin():
        infos[name] = PluginInfo(name, *distributions.get(name, (None, None)), skipped=failed.get(name))
    for name, why in load_failures.items():
        infos.setdefault(name, PluginInfo(name, skipped=why))
    for label, items in chosen.items():
        for item_name, (_item, plugin) in items.items():
            if plugin in infos:
                getattr(infos[plugin], label).append(item_name)
    return [infos[name] for name in sorted(infos)]


def merged_questions(steps: list[Step]) -> dict:
    """One question per name; the first step (in run order) that declares it wins. Two steps may
    not disagree on whether it is a secret (a plugin must not turn the token into a flag)."""
    merged, declared_by = {}, {}
    for step in steps:
        for question in step.questions:
            first = merged.setdefault(question.name, question)
            declared_by.setdefault(question.name, step.name)
            if (first.secret, first.confirm) != (question.secret, question.confirm):
                raise PluginError(_("steps {a} and {b} declare the answer {name} differently (secret or not)").format(
                    a=declared_by[question.name], b=step.name, name=question.name))
    return merged


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
