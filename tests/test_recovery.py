"""Sleep/wake style fault: the remote sshd goes away (every session dropped, as a host going to
sleep or rebooting does) and comes back. The agent's tunnel must forward again by itself, within
the agent's ThrottleInterval plus a small margin, with nobody running the wizard."""

from __future__ import annotations

import time

import pytest

from plugins import _gateway
from plugins.autostart import THROTTLE_SECONDS
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.standins import wait_until
from tests.test_mac_side import LABEL, mac  # noqa: F401  (mac is a fixture)
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(180)
MARGIN = 5.0


def test_tunnel_forwards_again_by_itself_after_the_remote_sshd_restarts(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    first = mac.standins.job_pid(LABEL)
    mac.sshd.stop()
    try:
        assert wait_until(lambda: first not in ssh_processes_for(home), timeout=10)  # the tunnel noticed
        assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind != _gateway.HELLO_OK
    finally:
        mac.sshd.start()
    back = time.monotonic()
    forwards = wait_until(lambda: _gateway.probe(mac.local_port, GATEWAY_TOKEN, timeout=1.0).kind == _gateway.HELLO_OK,
                          timeout=THROTTLE_SECONDS + MARGIN, interval=0.2)
    elapsed = time.monotonic() - back
    print(f"remote sshd back: the tunnel forwarded again after {elapsed:.1f} s "
          f"(ThrottleInterval {THROTTLE_SECONDS} s)")
    assert forwards, f"no forwarding {THROTTLE_SECONDS + MARGIN:g} s after sshd came back"
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)] and mac.standins.job_pid(LABEL) != first
    assert cli("status").returncode == 0


def test_a_no_op_run_writes_the_state_once_and_records_every_step(home, monkeypatch):
    """Each state write is fsync'd (~13 ms): steps already done are recorded together, once."""
    from wizard import Step
    from wizard.answers import Resolver
    from wizard.context import Context
    from wizard.flow import run_steps
    from wizard.state import State
    from wizard.ui import UI

    class Done(Step):
        def __init__(self, name):
            self.name, self.title = name, name

        def plan(self, ctx):
            return []

    saves = []
    real_save = State.save
    monkeypatch.setattr(State, "save", lambda self: (saves.append(1), real_save(self))[1])
    ctx = Context(home=home, platform="linux", interactive=False, dry_run=False, ui=UI(), state=State.load(home),
                  resolver=Resolver(flags={}, env={}, file_answers={}, saved={}, interactive=False), questions={})
    assert run_steps([Done("one"), Done("two"), Done("three")], ctx) == 0
    assert len(saves) == 1
    steps = State.load(home).data["steps"]
    assert {name: steps[name]["status"] for name in ("one", "two", "three")} == dict.fromkeys(("one", "two", "three"),
                                                                                            "done")
