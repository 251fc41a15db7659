"""The host's modules depend on each other bottom up only (issue 17): a module imports, at run
time, inside a function or under TYPE_CHECKING, only modules of a lower layer. An import that
points up (or sideways) is how a leaf module comes to import half the package."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

# Bottom up. A module may import only modules of the layers before its own.
LAYERS = [
    ["i18n", "plugin_index"],
    ["errors"],
    ["files", "lock"],
    ["runner"],
    ["ui"],
    ["step", "report"],
    ["hookspecs", "prompts", "state"],
    ["answers"],
    ["context"],
    ["flow"],
    ["status"],
    ["doctor", "undo"],
    ["host"],
    ["cli", "testing"],
    ["__main__", "__init__"],
]
LAYER = {name: index for index, names in enumerate(LAYERS) for name in names}


def wizard_imports(path) -> set[str]:
    """The wizard modules ``path`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "wizard":
                found.update(alias.name for alias in node.names if alias.name in LAYER)
            elif node.module.startswith("wizard."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("wizard."))
    return found


MODULES = sorted(path for path in (REPO / "wizard").glob("*.py"))


def test_every_module_has_a_layer():
    assert {path.stem for path in MODULES} == set(LAYER), "add the new module to LAYERS"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_no_import_points_up(path):
    upward = sorted(name for name in wizard_imports(path) if LAYER[name] >= LAYER[path.stem])
    assert not upward, f"wizard/{path.name} imports {upward}, which are not below it in the layers"


def test_the_tripwire_catches_an_upward_import(tmp_path):
    leaf = tmp_path / "errors.py"
    leaf.write_text("def f():\n    from wizard.answers import Resolver\n")
    assert wizard_imports(leaf) == {"answers"} and LAYER["answers"] > LAYER["errors"]


# The system layer: plugins/_*.py, the helpers that steps and tests share (ssh, launchd, systemd,
# ports, keyring, the Gateway, the remote). It uses the host's public API (actions, questions,
# the runner, files, i18n, errors) and never a step module, nor the host above the context.
SYSTEM = sorted((REPO / "plugins").glob("_*.py"))


def plugin_imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "plugins":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("plugins."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("plugins."))
    return found


@pytest.mark.parametrize("path", SYSTEM, ids=lambda path: path.stem)
def test_the_system_layer_imports_no_step_and_nothing_of_the_host_above_the_context(path):
    steps = sorted(name for name in plugin_imports(path) if not name.startswith("_"))
    assert not steps, f"plugins/{path.name} imports the step modules {steps}: move what they share into the layer"
    above = sorted(name for name in wizard_imports(path) if LAYER[name] > LAYER["context"])
    assert not above, f"plugins/{path.name} imports wizard's {above}: the system layer stays below the flow"


def test_the_system_tripwire_catches_a_step_import(tmp_path):
    helper = tmp_path / "_helper.py"
    helper.write_text("from plugins import _ssh, tunnel\n\ndef f():\n    from wizard.flow import run_steps\n")
    assert plugin_imports(helper) == {"_ssh", "tunnel"} and wizard_imports(helper) == {"flow"}
