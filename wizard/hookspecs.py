"""The plugin API: every hook openclaw-remote calls. Documented in docs/plugins.md.

A plugin is a module or object with functions marked ``@hookimpl``, found through
the ``openclaw_remote`` entry-point group (the built-in steps register the same way).
"""

from typing import Callable

import pluggy

from wizard.step import Check, Command, Step

hookspec = pluggy.HookspecMarker("openclaw_remote")
hookimpl = pluggy.HookimplMarker("openclaw_remote")


@hookspec
def register_steps(register: Callable[[Step], None]) -> None:
    """Contribute wizard steps.

    Called once per command, when the host loads its plugins, before any answer is
    asked. Call ``register(step)`` for each ``Step`` instance the plugin offers. The
    host orders all registered steps by their ``after``/``before`` names, so the
    order of ``register`` calls does not matter. The return value is ignored.
    """


@hookspec
def register_commands(register: Callable[[Command], None]) -> None:
    """Contribute top-level commands (``openclaw-remote NAME …``) besides the host's own.

    Called once per command line, with ``register_steps``. Call ``register(command)`` for
    each ``Command`` instance; its ``add_arguments(parser)`` fills an argparse sub-parser
    (``--home`` is already there) and ``run(ctx, args)`` returns the exit code. A name that
    clashes with a host command or another plugin's is skipped with a warning. The return
    value is ignored.
    """


@hookspec
def register_checks(register: Callable[[Check], None]) -> None:
    """Contribute health checks for ``openclaw-remote status``.

    Called once per command line, with ``register_steps``. Call ``register(check)`` for each
    ``Check`` instance. ``status`` runs every check concurrently, each bounded by its own
    timeouts, and lists them in the order of the step each belongs to (``check.step``), then
    in registration order. The return value is ignored.
    """
