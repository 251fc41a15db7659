"""An install or a run on a Python older than 3.10 (macOS's own /usr/bin/python3 is 3.9) ends
with a message that names the fix, not a traceback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.real_mac  # no Mac tool at all: the macOS workflow runs it as it is



def old_pythons() -> list[str]:
    """Interpreters older than 3.10 on this machine: a Mac's /usr/bin/python3, pyenv's 3.9/3.8."""
    found = []
    pyenv = sorted(str(p) for p in (Path.home() / ".pyenv" / "versions").glob("3.*/bin/python3"))
    for candidate in ("/usr/bin/python3", shutil.which("python3.9"), shutil.which("python3.8"), *pyenv):
        if not candidate or not Path(candidate).exists():
            continue
        version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info < (3, 10))"],
                                 capture_output=True, text=True)
        if version.stdout.strip() == "True":
            found.append(candidate)
    return found


@pytest.mark.skipif(not old_pythons(), reason="no Python older than 3.10 here (a macOS runner has /usr/bin/python3)")
def test_an_old_python_is_told_how_to_install_instead_of_a_traceback(tmp_path):
    done = subprocess.run([old_pythons()[0], "-m", "wizard", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "needs Python 3.10 or newer" in done.stderr and "uv tool install" in done.stderr
