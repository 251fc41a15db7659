"""Documentation that cannot drift: every hook documented and tested; README = CI."""

from __future__ import annotations

import inspect
import re

import pytest

from tests.conftest import REPO
from wizard import hookspecs

HOOKS = [name for name, value in vars(hookspecs).items()
         if callable(value) and hasattr(value, "openclaw_remote_spec")]
PLUGIN_DOCS = (REPO / "docs" / "plugins.md").read_text()


def test_there_are_hooks_to_check():
    assert "register_steps" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docstring_and_exact_signature_in_the_docs(hook):
    function = getattr(hookspecs, hook)
    assert inspect.getdoc(function), f"{hook} has no docstring"
    parameters = ", ".join(inspect.signature(function).parameters)
    assert f"### `{hook}({parameters})`" in PLUGIN_DOCS, f"docs/plugins.md lacks a heading for {hook}({parameters})"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = [path for path in (REPO / "tests").rglob("test_*.py") if path.name != "test_docs.py"]
    assert any(re.search(rf"def test_{hook}\w*\(", path.read_text()) for path in tests), \
        f"no test function named test_{hook}_… exercises the {hook} hook"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 2, "the README quick start has two commands"
    test_command = blocks[1].strip()
    ci = (REPO / ".ci" / "run").read_text()
    assert f"exec {test_command}\n" in ci


def test_readme_links_resolve():
    readme = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target
