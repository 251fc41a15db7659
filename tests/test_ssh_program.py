"""Which ssh runs: Apple's /usr/bin/ssh on a Mac for every probe, ``ssh -G``, the detached tunnel
and the agent (what is verified is what launchd runs); ``ssh`` from PATH elsewhere, so the Linux
tests run the ssh their PATH names. The darwin branch is taken here by setting sys.platform."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from plugins import _ssh, _tunnel, autostart

pytestmark = pytest.mark.real_mac  # no Mac tool at all: the macOS workflow runs it as it is



@pytest.fixture
def ctx(tmp_path):
    home = tmp_path / "home"
    return SimpleNamespace(home=home, real_home=False, platform="darwin", config_dir=home / ".config",
                           path=lambda *parts: home.joinpath(*parts), answer=lambda name: "gw")


@pytest.mark.parametrize("os_name, ssh", [("darwin", "/usr/bin/ssh"), ("linux", "ssh")])
def test_probes_the_tunnel_and_the_agent_name_one_ssh(monkeypatch, ctx, os_name, ssh):
    monkeypatch.setattr(sys, "platform", os_name)
    assert _ssh.program() == ssh
    assert _ssh.ssh_command(ctx, "-G", "gw")[0] == ssh
    assert _tunnel.tunnel_argv(ctx, "gw")[0] == ssh
    # the agent always names its ssh by absolute path (launchd's and systemd's PATH are not the user's)
    assert autostart.tunnel_program(ctx, "gw")[0] == "/usr/bin/ssh"


def test_ssh_g_on_a_mac_runs_apples_ssh(monkeypatch, ctx, tmp_path):
    from wizard import runner

    monkeypatch.setattr(sys, "platform", "darwin")
    config = tmp_path / "config"
    config.write_text("Host gw\n  HostName gw.example\n")
    seen = []

    def run(argv, timeout):
        seen.append(argv)
        return runner.run(argv, timeout=timeout)  # the real ssh -G

    ctx.run = run
    assert _ssh.effective_config(ctx, "gw", config)["hostname"] == ["gw.example"]
    assert [argv[0] for argv in seen] == ["/usr/bin/ssh"]


@pytest.mark.parametrize("os_name, first", [("darwin", "/usr/bin"), ("linux", "/opt/homebrew/bin")])
def test_ssh_copy_id_finds_apples_ssh_first_on_a_mac(monkeypatch, ctx, os_name, first):
    """ssh-copy-id runs whatever `ssh` its PATH names: on a Mac, Apple's, as every other ssh we run."""
    monkeypatch.setattr(sys, "platform", os_name)
    ctx.env = {"PATH": "/opt/homebrew/bin:/usr/bin:/bin"}
    path = _ssh.child_env(ctx)["PATH"].split(":")
    assert path[0] == first and sorted(path) == ["/bin", "/opt/homebrew/bin", "/usr/bin"]
