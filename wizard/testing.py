"""Helpers for testing a plugin in-process (documented in docs/plugins.md, "Testing your plugin").

``registered(*plugins)`` runs the wizard with the built-in steps and your plugin objects only, in
a plugin manager of its own: your installed copy (if any), other installed plugins and what an
earlier test registered play no part. ``FakeRunner`` stands in for the commands a step runs
through ``ctx.run`` (or ``wizard.runner.run``), answering them as you say and recording them.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from wizard import host, runner
from wizard.i18n import _


def _plugin_name(plugin) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__name__


@contextmanager
def registered(*plugins) -> Iterator:
    """The wizard with the built-in steps and these plugins (each an object or module, or a
    ``(name, plugin)`` pair) for the duration of the ``with`` block; yields the plugin manager.
    ``wizard.cli.main([...])`` inside the block runs with exactly these."""
    saved = (host._pm, list(host.load_problems), dict(host.distributions), dict(host.load_failures))
    limit = os.environ.get(host.PLUGIN_LIMIT_ENV)
    host._pm = None
    host.load_problems.clear()
    host.distributions.clear()
    host.load_failures.clear()
    os.environ[host.PLUGIN_LIMIT_ENV] = ""  # the built-ins only: no installed third-party plugin
    try:
        pm = host.get_plugin_manager()
    finally:
        if limit is None:
            del os.environ[host.PLUGIN_LIMIT_ENV]
        else:
            os.environ[host.PLUGIN_LIMIT_ENV] = limit
    try:
        for plugin in plugins:
            name, plugin = plugin if isinstance(plugin, tuple) else (_plugin_name(plugin), plugin)
            pm.register(plugin, name=name)
        yield pm
    finally:
        host._pm = saved[0]
        host.load_problems[:] = saved[1]
        host.distributions.clear()
        host.distributions.update(saved[2])
        host.load_failures.clear()
        host.load_failures.update(saved[3])


@dataclass
class FakeRunner:
    """Answers commands instead of running them: ``answer(prefix, ...)`` for every command whose
    argv starts with ``prefix``; any other command is "not found" (exit 127), as the real runner
    reports a program that is not installed. Every command run is kept in ``calls``.

    Use it as a context manager: ``with FakeRunner() as fake: fake.answer(["ssh"], stdout="ok")``."""

    calls: list[list[str]] = field(default_factory=list)
    _answers: list[tuple[list[str], runner.Result]] = field(default_factory=list)

    def answer(self, prefix: list[str], returncode: int = 0, stdout: str = "", stderr: str = "") -> None:
        self._answers.insert(0, (list(prefix), runner.Result(returncode, stdout, stderr)))  # the latest wins

    def run(self, argv, *, input: str | None = None, timeout: float = 30.0, env: dict | None = None) -> runner.Result:
        argv = runner._check_argv(argv)  # refused as the real runner refuses it
        self.calls.append(argv)
        for prefix, result in self._answers:
            if argv[:len(prefix)] == prefix:
                return result
        return runner.Result(127, "", _("{command}: command not found").format(command=argv[0]))

    def __enter__(self) -> FakeRunner:
        self._real = runner.run
        runner.run = self.run
        return self

    def __exit__(self, *exc) -> None:
        runner.run = self._real
