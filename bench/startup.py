"""Start-up: `openclaw-remote --help` and `steps` against a bare start of the interpreter the tool
runs with (``sys.executable -c pass``), median of 10. The system ``python3`` is measured too,
beside it: its site-packages can make it much slower (or faster) than the tool's own
interpreter, and a ratio against it would hide the real one."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import command, median_seconds, row, tool

RUNS = 10


def system_python() -> str:
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else (shutil.which("python3") or sys.executable)


def run() -> list[dict]:
    home = tempfile.mkdtemp()
    env = {**os.environ, "OPENCLAW_REMOTE_HOME": home}
    bare = median_seconds(command([sys.executable, "-c", "pass"]), RUNS)
    system = median_seconds(command([system_python(), "-c", "pass"]), RUNS)
    help_time = median_seconds(command(tool("--help"), env), RUNS)
    steps_time = median_seconds(command(tool("steps"), env), RUNS)
    shutil.rmtree(home)
    same, other = f"{sys.executable} -c pass", f"{system_python()} -c pass (system)"
    return [row("openclaw-remote --help", help_time, same, bare, 3),
            row("openclaw-remote --help", help_time, other, system, None),
            row("openclaw-remote steps", steps_time, same, bare, 6),
            row("openclaw-remote steps", steps_time, other, system, None)]
