"""The lint scripts/test runs before pytest: the tree passes it, and it catches what it is for."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def ruff(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_the_tree_passes_the_lint():
    result = ruff(".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lint_catches_an_unused_import_and_a_noqa_that_silences_nothing(tmp_path):
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text("import os\nx = 1  # noqa: E501\n")
    result = ruff(".", cwd=tmp_path)
    assert result.returncode == 1
    assert "F401" in result.stdout and "RUF100" in result.stdout


def test_scripts_test_lints_before_the_tests():
    script = (REPO / "scripts" / "test").read_text()
    assert script.index("python3 -m ruff check .") < script.index("exec python3 -m pytest")
