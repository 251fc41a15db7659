"""The commands installed plugins add, read from their packaging metadata (the entry-point group
``openclaw_remote.commands``) without importing any plugin: what ``--help`` lists."""

from __future__ import annotations

import os

ENTRY_POINT_GROUP = "openclaw_remote"
COMMAND_GROUP = "openclaw_remote.commands"  # command name = the plugin module that registers it
BUILTIN_DISTRIBUTION = "openclaw-remote-wizard"
# Comma-separated names of the third-party plugins to load; empty loads none.
PLUGIN_LIMIT_ENV = "OPENCLAW_REMOTE_PLUGINS"


def indexed_commands() -> list[tuple[str, str]]:
    """(command, distribution) for every plugin command the host would load (the plugin that
    registers it is allowed by OPENCLAW_REMOTE_PLUGINS), from the packaging metadata alone."""
    from importlib.metadata import entry_points

    limit = os.environ.get(PLUGIN_LIMIT_ENV)
    allowed = None if limit is None else {name.strip() for name in limit.split(",") if name.strip()}
    everything = entry_points()  # each call reads every installed distribution: one call, both groups
    names: dict[int, str] = {}

    def owner(entry) -> str:
        if entry.dist is None:
            return ""
        if id(entry.dist) not in names:  # .name parses the distribution's METADATA file each time
            names[id(entry.dist)] = entry.dist.name
        return names[id(entry.dist)]

    plugin_of = {(owner(entry), entry.value): entry.name for entry in everything.select(group=ENTRY_POINT_GROUP)}
    commands: dict[str, str] = {}
    for entry in everything.select(group=COMMAND_GROUP):
        distribution = owner(entry)
        plugin = plugin_of.get((distribution, entry.value))
        if plugin is None:
            continue  # no plugin entry point loads that module: the command would not exist
        if distribution != BUILTIN_DISTRIBUTION and allowed is not None and plugin not in allowed:
            continue
        commands.setdefault(entry.name, distribution)
    return sorted(commands.items())
