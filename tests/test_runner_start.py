"""runner.start: a command that runs while the wizard does other work, bounded, never outliving it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO
from wizard import runner


def test_the_result_is_what_run_gives():
    started = runner.start([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"])
    result = started.result()
    assert (result.returncode, result.stdout) == (3, "out\n")
    assert runner.start(["no-such-command-ocr"]).result().returncode == 127


def test_a_command_over_its_bound_is_ended_and_says_so():
    began = time.monotonic()
    started = runner.start(["sleep", "30"], timeout=0.3)
    result = started.result()
    assert result.returncode == 124 and "no answer after 0.3 s" in result.stderr
    assert time.monotonic() - began < 5 and started.process.poll() is not None


def test_one_still_running_when_the_wizard_exits_is_ended():
    code = ("from wizard import runner; started = runner.start(['sleep', '30']); "
            "print(started.process.pid, flush=True)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=20)
    pid = int(done.stdout)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"sleep (pid {pid}) outlived the process that started it")


SAYS_THEN_WAITS = ("import sys, time; print('out', flush=True); sys.stderr.write('first\\nAuthenticated to x\\n'); "
                   "sys.stderr.flush(); time.sleep(30)")


def test_until_ends_the_command_once_its_stderr_says_so_and_counts_it_a_success():
    """How the key login ends at ssh's "Authenticated to …" line instead of running a remote shell."""
    began = time.monotonic()
    started = runner.start([sys.executable, "-c", SAYS_THEN_WAITS], timeout=20, until="Authenticated to ")
    result = started.result()
    assert time.monotonic() - began < 10 and started.process.poll() is not None  # ended, reaped
    assert result.returncode == 0 and result.stdout == "out\n"
    assert result.stderr == "first\nAuthenticated to x\n"


def test_until_needs_a_line_that_begins_with_it_else_the_commands_own_result():
    words = "import sys; sys.stderr.write('not Authenticated to x\\n'); sys.exit(5)"
    result = runner.start([sys.executable, "-c", words], timeout=20, until="Authenticated to ").result()
    assert result.returncode == 5 and result.stderr == "not Authenticated to x\n"
    started = runner.start(["sleep", "30"], timeout=0.3, until="Authenticated to ")
    over = started.result()
    assert over.returncode == 124 and "no answer after 0.3 s" in over.stderr and started.process.poll() is not None


def test_ending_a_command_ends_what_it_started_too_without_waiting_for_it(tmp_path):
    """An ssh's ProxyCommand holds ssh's stderr: ended with ssh, never waited for."""
    pid_file = tmp_path / "grandchild"
    script = f"sleep 30 & echo $! > {pid_file}; echo 'Authenticated to x (via proxy)' >&2; wait"
    began = time.monotonic()
    started = runner.start(["sh", "-c", script], timeout=20, until="Authenticated to x (")
    assert started.result().returncode == 0
    assert time.monotonic() - began < 10
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ", 1)[1].startswith("Z"))  # a zombie is gone
