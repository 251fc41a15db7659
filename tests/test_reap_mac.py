"""Without /proc (macOS), a killed child of ours stays a zombie until reaped, and kill(pid, 0)
still finds it. The tunnel's liveness check reaps our own children and asks ``ps -o stat=``
(real ps) about anyone else's; these tests take that path by pointing PROC at no /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from plugins import _tunnel

pytestmark = [pytest.mark.real_mac, pytest.mark.timeout(60)]  # the macOS workflow runs it as it is


@pytest.fixture
def no_proc(monkeypatch, tmp_path):
    monkeypatch.setattr(_tunnel, "PROC", tmp_path / "no-proc")


def test_our_killed_child_is_reaped_and_counts_as_dead(no_proc):
    child = subprocess.Popen(["sleep", "60"])
    os.kill(child.pid, signal.SIGKILL)
    time.sleep(0.2)  # a zombie now: nobody has waited for it
    os.kill(child.pid, 0)  # ... which kill(0) still finds, as on macOS
    assert not _tunnel._alive(child.pid)
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)  # reaped: gone for good
    assert child.poll() is not None  # the Popen copes with it


def test_kill_of_our_own_child_does_not_wait_for_its_zombie(no_proc):
    child = subprocess.Popen(["sleep", "60"])
    started = time.monotonic()
    _tunnel.kill(child.pid)
    # the previous check waited KILL_GRACE + STOP_TIMEOUT (6 s) for the zombie to "die"
    assert time.monotonic() - started < _tunnel.KILL_GRACE


def test_someone_elses_zombie_counts_as_dead_through_ps(no_proc):
    # A parent that never reaps its child: the child is not ours, so waitpid cannot help.
    parent = subprocess.Popen([sys.executable, "-c", "import os, sys, time\n"
                               "pid = os.fork()\n"
                               "if pid == 0:\n    os._exit(0)\n"
                               "print(pid, flush=True)\ntime.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    try:
        zombie = int(parent.stdout.readline())
        time.sleep(0.2)
        os.kill(zombie, 0)
        assert _tunnel._zombie(zombie) and not _tunnel._alive(zombie)
        assert _tunnel._alive(parent.pid)  # a running process is alive, through ps as well
    finally:
        parent.kill()
        parent.wait()
