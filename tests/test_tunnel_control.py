"""``openclaw-remote tunnel start|stop|restart|logs`` under each owner: a detached ssh, launchd
(stand-in), a systemd user unit (stand-in). Each command waits for the new state and says how long."""

from __future__ import annotations

import re

import pytest

from plugins import _gateway, _ports
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.standins import wait_until
from tests.test_mac_side import LABEL, UID, linux, mac  # noqa: F401  (linux, mac are fixtures)
from tests.test_remote import ssh_processes_for, state_of

pytestmark = pytest.mark.timeout(180)
TIMED = re.compile(r"in (\d+) ms|\((\d+) ms\)")


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    assert TIMED.search(result.stdout), result.stdout
    return result.stdout


def test_detached_tunnel_stop_start_restart_and_logs(cli, home, mac):
    assert cli("run", "ssh-config", "ssh-key", "token", "tunnel", "--yes", *mac.flags).returncode == 0
    first = ssh_processes_for(home)
    assert len(first) == 1

    out = ok(cli("tunnel", "stop"))
    assert f"port {mac.local_port} free" in out and ssh_processes_for(home) == []
    assert not _ports.accepting(mac.local_port)

    out = ok(cli("tunnel", "start"))
    assert "run by a detached ssh" in out
    started = ssh_processes_for(home)
    assert len(started) == 1 and started != first and state_of(home)["steps"]["tunnel"]["pid"] == started[0]
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK
    again = cli("tunnel", "start")
    assert again.returncode == 0 and "already runs" in again.stdout and ssh_processes_for(home) == started

    ok(cli("tunnel", "restart"))
    restarted = ssh_processes_for(home)
    assert len(restarted) == 1 and restarted != started
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK

    log = home / ".config/openclaw-remote/tunnel.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    logs = cli("tunnel", "logs", "-n", "3")
    assert logs.returncode == 0 and logs.stdout == f"==> {log} <==\nline 97\nline 98\nline 99\n"


def test_launchd_tunnel_restart_is_kickstart_stop_is_bootout(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    job = mac.standins.job_pid(LABEL)
    mac.standins.clear_calls()

    out = ok(cli("tunnel", "restart"))
    assert ["kickstart", "-k", f"gui/{UID}/{LABEL}"] in mac.standins.calls("launchctl")
    assert "run by launchd" in out and mac.standins.job_pid(LABEL) not in (None, job)
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]

    out = ok(cli("tunnel", "stop"))
    assert ["bootout", f"gui/{UID}/{LABEL}"] in mac.standins.calls("launchctl")
    assert "next login" in out and ssh_processes_for(home) == [] and not _ports.accepting(mac.local_port)

    out = ok(cli("tunnel", "start"))
    assert ["bootstrap", f"gui/{UID}", str(home / "Library/LaunchAgents" / f"{LABEL}.plist")] in \
        mac.standins.calls("launchctl")
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK

    (home / "Library/Logs" / f"{LABEL}.log").write_text("Warning: Permanently added '[127.0.0.1]:1' to known hosts.\n")
    logs = cli("tunnel", "logs")
    assert logs.returncode == 0 and f"Library/Logs/{LABEL}.log <==" in logs.stdout and "Permanently" in logs.stdout


def test_start_refuses_when_a_stranger_holds_the_port(cli, home, mac):
    assert cli("run", "ssh-config", "ssh-key", "token", "tunnel", "--yes", *mac.flags).returncode == 0
    assert cli("tunnel", "stop").returncode == 0
    import socket

    with socket.socket() as stranger:
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stranger.bind(("127.0.0.1", mac.local_port))
        stranger.listen()
        result = cli("tunnel", "start")
        assert result.returncode == 1 and f"port {mac.local_port} is taken by" in result.stderr
        assert ssh_processes_for(home) == []
        stop = cli("tunnel", "stop")
        assert stop.returncode == 1 and "which openclaw-remote did not start: left alone" in stop.stderr


def test_systemd_unit_tunnel_stop_and_start(cli, home, standins, linux):
    assert cli("run", "ssh-config", "ssh-key", "tunnel", "autostart", "--yes", *linux.flags).returncode == 0
    standins.clear_calls()
    ok(cli("tunnel", "stop"))
    assert ["--user", "stop", f"{LABEL}.service"] in standins.calls("systemctl")
    assert ssh_processes_for(home) == []
    out = ok(cli("tunnel", "start"))
    assert ["--user", "start", f"{LABEL}.service"] in standins.calls("systemctl") and "run by systemd" in out
    assert wait_until(lambda: len(ssh_processes_for(home)) == 1, timeout=5)
    assert _gateway.probe(linux.local_port, None).ok
