"""On a real Mac only (the macOS workflow, .github/workflows/macos.yml): the real launchctl,
ps and /usr/bin/ssh against the code that the Linux suite drives through stand-ins. Each run
keeps what the real ``launchctl print`` said (launchctl-print-captured/, a CI artifact) so the
parser's sample shapes in tests/data/launchctl-print/ can be replaced by real captures.

Not run on Linux: there is no launchd there. Labels are unique per run and always booted out."""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugins import _launchd
from wizard import runner

pytestmark = [pytest.mark.skipif(sys.platform != "darwin", reason="a real Mac only (the macOS workflow)"),
              pytest.mark.timeout(60)]
CAPTURED = Path(__file__).resolve().parent.parent / "launchctl-print-captured"


class RealCommands:
    """The part of a Context the launchd helpers use: commands run for real."""

    def run(self, argv, timeout=30):
        return runner.run(argv, timeout=timeout)


@pytest.fixture
def ctx():
    return RealCommands()


def test_the_session_check_agrees_with_launchctl(ctx):
    manager = runner.run(["launchctl", "managername"]).stdout.strip()
    problem = _launchd.session_problem(ctx)
    assert (problem is None) == (manager == "Aqua"), (manager, problem)


def test_a_real_agent_is_parsed_and_booted_out(ctx, tmp_path):
    if _launchd.session_problem(ctx):
        pytest.skip("this runner has no GUI session: the session check above proved it says so")
    label = f"openclaw-remote.test.{os.getpid()}"
    agent = tmp_path / f"{label}.plist"
    agent.write_bytes(plistlib.dumps({"Label": label, "ProgramArguments": ["/bin/sleep", "60"], "RunAtLoad": True}))
    agent.chmod(0o644)
    target = f"{_launchd.domain()}/{label}"
    try:
        assert runner.run(["launchctl", "bootstrap", _launchd.domain(), str(agent)]).returncode == 0
        deadline = time.monotonic() + 5
        while (found := _launchd.loaded_pid(ctx, label))[1] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        printed = runner.run(["launchctl", "print", target]).stdout
        CAPTURED.mkdir(exist_ok=True)
        (CAPTURED / "running.txt").write_text(printed)
        assert found[0] and found[1] and _launchd.parse_print(printed).state == "running"
        ps = subprocess.run(["ps", "-o", "comm=", "-p", str(found[1])], capture_output=True, text=True)
        assert ps.stdout.strip().endswith("sleep")
    finally:
        out = runner.run(["launchctl", "bootout", target])
        (CAPTURED / "bootout-exit.txt").write_text(f"{out.returncode}\n{out.stderr}")
        deadline = time.monotonic() + _launchd.BOOTOUT_WAIT_SECONDS
        while _launchd.loaded_pid(ctx, label)[0] and time.monotonic() < deadline:
            time.sleep(0.1)
    assert out.returncode in (0, _launchd.IN_PROGRESS), out.stderr
    assert not _launchd.loaded_pid(ctx, label)[0]
