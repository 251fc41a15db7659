"""Which ssh tunnels are ours: only those this wizard starts for this home (its ``-F`` config,
BatchMode, the alias as destination). Anyone else's ``ssh -N`` — typed by hand, started with
another config, or merely naming the alias — is named and left alone by ``tunnel stop``, ``undo``
and ``doctor``, and does not disturb a setup running beside it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from plugins import _gateway, _ports, _ssh
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.standins import wait_until
from tests.test_mac_side import mac  # noqa: F401  (a fixture)
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(180)


class Ctx:
    def __init__(self, home: Path, real_home: bool = False):
        self.home, self.real_home = home, real_home

    def path(self, *parts):
        return self.home.joinpath(*parts)


def owner(*args: str) -> _ports.Owner:
    return _ports.Owner(1234, "ssh", args)


@pytest.mark.parametrize("args, ours", [
    (("ssh", "-F", "{config}", "-o", "UserKnownHostsFile=k", "-N", "-o", "BatchMode=yes",
      "-o", "ExitOnForwardFailure=yes", "gw"), True),                       # the tunnel step's
    (("/usr/bin/ssh", "-F{config}", "-N", "-oBatchMode=yes", "gw"), True),  # the agent's, options glued
    (("ssh", "-N", "gw"), False),                                           # typed by hand
    (("ssh", "-F", "/elsewhere/config", "-N", "-o", "BatchMode=yes", "gw"), False),  # another config
    (("ssh", "-F", "{config}", "-N", "-o", "BatchMode=yes", "-J", "gw", "other"), False),  # alias as a word
    (("ssh", "-F", "{config}", "-N", "-o", "BatchMode=yes", "gw-staging"), False),
    (("sshd", "-F", "{config}", "-N", "-o", "BatchMode=yes", "gw"), False),
    (("ssh", "-F", "{config}", "-o", "BatchMode=yes", "gw"), False),        # a login, not a tunnel
])
def test_a_tunnel_is_ours_only_with_this_homes_config_batchmode_and_the_alias(tmp_path, args, ours):
    config = tmp_path / ".ssh" / "config"
    process = owner(*(arg.replace("{config}", str(config)) for arg in args))
    assert _ssh.is_tunnel(Ctx(tmp_path), process, "gw") is ours


def test_for_the_real_home_ours_carry_no_other_config(tmp_path):
    ctx = Ctx(tmp_path, real_home=True)
    assert _ssh.is_tunnel(ctx, owner("/usr/bin/ssh", "-N", "-o", "BatchMode=yes", "gw"), "gw")
    assert not _ssh.is_tunnel(ctx, owner("ssh", "-N", "gw"), "gw")
    assert not _ssh.is_tunnel(ctx, owner("ssh", "-F", "/tmp/x", "-N", "-o", "BatchMode=yes", "gw"), "gw")


def test_a_tunnel_started_by_hand_with_another_config_is_named_and_left_alone(cli, home, mac, tmp_path):
    assert cli("run", "ssh-config", "ssh-key", "tunnel", "--yes", *mac.flags).returncode == 0
    assert cli("tunnel", "stop").returncode == 0
    # The same forward, from a copy of the config somewhere else: someone else's tunnel.
    other = tmp_path / "someone-elses-config"
    shutil.copy(home / ".ssh" / "config", other)
    alias = "remote-gateway"
    theirs = subprocess.Popen(["ssh", "-F", str(other), "-o", f"UserKnownHostsFile={home / '.ssh/known_hosts'}",
                               "-N", "-o", "BatchMode=yes", alias],
                              stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_until(lambda: _gateway.probe(mac.local_port, GATEWAY_TOKEN).ok, timeout=10)
        status = cli("status")
        assert "did not start (left alone)" in status.stdout, status.stdout + status.stderr
        assert "fail  tunnel process" not in status.stdout

        stop = cli("tunnel", "stop")
        assert stop.returncode == 1 and f"pid {theirs.pid}" in stop.stderr and "left alone" in stop.stderr
        doctor = cli("doctor")
        assert "ok    tunnel process" in doctor.stdout and "orphaned" not in doctor.stdout, doctor.stdout
        undo = cli("undo", "--yes")
        assert undo.returncode == 0, undo.stdout + undo.stderr
        assert theirs.poll() is None, "someone else's tunnel was stopped"
        assert ssh_processes_for(home) == [theirs.pid]  # (its known-hosts option names this home)
    finally:
        theirs.kill()
        theirs.wait()


def test_an_unrelated_tunnel_for_the_same_alias_does_not_disturb_a_setup(cli, home, mac, tmp_path):
    import socket

    # A developer's own `ssh -N remote-gateway` (its own config) runs all along: here it waits
    # forever for a server banner from a socket that never answers, so it stays in `ps`.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        config = tmp_path / "developers-config"
        config.write_text(f"Host remote-gateway\n    HostName 127.0.0.1\n    Port {silent.getsockname()[1]}\n")
        theirs = subprocess.Popen(["ssh", "-F", str(config), "-N", "remote-gateway"],
                                  stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            done = cli("setup", "--yes", *mac.flags)
            assert done.returncode == 0, done.stdout + done.stderr
            assert ssh_processes_for(home) == [mac.standins.job_pid("bot.molt.ssh-tunnel")]
            undo = cli("undo", "--yes")
            assert undo.returncode == 0, undo.stdout + undo.stderr
            assert theirs.poll() is None, "the developer's ssh was stopped"
        finally:
            theirs.kill()
            theirs.wait()


def test_a_home_with_blanks_is_recognised_in_ps_output_that_joins_the_arguments(tmp_path):
    home = tmp_path / "ho me"
    config = home / ".ssh" / "config"
    joined = f"/usr/bin/ssh -F {config} -N -o BatchMode=yes gw"  # what macOS's ps prints
    assert _ssh.is_tunnel(Ctx(home), owner(*joined.split()), "gw")
    other = f"/usr/bin/ssh -F {tmp_path / 'ho'} -F {config} -N -o BatchMode=yes gw"
    assert not _ssh.is_tunnel(Ctx(home), owner(*other.split()), "gw")
    assert not _ssh.is_tunnel(Ctx(home), owner(*f"/usr/bin/ssh -F {config}x -N -o BatchMode=yes gw".split()), "gw")
