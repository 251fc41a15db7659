"""The commands installed plugins add, read from their packaging metadata (the entry-point group
``openclaw_remote.commands``) without importing any plugin: what ``--help`` lists.

``importlib.metadata`` alone costs ~30 ms to import (it pulls in ``email``), more than the rest
of ``--help``: the few ``entry_points.txt`` files are read directly instead.
"""

from __future__ import annotations

import os
import sys

ENTRY_POINT_GROUP = "openclaw_remote"
COMMAND_GROUP = "openclaw_remote.commands"  # command name = the plugin module that registers it
BUILTIN_DISTRIBUTION = "openclaw-remote-wizard"
# Comma-separated names of the third-party plugins to load; empty loads none.
PLUGIN_LIMIT_ENV = "OPENCLAW_REMOTE_PLUGINS"
HOST_COMMANDS = {"steps", "setup", "run", "status", "doctor", "undo"}  # a plugin command cannot take these


def _distribution_name(folder: str) -> str:
    """``openclaw_remote_wizard-0.1.0.dist-info`` -> ``openclaw-remote-wizard``."""
    stem = folder.rsplit(".", 1)[0].split("-", 1)[0]
    return stem.lower().replace("_", "-").replace(".", "-")


def _groups(text: str) -> dict[str, dict[str, str]]:
    """The INI-like ``entry_points.txt``: {group: {name: value}} (configparser costs more)."""
    groups: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = groups.setdefault(line[1:-1].strip(), {})
        elif current is not None and "=" in line:
            name, _sep, value = line.partition("=")
            current[name.strip()] = value.strip()
    return groups


def _metadata_dirs():
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as found:
                names = [item.name for item in found if item.name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
        for name in sorted(names):
            yield os.path.join(entry or ".", name), _distribution_name(name)


def indexed_commands() -> list[tuple[str, str]]:
    """(command, distribution) for every plugin command the host would load, first one found
    wins (the order of ``sys.path``), as ``importlib.metadata`` does."""
    limit = os.environ.get(PLUGIN_LIMIT_ENV)
    allowed = None if limit is None else {name.strip() for name in limit.split(",") if name.strip()}
    commands: dict[str, str] = {}
    seen: set[str] = set()
    for folder, distribution in _metadata_dirs():
        if distribution in seen:  # an older copy further down sys.path
            continue
        seen.add(distribution)
        try:
            with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as handle:
                groups = _groups(handle.read())
        except (OSError, UnicodeDecodeError):
            continue
        plugin_of = {module: plugin for plugin, module in groups.get(ENTRY_POINT_GROUP, {}).items()}
        for command, module in groups.get(COMMAND_GROUP, {}).items():
            plugin = plugin_of.get(module)
            if plugin is None:
                continue  # no plugin entry point loads that module: the command would not exist
            if distribution != BUILTIN_DISTRIBUTION and allowed is not None and plugin not in allowed:
                continue
            commands.setdefault(command, distribution)
    return sorted(commands.items())
