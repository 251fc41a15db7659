"""Start-up: `openclaw-remote --help` and `steps` against `python3 -c pass` (median of 10)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from bench.common import command, median_seconds, row

RUNS = 10


def run() -> list[dict]:
    home = tempfile.mkdtemp()
    env = {**os.environ, "OPENCLAW_REMOTE_HOME": home}
    script = shutil.which("openclaw-remote") or sys.exit("install first: pip install -e .")
    baseline = median_seconds(command([sys.executable, "-c", "pass"]), RUNS)
    help_time = median_seconds(command([script, "--help"], env), RUNS)
    steps_time = median_seconds(command([script, "steps"], env), RUNS)
    shutil.rmtree(home)
    return [row("openclaw-remote --help", help_time, "python3 -c pass", baseline, 4),
            row("openclaw-remote steps", steps_time, "python3 -c pass", baseline, 8)]
