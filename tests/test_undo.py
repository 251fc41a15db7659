"""undo: setup then undo leaves the home as it was (except the generated key, named and kept), the
user's ssh config byte-identical, nothing loaded, nothing running, no token anywhere."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins import ssh_config
from tests.conftest import snapshot
from tests.standins import wait_until
from tests.test_mac_side import LABEL, UID, mac, plist  # noqa: F401  (mac is a fixture)
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(180)
KEY_FILES = {".ssh/id_ed25519", ".ssh/id_ed25519.pub"}
USER_CONFIG = (
    "# my own settings\r\nHost *\r\n    ServerAliveInterval 60\r\n\r\nHost remote-gateway\r\n    User olduser\r\n"
)


def keyring_token(mac, alias="remote-gateway"):
    import subprocess
    import sys

    code = ("import sys; from keyring.backends.SecretService import Keyring; "
            f"print(Keyring().get_password('openclaw-remote:{alias}', 'gateway-token') or '')")
    done = subprocess.run([sys.executable, "-c", code], env={**mac.cli_env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def world(mac, cli):
    mac.cli_env = cli.env
    return mac


def run_full_setup(cli, world, *extra):
    result = cli("setup", "--yes", *world.flags, *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_setup_then_undo_leaves_the_home_as_it_was_but_the_key(cli, home, world):
    (home / ".ssh/config").write_bytes(USER_CONFIG.encode())
    (home / ".ssh/known_hosts").write_text("example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMine\n")
    before = snapshot(home)
    dirs_before = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_dir())
    # Interactive consent is needed to disable the user's own Host remote-gateway block:
    import pexpect
    import sys

    child = pexpect.spawn(sys.executable, ["-m", "wizard", "setup", "--yes", *world.flags], env=cli.env,
                          encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2  # --yes cannot agree to disabling the user's block: nothing changed
    assert snapshot(home) == before
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "setup", *world.flags], env=cli.env,
                          encoding="utf-8", timeout=60, dimensions=(40, 200))
    for prompt in ["Host alias", "ssh key to use", "launchd label"]:
        child.expect(prompt)
        child.send("\r")
    child.expect("Disable it")
    child.send("y")
    child.expect(
        "no ssh agent is running, so the new key gets no passphrase"
    )  # no agent in this terminal: no passphrase offered
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "#openclaw-remote-disabled# Host remote-gateway" in (home / ".ssh/config").read_text()
    assert ssh_processes_for(home) == [world.standins.job_pid(LABEL)]

    dry = cli("undo", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"$ launchctl bootout gui/{UID}/{LABEL}" in dry.stdout
    assert "$ launchctl unsetenv OPENCLAW_GATEWAY_TOKEN" in dry.stdout
    assert "-# >>> openclaw-remote remote-gateway >>>" in dry.stdout
    assert dry.stdout.index("undo autostart") < dry.stdout.index("undo tunnel") < dry.stdout.index("undo ssh-config")
    assert "test-gateway-token-XYZ" not in dry.stdout + dry.stderr
    refused = cli("undo")  # no terminal, no --yes: refuse, change nothing
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert ssh_processes_for(home) != []

    result = cli("undo", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kept the key setup generated: " + str(home / ".ssh/id_ed25519") in result.stdout
    assert "openclaw-remote@remote-gateway" in result.stdout  # how to revoke it on the remote

    after = snapshot(home)
    assert set(after) - set(before) == KEY_FILES
    assert {name: after[name] for name in before} == before  # config with CRLF, known_hosts: byte-identical
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_dir()) == dirs_before
    assert wait_until(lambda: ssh_processes_for(home) == [], timeout=10)
    assert world.standins.loaded() == {}
    assert "OPENCLAW_GATEWAY_TOKEN" not in world.standins.launchd_env()
    assert keyring_token(world) == ""
    again = cli("undo", "--yes")
    assert again.returncode == 0 and "nothing to undo" in again.stdout


def test_undo_of_one_step_leaves_the_others(cli, home, world):
    run_full_setup(cli, world)
    config = (home / ".ssh/config").read_text()
    result = cli("undo", "token", "--yes")
    assert result.returncode == 0, result.stderr
    assert keyring_token(world) == ""
    assert "OPENCLAW_GATEWAY_TOKEN" not in world.standins.launchd_env()
    assert not plist(home, "openclaw-remote.token-push").exists()
    assert (home / ".ssh/config").read_text() == config and plist(home, LABEL).exists()
    assert ssh_processes_for(home) == [world.standins.job_pid(LABEL)]
    steps = cli("steps", "--json").stdout
    assert '"name": "token"' in steps and re.search(r'"name": "token".*?"done": false', steps, re.S)


def test_undo_of_the_tunnel_alone_refuses_while_the_agent_would_restart_it(cli, home, world):
    run_full_setup(cli, world)
    result = cli("undo", "tunnel", "--yes")
    assert result.returncode == 1 and "undo autostart first" in result.stderr
    assert ssh_processes_for(home) == [world.standins.job_pid(LABEL)]
    both = cli("undo", "autostart", "tunnel", "--yes")
    assert both.returncode == 0, both.stderr
    assert wait_until(lambda: ssh_processes_for(home) == [], timeout=10)
    assert not plist(home, LABEL).exists() and (home / ".ssh/config").exists()


def test_undo_keeps_what_the_user_wrote_inside_the_block_in_a_backup(cli, home, world):
    config = home / ".ssh/config"
    config.write_text("Host other\n    User me\n")
    run_full_setup(cli, world)
    config.write_text(
        config.read_text().replace("    IdentitiesOnly yes\n", "    IdentitiesOnly yes\n    Compression yes\n")
    )
    result = cli("undo", "ssh-config", "--yes")
    assert result.returncode == 0, result.stderr
    assert config.read_text() == "Host other\n    User me\n"
    backups = list((home / ".config/openclaw-remote/backups/.ssh").iterdir())
    assert any("Compression yes" in b.read_text() for b in backups)
    assert "backup of" in result.stdout


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    "Host *\n", "    User me\n", "Host remote-gateway\n", "Host remote-gateway # mine\n", "    Port 2200\n",
    "\n", "# comment\n", "Match host x\n", "Include other\n", "IdentityFile ~/.ssh/k\n", "\tHostName h\n",
    "Host remote-gatewayish\n", "Host other\r\n", "  \n",
]), max_size=12))
def test_removing_the_block_gives_back_the_users_file_byte_for_byte(lines):
    old = "".join(lines)
    values = {"alias": "remote-gateway", "host": "gw.example", "user": "u", "port": 22, "identity": "/k",
              "local_port": 18789, "remote_port": 18789}
    try:
        new = ssh_config.new_config(old, values, lambda _text: True)
    except Exception as exc:  # noqa: BLE001  (a block that also names other hosts is refused: nothing to undo)
        assert "also names other hosts" in str(exc)
        return
    assert ssh_config.remove_block(new, "remote-gateway") == old


GUIDE_PLIST = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>bot.molt.ssh-tunnel</string>
  <key>ProgramArguments</key><array><string>/usr/bin/ssh</string><string>-N</string><string>remote-gateway</string></array>
  <key>KeepAlive</key><true/>
  <key>RunAtLoad</key><true/>
</dict>
</plist>
"""


def test_undo_touches_nothing_of_a_step_this_wizard_never_ran(cli, home, world):
    agents = home / "Library/LaunchAgents"
    agents.mkdir(parents=True)
    plist(home, LABEL).write_bytes(GUIDE_PLIST)  # written by hand from the guide
    assert world.standins.run("launchctl", "bootstrap", f"gui/{UID}", str(plist(home, LABEL))).returncode == 0
    before = snapshot(home)
    result = cli("undo", "autostart", "--yes")
    assert result.returncode == 0 and "never run here" in result.stdout
    assert snapshot(home) == before and LABEL in world.standins.loaded()


def test_undo_puts_back_the_guides_own_agent_that_setup_replaced(cli, home, world):
    agents = home / "Library/LaunchAgents"
    agents.mkdir(parents=True)
    plist(home, LABEL).write_bytes(GUIDE_PLIST)
    run_full_setup(cli, world)
    assert plist(home, LABEL).read_bytes() != GUIDE_PLIST
    result = cli("undo", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "put back as it was before setup (not loaded)" in result.stdout
    assert plist(home, LABEL).read_bytes() == GUIDE_PLIST  # byte for byte
    assert world.standins.loaded() == {}
    assert not (home / ".config").exists()  # its backup was redundant once it was back


def test_a_line_written_inside_the_block_of_a_config_setup_created_survives_in_a_backup(cli, home, world):
    run_full_setup(cli, world)
    config = home / ".ssh/config"
    config.write_text(
        config.read_text().replace("    IdentitiesOnly yes\n", "    IdentitiesOnly yes\n    ProxyJump bastion\n")
    )
    result = cli("undo", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not config.exists()  # the wizard created it
    kept = list((home / ".config/openclaw-remote/backups/.ssh").iterdir())
    assert len(kept) == 1 and "ProxyJump bastion" in kept[0].read_text()
    assert f"kept 1 backup(s) of files that differ now: {kept[0]}" in result.stdout


def test_a_hand_edited_record_never_makes_undo_delete_the_users_other_host_keys(cli, home, world):
    import json

    assert cli("run", "ssh-config", "ssh-key", "--yes", *world.flags).returncode == 0
    known = home / ".ssh" / "known_hosts"
    theirs = "work.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBogusButTheUsersOwnKeyLine000000000000000"
    known.write_text(known.read_text() + theirs + "\n")
    state_file = home / ".config/openclaw-remote/state.json"
    state = json.loads(state_file.read_text())
    state["steps"]["ssh-key"]["known_hosts_added"].append(theirs)  # as if setup had added it
    state_file.write_text(json.dumps(state))
    undo = cli("undo", "--yes")
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert known.read_text() == theirs + "\n"  # the remote's line went, the user's stayed
