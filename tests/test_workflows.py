"""The macOS workflow is a valid GitHub Actions workflow (GitHub's schema, vendored by
check-jsonschema: no network) and every test it names exists. actionlint itself runs in the
workflow's own lint job: its PyPI wrapper downloads the binary when built, which this
project's offline CI cannot do."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "macos.yml"


def test_the_macos_workflow_matches_githubs_schema():
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_workflow_is_refused(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(broken)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0


def test_every_test_the_workflow_names_exists():
    named = re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", WORKFLOW.read_text())
    assert len(named) >= 5
    for path, function in named:
        source = (REPO / path).read_text()
        assert not function or re.search(rf"^def {function}\(", source, re.M), f"{path}::{function}"
