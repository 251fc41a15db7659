"""Start-up: `openclaw-remote --help` and `steps`, median of 10, each against a bare start of the
interpreter it runs with (``python -c pass``).

The figures that count are an **installed copy's**: the bench makes a fresh virtual environment
and ``pip install``s this checkout into it (with its dependencies, byte-compiled), as
``pipx``/``uv tool install`` do for a user, and times its ``openclaw-remote`` against that
venv's own bare start. The checkout run with the bench's interpreter is measured beside it, and
so is the system ``python3``: their site-packages (an editable install's finder, a machine's
``.pth`` files) can make a bare start several times slower than a venv's, which flatters the
ratio (the README's figures before 2026-12-01's last run were against such a start).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import REPO, checkout_tool, command, median_seconds, row

RUNS = 10


def system_python() -> str:
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else (shutil.which("python3") or sys.executable)


def installed_copy(where: Path) -> Path | None:
    """``where``/bin/openclaw-remote from a venv with this checkout installed, or None (with the
    reason printed) when pip cannot install it here (no index reachable, say). Every benchmark
    times that copy (``bench.common.tool``), as a user runs it."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    done = subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", str(REPO)], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"(no installed copy: pip install failed: {done.stderr.strip()[-300:]})")
        return None
    return where / "bin" / "openclaw-remote"


def run(venv: Path | None) -> list[dict]:
    """``venv``: where ``installed_copy`` installed this checkout (None: it could not)."""
    home = tempfile.mkdtemp()
    env = {**os.environ, "OPENCLAW_REMOTE_HOME": home}
    rows = []
    if venv is not None:
        bare = median_seconds(command([str(venv / "bin" / "python"), "-c", "pass"]), RUNS)
        for args, target in ((["--help"], 3), (["steps"], 6)):
            ours = median_seconds(command([str(venv / "bin" / "openclaw-remote"), *args], env), RUNS)
            rows.append(row(f"openclaw-remote {args[0]}, installed (pip install . in a venv)", ours,
                            "that venv's python -c pass", bare, target))
    same = median_seconds(command([sys.executable, "-c", "pass"]), RUNS)
    system = median_seconds(command([system_python(), "-c", "pass"]), RUNS)
    for args in (["--help"], ["steps"]):
        ours = median_seconds(command(checkout_tool(*args), env), RUNS)
        rows.append(row(f"openclaw-remote {args[0]}, from this checkout", ours, f"{sys.executable} -c pass", same,
                        None))
        rows.append(row(f"openclaw-remote {args[0]}, from this checkout", ours,
                        f"{system_python()} -c pass (system)", system, None))
    shutil.rmtree(home)
    return rows
