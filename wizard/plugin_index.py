"""The installed plugins and the commands they add, as their packaging metadata declares them
(the entry-point groups ``openclaw_remote`` and ``openclaw_remote.commands``), without importing
any plugin; ``--help`` lists the commands from here.

Reading that metadata means importing ``importlib.metadata`` (with ``email``, ``zipfile``,
``csv``, …) and opening every installed distribution: about 15 ms, more than half of ``--help``.
So what it found is kept in ``__pycache__/entry-points.txt`` beside this module, as Python keeps
bytecode beside its source, together with the ``sys.path`` it was read from: every entry's path
and modification time. A later run whose ``sys.path`` is the same and none of whose entries
changed reads that file instead. Installing, upgrading or removing a distribution adds or removes
its ``.dist-info`` directory in a ``sys.path`` entry, which changes that entry's modification
time (``importlib.metadata`` itself caches its directory listings on the same time). Where that
folder cannot be written, every run reads the metadata.
"""

from __future__ import annotations

import os
import sys
from collections import namedtuple

ENTRY_POINT_GROUP = "openclaw_remote"
COMMAND_GROUP = "openclaw_remote.commands"  # command name = the plugin module that registers it
BUILTIN_DISTRIBUTION = "openclaw-remote-wizard"
# Comma-separated names of the third-party plugins to load; empty loads none.
PLUGIN_LIMIT_ENV = "OPENCLAW_REMOTE_PLUGINS"

CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__", "entry-points.txt")
_FORMAT = "openclaw-remote entry points 1"

# One entry point of our groups; distribution and version are "" when no distribution declares it
# (a finder of its own), which makes it a third-party plugin.
Entry = namedtuple("Entry", "group name value distribution version")


def entries(refresh: bool = False) -> tuple[list[Entry], bool]:
    """Every entry point of our two groups, in ``importlib.metadata``'s order, and whether they
    came from the cache (``refresh``: read the metadata again whatever the cache says)."""
    key = _sys_path_state()
    if not refresh:
        cached = _read_cache(key)
        if cached is not None:
            return cached, True
    found = _read_metadata()
    _write_cache(key, found)
    return found, False


def load(entry: Entry):
    """What the entry point names (``module`` or ``module:attribute.attribute``), imported, as
    ``EntryPoint.load`` does it (extras in brackets play no part)."""
    import importlib

    module, _sep, attributes = entry.value.split("[", 1)[0].partition(":")
    found = importlib.import_module(module.strip())
    for attribute in attributes.strip().split(".") if attributes.strip() else ():
        found = getattr(found, attribute)
    return found


def names_missing_module(entry: Entry, error: Exception) -> bool:
    """Did loading ``entry`` fail because its own module (or a package above it) is not there?
    Not a plugin that raises as it is imported, nor one missing a library of its own."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return False
    module = entry.value.split("[", 1)[0].partition(":")[0].strip()
    return module == error.name or module.startswith(error.name + ".")


def allowed_plugins() -> set[str] | None:
    """The third-party plugins OPENCLAW_REMOTE_PLUGINS allows; None: all of them."""
    limit = os.environ.get(PLUGIN_LIMIT_ENV)
    return None if limit is None else {name.strip() for name in limit.split(",") if name.strip()}


def is_builtin(entry: Entry) -> bool:
    return entry.distribution == BUILTIN_DISTRIBUTION


def indexed_commands() -> list[tuple[str, str]]:
    """(command, distribution) for every plugin command the host would load (the plugin that
    registers it is allowed by OPENCLAW_REMOTE_PLUGINS), from the packaging metadata alone."""
    allowed = allowed_plugins()
    found, _cached = entries()
    plugin_of = {(entry.distribution, entry.value): entry.name for entry in found if entry.group == ENTRY_POINT_GROUP}
    commands: dict[str, str] = {}
    for entry in found:
        if entry.group != COMMAND_GROUP:
            continue
        plugin = plugin_of.get((entry.distribution, entry.value))
        if plugin is None:
            continue  # no plugin entry point loads that module: the command would not exist
        if not is_builtin(entry) and allowed is not None and plugin not in allowed:
            continue
        commands.setdefault(entry.name, entry.distribution)
    return sorted(commands.items())


def _read_metadata() -> list[Entry]:
    from importlib.metadata import entry_points

    everything = entry_points()  # each call reads every installed distribution: one call, both groups
    about: dict[int, tuple[str, str]] = {}

    def distribution(entry) -> tuple[str, str]:
        if entry.dist is None:
            return "", ""
        if id(entry.dist) not in about:  # .name and .version each parse the METADATA file
            about[id(entry.dist)] = (entry.dist.name, entry.dist.version)
        return about[id(entry.dist)]

    return [Entry(group, entry.name, entry.value, *distribution(entry))
            for group in (ENTRY_POINT_GROUP, COMMAND_GROUP) for entry in everything.select(group=group)]


def _sys_path_state() -> str:
    """One line naming every ``sys.path`` entry and the state of what is there."""
    state = []
    for path in sys.path:
        try:
            path = path or os.getcwd()  # "" is the current directory (python -c)
            info = os.stat(path)
            state.append((path, info.st_mtime_ns, info.st_ino, info.st_dev))
        except OSError:  # not there (a zip that does not exist), or a current directory since removed
            state.append((path, None))
    return repr(state)  # repr: a newline or tab in a path stays on the line, escaped


def _read_cache(key: str) -> list[Entry] | None:
    try:
        with open(CACHE, encoding="utf-8") as file:
            lines = file.read().split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    if len(lines) < 3 or lines[0] != _FORMAT or lines[1] != key or lines[-1] != "":
        return None  # another format, another sys.path, or a file cut short
    rows = [line.split("\t") for line in lines[2:-1]]
    if any(len(row) != len(Entry._fields) for row in rows):
        return None
    return [Entry(*row) for row in rows]


def _write_cache(key: str, found: list[Entry]) -> None:
    if any(set(field) & {"\t", "\n", "\r"} for entry in found for field in entry):
        return  # not a name a file of tab-separated lines can hold: read the metadata every time
    text = "".join([_FORMAT, "\n", key, "\n", *("\t".join(entry) + "\n" for entry in found)])
    temporary = f"{CACHE}.{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(CACHE), exist_ok=True)
        with open(temporary, "x", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, CACHE)  # whole or not at all, even beside another run writing it
    except OSError:  # an installation we may not write to: no cache, nothing else changes
        try:
            os.unlink(temporary)
        except OSError:
            pass
