"""Run every benchmark and print one table of ratios: `python -m bench.run`.

Each figure is a median of repeated runs; each baseline is measured in the same run, on the
same machine, so the ratios (not the milliseconds) are what to compare across machines.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from bench import common, latency, remote, startup, status
from bench.common import REPO, print_table


def main() -> int:
    import compileall
    import subprocess

    # As an installed copy has it (pip byte-compiles what it installs): without this, a checkout
    # where PYTHONDONTWRITEBYTECODE is set compiles every module of the wizard at every run (~35 ms).
    for package in ("wizard", "plugins"):
        compileall.compile_dir(str(REPO / package), quiet=1)

    openssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()} ({sys.executable}), {openssh}")
    venv = Path(tempfile.mkdtemp()) / "venv"
    try:
        copy = startup.installed_copy(venv)
        common.installed = str(copy) if copy else None
        print(f"wizard timed: {' '.join(common.tool())}")
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        print_table(startup.run(venv if common.installed else None) + remote.run() + latency.run() + status.run())
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        shutil.rmtree(venv.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
