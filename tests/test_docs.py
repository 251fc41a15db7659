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


# Tripwires (as datasette's test_docs.py): what the code offers, the docs name.
USER_GUIDE = (REPO / "docs" / "user-guide.md").read_text()


def _builtin_stepset():
    from wizard.cli import COMMANDS
    from wizard.host import collect_steps
    from wizard.testing import registered

    with registered() as pm:
        return collect_steps(pm, reserved=COMMANDS)


BUILTIN = _builtin_stepset()


@pytest.mark.parametrize("step", [step.name for step in BUILTIN.steps])
def test_every_builtin_step_is_documented(step):
    assert f"### `{step}`" in USER_GUIDE, f"docs/user-guide.md has no section for the step {step}"
    assert f"`{step}`" in PLUGIN_DOCS, f"docs/plugins.md does not name the built-in step {step}"


def _commands():
    from wizard.cli import COMMANDS

    return [*COMMANDS, *BUILTIN.commands]


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_documented(command):
    assert f"openclaw-remote {command}" in USER_GUIDE or f"`{command}`" in USER_GUIDE, \
        f"docs/user-guide.md does not document the command {command}"
    assert f"`{command}`" in PLUGIN_DOCS, f"docs/plugins.md does not name the command {command}"


PUBLIC = [name for name in __import__("wizard").__all__ if name != "__version__"]
PUBLIC_TABLE = (
    PLUGIN_DOCS.split("### The public names")[1].split("\n#")[0] if "### The public names" in PLUGIN_DOCS else ""
)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_is_documented(name):
    import wizard

    assert getattr(wizard, name) is not None  # the lazy export really resolves
    imports = re.search(r"Import everything from `wizard`: (.*?)\.\n", PLUGIN_DOCS, flags=re.S).group(1)
    assert f"`{name}`" in imports, f"docs/plugins.md's import list omits {name}"
    assert f"| `{name}` |" in PUBLIC_TABLE, f"docs/plugins.md's table of public names has no row for {name}"


def test_the_table_of_public_names_names_only_public_names():
    rows = re.findall(r"^\| `(\w+)` \|", PUBLIC_TABLE, flags=re.M)
    assert rows and sorted(rows) == sorted(PUBLIC)


def test_the_step_count_in_the_docs_is_the_real_one():
    words = {6: "six", 7: "seven", 8: "eight"}
    assert f"The {words[len(BUILTIN.steps)]} built-in steps" in PLUGIN_DOCS


def test_the_testing_helpers_are_documented():
    from wizard import testing

    for name in ("registered", "FakeRunner"):
        assert hasattr(testing, name) and f"`{name}(" in PLUGIN_DOCS
