"""launchd's own tools against the code that reads them: the session check and the ``print``
parser, on a real agent that is loaded, read and booted out. On a real Mac (the macOS workflow,
marker real_mac) it is the real launchctl and ps, and each run keeps what the real
``launchctl print`` said (launchctl-print-captured/, a CI artifact) so the parser's sample
shapes in tests/data/launchctl-print/ can be replaced by real captures; on Linux the same body
meets the launchctl stand-in (tests/harness/mac.py). Labels are unique per test and always
booted out."""

from __future__ import annotations

import plistlib
import time
from pathlib import Path

import pytest

from plugins import _launchd
from wizard import runner

pytestmark = [pytest.mark.real_mac, pytest.mark.timeout(60)]
CAPTURED = Path(__file__).resolve().parent.parent / "launchctl-print-captured"


class Commands:
    """The part of a Context the launchd helpers use: commands run with the Mac's tools."""

    def __init__(self, mac):
        self.env = mac.env

    def run(self, argv, timeout=30):
        import os

        return runner.run(argv, timeout=timeout, env={**os.environ, **self.env})


def keep(mac, name: str, text: str) -> None:
    """What the real launchctl said, for the workflow's artifact (the stand-in's is not news)."""
    if mac.real:
        CAPTURED.mkdir(exist_ok=True)
        (CAPTURED / name).write_text(text)


def test_the_session_check_agrees_with_launchctl(mac_backend):
    manager = mac_backend.tool("launchctl", "managername").stdout.strip()
    problem = _launchd.session_problem(Commands(mac_backend))
    assert (problem is None) == (manager == "Aqua"), (manager, problem)


def test_a_real_agent_is_parsed_and_booted_out(mac_backend, tmp_path):
    mac = mac_backend
    label = mac.label
    agent = tmp_path / f"{label}.plist"
    agent.write_bytes(plistlib.dumps({"Label": label, "ProgramArguments": ["/bin/sleep", "60"], "RunAtLoad": True}))
    agent.chmod(0o644)
    target = f"{_launchd.domain()}/{label}"
    ctx = Commands(mac)
    try:
        assert mac.tool("launchctl", "bootstrap", _launchd.domain(), str(agent)).returncode == 0
        deadline = time.monotonic() + 5
        while (found := _launchd.loaded_pid(ctx, label))[1] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        printed = mac.tool("launchctl", "print", target).stdout
        keep(mac, "running.txt", printed)
        assert found[0] and found[1] and _launchd.parse_print(printed).state == "running"
        ps = mac.tool("ps", "-o", "comm=", "-p", str(found[1]))
        assert ps.stdout.strip().endswith("sleep")
    finally:
        out = mac.tool("launchctl", "bootout", target)
        keep(mac, "bootout-exit.txt", f"{out.returncode}\n{out.stderr}")
        deadline = time.monotonic() + _launchd.BOOTOUT_WAIT_SECONDS
        while _launchd.loaded_pid(ctx, label)[0] and time.monotonic() < deadline:
            time.sleep(0.1)
    assert out.returncode in (0, _launchd.IN_PROGRESS), out.stderr
    assert not _launchd.loaded_pid(ctx, label)[0]
