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
