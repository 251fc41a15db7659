"""A home whose path ssh, systemd and launchd would each read their own way: blanks, a quote,
``%d`` (an ssh token and a systemd specifier), ``#`` (an ssh comment), ``;`` (systemd's separator).
Every path derived from it is quoted for its destination's grammar, so the real ssh logs in with
the key there, the systemd unit (as the stand-in parses ExecStart, by systemd's rules) and the
LaunchAgent start a tunnel that forwards; what cannot be expressed is refused before any write."""

from __future__ import annotations

import pytest

from plugins import _gateway
from tests.conftest import Cli, snapshot
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.standins import wait_until
from tests.test_mac_side import LABEL, linux, mac  # noqa: F401  (fixtures)
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(180)
HOSTILE = "ho me 'q' %d #x ;"  # (a double quote, $, ` or \ cannot pass ssh-copy-id: refused below)


@pytest.fixture
def home(tmp_path):
    home = tmp_path / HOSTILE
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    return home


def test_a_hostile_home_works_under_systemd(cli, home, linux):
    done = cli("run", "ssh-config", "ssh-key", "tunnel", "autostart", "--yes", *linux.flags)
    assert done.returncode == 0, done.stdout + done.stderr
    config = (home / ".ssh" / "config").read_text()
    assert f'IdentityFile "{str(home).replace("%", "%%")}/.ssh/id_ed25519"' in config
    assert ssh_processes_for(home), "the unit's ExecStart, parsed as systemd does, started no tunnel"
    assert wait_until(lambda: _gateway.probe(linux.local_port, None).ok, timeout=10)
    assert cli("status").stdout.count("ok ") >= 5


def test_a_hostile_home_works_under_launchd(cli, home, mac):
    done = cli("setup", "--yes", *mac.flags)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK
    undo = cli("undo", "--yes")
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert ssh_processes_for(home) == []


@pytest.mark.parametrize("name", ["dollar ${HOME} brace", "new\nline", 'dq" x', "back\\slash", "tick`s",
                                  "not-utf8-\udcff"])
def test_a_home_ssh_cannot_be_told_is_refused_before_anything(tmp_path, mac, name):
    home = tmp_path / name
    (home / ".ssh").mkdir(parents=True)
    cli = Cli(home)
    cli.env.update({key: value for key, value in mac.standins.env.items()})
    cli.env.update(OPENCLAW_REMOTE_PLATFORM="darwin")
    before = snapshot(home)
    result = cli("run", "ssh-config", "ssh-key", "--yes", "--host", "gw.example", "--user", "u")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and snapshot(home) == before
