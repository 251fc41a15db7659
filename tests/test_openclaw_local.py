"""OpenClaw.app's own gateway agent and its own SSH mode, on the darwin path: the launchctl
stand-in runs the agent's real program (a real ``node`` listening on the tunnel's port, as
OpenClaw's gateway agent does), the real sshd and gateway stand-in carry the tunnel."""

from __future__ import annotations

import json
import os
import plistlib
import shutil

import pytest

from plugins import _gateway
from tests.conftest import snapshot
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.standins import wait_until
from tests.test_mac_side import LABEL, mac  # noqa: F401  (the fixture)
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(120)
UID = os.getuid()
GATEWAY_LABEL = "ai.openclaw.gateway"
NODE = shutil.which("node")


def install_gateway_agent(home, mac, label=GATEWAY_LABEL):
    """OpenClaw's local gateway agent as `openclaw gateway install --runtime node` leaves it: a
    RunAtLoad/KeepAlive plist whose node program listens on the local port; loaded."""
    if NODE is None:
        pytest.skip("node is not installed (apt-get install -y nodejs)")
    agents = home / "Library" / "LaunchAgents"
    agents.mkdir(parents=True, exist_ok=True)
    path = agents / f"{label}.plist"
    server = (f"require('net').createServer(s => s.end()).listen({mac.local_port}, '127.0.0.1')")
    path.write_bytes(plistlib.dumps({"Label": label, "ProgramArguments": [NODE, "-e", server],
                                     "RunAtLoad": True, "KeepAlive": True}))
    assert mac.standins.run("launchctl", "bootstrap", f"gui/{UID}", str(path)).returncode == 0
    assert wait_until(lambda: gateway_holds_port(mac, label), timeout=10)
    return path


def gateway_holds_port(mac, label=GATEWAY_LABEL) -> bool:
    from plugins import _ports

    pid = mac.standins.job_pid(label)
    holder = _ports.owner(mac.local_port, likely=(pid,) if pid else ())
    return bool(pid) and holder is not None and holder.pid == pid and holder.name == "node"


def status_checks(cli) -> dict:
    result = cli("status", "--json")
    return {check["name"]: check for check in json.loads(result.stdout)["checks"]}


def test_local_gateway_agent_is_refused_without_consent_then_stopped_and_put_back_by_undo(cli, home, mac):
    plist = install_gateway_agent(home, mac)
    before = snapshot(home)

    refused = cli("setup", "--yes", *mac.flags)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert GATEWAY_LABEL in refused.stderr and "--stop-local-gateway" in refused.stderr
    assert snapshot(home) == before  # stopped before the first write
    assert gateway_holds_port(mac)
    assert not [c for c in mac.standins.calls("launchctl") if c[0] in ("bootout", "disable")]

    done = cli("setup", "--yes", "--stop-local-gateway", *mac.flags)
    assert done.returncode == 0, done.stdout + done.stderr
    launchctl = mac.standins.calls("launchctl")
    marker = home / ".openclaw" / "disable-launchagent"
    assert marker.exists() and marker.read_bytes() == b""
    assert launchctl.index(["bootout", f"gui/{UID}/{GATEWAY_LABEL}"]) < launchctl.index(
        ["disable", f"gui/{UID}/{GATEWAY_LABEL}"])
    assert GATEWAY_LABEL not in mac.standins.loaded() and GATEWAY_LABEL in mac.standins.disabled()
    assert plist.exists()  # OpenClaw's file is never removed
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]  # our tunnel holds the port now
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK
    assert status_checks(cli)["openclaw-gateway-agent"]["status"] == "ok"

    again = cli("setup", "--yes", *mac.flags)  # stopped and recorded: nothing to ask again
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already done, nothing to change") == 7

    # The app (or the user) brings its gateway back while our agent is down: status names it.
    assert mac.standins.run("launchctl", "bootout", f"gui/{UID}/{LABEL}").returncode == 0
    assert mac.standins.run("launchctl", "enable", f"gui/{UID}/{GATEWAY_LABEL}").returncode == 0
    assert mac.standins.run("launchctl", "bootstrap", f"gui/{UID}", str(plist)).returncode == 0
    assert wait_until(lambda: gateway_holds_port(mac), timeout=10)
    agent_check = status_checks(cli)["openclaw-gateway-agent"]
    assert agent_check["status"] == "fail" and agent_check["details"]["label"] == GATEWAY_LABEL

    undone = cli("undo", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert not marker.exists()
    assert GATEWAY_LABEL not in mac.standins.disabled()
    assert wait_until(lambda: gateway_holds_port(mac), timeout=10)  # OpenClaw's own gateway is back
    assert ssh_processes_for(home) == []


@pytest.mark.parametrize("answer", ["y", "n"])
def test_stopping_the_local_gateway_is_asked_in_a_real_terminal(cli, home, mac, answer):
    import sys

    import pexpect

    install_gateway_agent(home, mac)
    before = snapshot(home)
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "run", "local-gateway", "--local-port", str(mac.local_port)],
                          env=cli.env, encoding="utf-8", timeout=30, dimensions=(40, 200))
    child.expect(f"{GATEWAY_LABEL} holds local port {mac.local_port}")
    child.expect("Stop OpenClaw.app's own local gateway agent")
    child.send(answer)
    child.expect(pexpect.EOF)
    child.close()
    if answer == "y":
        assert child.exitstatus == 0, child.before
        assert GATEWAY_LABEL in mac.standins.disabled() and (home / ".openclaw" / "disable-launchagent").exists()
    else:
        assert child.exitstatus == 1, child.before
        assert "--stop-local-gateway" in child.before
        assert snapshot(home) == before and gateway_holds_port(mac)


def test_stopping_the_local_gateway_is_asked_in_a_dry_run_and_shown_as_its_plan(cli, home, mac):
    install_gateway_agent(home, mac)
    result = cli("run", "local-gateway", "--dry-run", "--yes", "--stop-local-gateway", *mac.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "disable-launchagent" in result.stdout
    assert f"launchctl bootout gui/{UID}/{GATEWAY_LABEL}" in result.stdout
    assert f"launchctl disable gui/{UID}/{GATEWAY_LABEL}" in result.stdout
    assert gateway_holds_port(mac) and not (home / ".openclaw").exists()


def test_a_profile_gateway_agent_is_found_by_its_label_and_the_node_host_is_not(cli, home, mac):
    install_gateway_agent(home, mac, label="ai.openclaw.work")
    node_host = home / "Library" / "LaunchAgents" / "ai.openclaw.node.plist"
    node_host.write_bytes(plistlib.dumps({"Label": "ai.openclaw.node", "ProgramArguments": ["/bin/true"]}))
    done = cli("run", "local-gateway", "--yes", "--stop-local-gateway", *mac.flags)
    assert done.returncode == 0, done.stdout + done.stderr
    assert mac.standins.disabled() == ["ai.openclaw.work"]


APP_SSH_CONFIG = """// OpenClaw.app settings (JSON5, as the app writes and reads them)
{
  gateway: {
    mode: "remote",
    remote: {
      transport: "ssh",
      sshTarget: "me@gateway.example:22",
      token: "token-in-the-app-config-123",  // differs from launchd's
    },
  },
}
"""


def test_the_apps_own_ssh_mode_is_warned_about_and_a_differing_config_token_is_named_not_shown(cli, home, mac):
    config = home / ".openclaw" / "openclaw.json"
    config.parent.mkdir()
    config.write_text(APP_SSH_CONFIG)
    result = cli("setup", "--yes", *mac.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Remote over SSH" in result.stderr and "me@gateway.example:22" in result.stderr
    assert "switch OpenClaw.app to Local mode" in result.stderr
    assert config.read_text() == APP_SSH_CONFIG  # read, never written
    assert not list(config.parent.glob("openclaw.json?*"))

    report = cli("status", "--json")
    checks = {check["name"]: check for check in json.loads(report.stdout)["checks"]}
    assert checks["openclaw-app-tunnel"]["status"] == "warn"
    assert checks["openclaw-config-token"]["status"] == "warn"
    assert "gateway.remote.token" in checks["openclaw-config-token"]["reason"]
    plain = cli("status")
    for secret in ("token-in-the-app-config-123", GATEWAY_TOKEN):
        assert secret not in report.stdout + report.stderr + plain.stdout + plain.stderr

    config.write_text(APP_SSH_CONFIG.replace("token-in-the-app-config-123", GATEWAY_TOKEN).replace(
        'mode: "remote"', 'mode: "local"'))
    checks = status_checks(cli)
    assert checks["openclaw-app-tunnel"]["status"] == "ok" and checks["openclaw-config-token"]["status"] == "ok"


def test_an_unreadable_openclaw_json_is_said_and_not_touched(cli, home, mac):
    config = home / ".openclaw" / "openclaw.json"
    config.parent.mkdir()
    config.write_text("{ gateway: { mode: 'remote', ")
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    checks = status_checks(cli)
    assert checks["openclaw-app-tunnel"]["status"] == "warn" and "JSON5" in checks["openclaw-app-tunnel"]["reason"]
    assert config.read_text() == "{ gateway: { mode: 'remote', "


def test_doctor_fix_stops_the_apps_gateway_that_came_back_and_the_tunnel_takes_the_port_again(cli, home, mac):
    plist = install_gateway_agent(home, mac)
    assert cli("setup", "--yes", "--stop-local-gateway", *mac.flags).returncode == 0
    # The app re-enabled its agent (say, while switched to local mode for a moment) and won the port:
    assert mac.standins.run("launchctl", "bootout", f"gui/{UID}/{LABEL}").returncode == 0
    assert mac.standins.run("launchctl", "enable", f"gui/{UID}/{GATEWAY_LABEL}").returncode == 0
    assert mac.standins.run("launchctl", "bootstrap", f"gui/{UID}", str(plist)).returncode == 0
    assert wait_until(lambda: gateway_holds_port(mac), timeout=10)

    diagnosis = cli("doctor")
    assert diagnosis.returncode == 1 and GATEWAY_LABEL in diagnosis.stdout + diagnosis.stderr
    fixed = cli("doctor", "--fix", "--yes", "--stop-local-gateway")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert GATEWAY_LABEL not in mac.standins.loaded() and GATEWAY_LABEL in mac.standins.disabled()
    assert wait_until(lambda: ssh_processes_for(home) == [mac.standins.job_pid(LABEL)], timeout=10)
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK
