"""Keys with a passphrase: the background tunnel (BatchMode, no terminal) only works through an
agent that holds the key. Real ssh-agent started by the test, real ssh-keygen / ssh-add / sshd;
on the darwin path Apple's ssh-add option goes through the ssh-add stand-in."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from plugins import _gateway
from tests.conftest import snapshot
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.test_mac_side import LABEL, files_containing, mac  # noqa: F401  (mac is a fixture)
from tests.test_remote import remote, ssh_processes_for  # noqa: F401  (remote is a fixture)

pytestmark = pytest.mark.timeout(120)
PASSPHRASE = "key-passphrase-secret-PPP"
KEY = "~/.ssh/with_passphrase"


def key_is_encrypted(path) -> bool:
    return subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", str(path)], capture_output=True).returncode != 0


def agent_keys(socket: str) -> str:
    listed = subprocess.run(["ssh-add", "-l"], capture_output=True, text=True,
                            env={**os.environ, "SSH_AUTH_SOCK": socket})
    return listed.stdout if listed.returncode == 0 else ""  # 1: the agent holds no key


def block(home) -> str:
    return (home / ".ssh" / "config").read_text()


def test_linux_a_passphrase_key_is_held_by_the_users_agent_and_named_for_the_service(cli, home, remote, ssh_agent):
    socket = ssh_agent()
    done = cli("run", "ssh-config", "ssh-key", "tunnel", "--yes", "--identity", KEY, *remote.flags, "--accept-host-key",
               env={"SSH_AUTH_SOCK": socket, "OPENCLAW_REMOTE_KEY_PASSPHRASE": PASSPHRASE})
    assert done.returncode == 0, done.stdout + done.stderr
    key = home / ".ssh" / "with_passphrase"
    assert key_is_encrypted(key)
    assert "openclaw-remote@remote-gateway" in agent_keys(socket)
    assert f"    IdentityAgent {socket}\n" in block(home) and "UseKeychain" not in block(home)
    # What the systemd unit's ssh runs with: no SSH_AUTH_SOCK at all, BatchMode; the config names the agent.
    alone = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
    login = subprocess.run(["ssh", "-F", str(home / ".ssh" / "config"), "-o",
                            f"UserKnownHostsFile={home / '.ssh' / 'known_hosts'}", "-o", "BatchMode=yes",
                            "-o", "ClearAllForwardings=yes", "remote-gateway", "true"],
                           capture_output=True, text=True, env=alone, timeout=20)
    assert login.returncode == 0, login.stderr
    assert _gateway.probe(remote.local_port, GATEWAY_TOKEN).kind in (_gateway.HELLO_OK, _gateway.TOKEN_REJECTED)
    assert files_containing(home, PASSPHRASE) == [] and PASSPHRASE not in done.stdout + done.stderr


def test_linux_a_passphrase_without_an_agent_is_refused_before_the_key_is_made(cli, home, remote):
    before = snapshot(home)
    refused = cli("run", "ssh-config", "ssh-key", "--yes", "--identity", KEY, *remote.flags, "--accept-host-key",
                  env={"OPENCLAW_REMOTE_KEY_PASSPHRASE": PASSPHRASE})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "agent" in refused.stderr and "no passphrase" in refused.stderr
    assert snapshot(home) == before
    assert PASSPHRASE not in refused.stdout + refused.stderr


def test_an_existing_passphrase_key_the_agent_lacks_is_named_then_added(cli, home, remote, ssh_agent):
    socket = ssh_agent()
    key = home / ".ssh" / "with_passphrase"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-f", str(key)], check=True)
    asked = cli(
        "run",
        "ssh-config",
        "ssh-key",
        "--yes",
        "--identity",
        KEY,
        *remote.flags,
        "--accept-host-key",
        env={"SSH_AUTH_SOCK": socket},
    )
    assert asked.returncode == 2 and f"ssh-add {key}" in asked.stderr, asked.stderr
    assert agent_keys(socket) == ""
    done = cli("run", "ssh-config", "ssh-key", "--yes", "--identity", KEY, *remote.flags, "--accept-host-key",
               env={"SSH_AUTH_SOCK": socket, "OPENCLAW_REMOTE_KEY_PASSPHRASE": PASSPHRASE})
    assert done.returncode == 0, done.stdout + done.stderr
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", f"{key}.pub"], capture_output=True, text=True
    ).stdout.split()[1]
    assert fingerprint in agent_keys(socket).split()
    report = json.loads(cli("status", "--json", env={"SSH_AUTH_SOCK": socket}).stdout)
    assert {check["name"]: check["status"] for check in report["checks"]}["key-login"] == "ok"


def test_darwin_launchds_own_agent_holds_the_key_and_the_keychain_is_asked_to_keep_it(cli, home, mac, ssh_agent):
    # macOS's per-session agent socket, which launchd gives to its agents too:
    socket = ssh_agent("launchd/com.apple.launchd.T3st/Listeners")
    mac.standins.setenv("SSH_AUTH_SOCK", socket)
    done = cli("setup", "--yes", "--identity", KEY, *mac.flags,
               env={"SSH_AUTH_SOCK": socket, "OPENCLAW_REMOTE_KEY_PASSPHRASE": PASSPHRASE})
    assert done.returncode == 0, done.stdout + done.stderr
    text = block(home)
    lines = [line.strip() for line in text.splitlines()]
    assert lines.index("IgnoreUnknown UseKeychain") < lines.index("UseKeychain yes")
    assert "AddKeysToAgent yes" in lines and "IdentityAgent" not in text
    key = str(home / ".ssh" / "with_passphrase")
    assert ["--apple-use-keychain", key] in mac.standins.calls("ssh-add")
    assert "openclaw-remote@remote-gateway" in agent_keys(socket)
    # launchd's own ssh (the agent's ProgramArguments, BatchMode) logs in through launchd's agent:
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK
    calls = [" ".join(call) for tool in ("launchctl", "ssh-add") for call in mac.standins.calls(tool)]
    assert not any(PASSPHRASE in call for call in calls)
    assert files_containing(home, PASSPHRASE) == [] and PASSPHRASE not in done.stdout + done.stderr


def test_darwin_a_custom_agent_is_named_with_identityagent_so_launchds_ssh_uses_it(cli, home, mac, ssh_agent):
    # 1Password, Secretive…: only the shell has this SSH_AUTH_SOCK; launchd's agents do not.
    socket = ssh_agent("Group Containers/agent.sock")
    done = cli("setup", "--yes", "--identity", KEY, *mac.flags,
               env={"SSH_AUTH_SOCK": socket, "OPENCLAW_REMOTE_KEY_PASSPHRASE": PASSPHRASE})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f'    IdentityAgent "{socket}"\n' in block(home)  # quoted: the path has a blank
    assert "SSH_AUTH_SOCK" not in mac.standins.launchd_env()
    assert ssh_processes_for(home) == [mac.standins.job_pid(LABEL)]
    assert _gateway.probe(mac.local_port, GATEWAY_TOKEN).kind == _gateway.HELLO_OK


def test_linux_a_passphrase_typed_in_a_terminal_is_confirmed_added_and_the_block_named_after(cli, home, remote,
                                                                                            ssh_agent):
    import sys

    import pexpect

    socket = ssh_agent()
    env = {**cli.env, "SSH_AUTH_SOCK": socket}
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "run", "ssh-config", "ssh-key", "--identity", KEY,
                                           "--accept-host-key", *remote.flags],
                          env=env, encoding="utf-8", timeout=30, dimensions=(40, 200))
    child.expect("Host alias")
    child.send("\r")
    child.expect("Passphrase for the new ssh key")
    child.send(PASSPHRASE + "\r")
    child.expect("The same passphrase again")
    child.send(PASSPHRASE + "\r")
    child.expect("run 'openclaw-remote run ssh-config' once more")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert PASSPHRASE not in child.before
    assert "openclaw-remote@remote-gateway" in agent_keys(socket)
    assert "IdentityAgent" not in block(home)
    again = cli("run", "ssh-config", "--yes", "--identity", KEY, *remote.flags, env={"SSH_AUTH_SOCK": socket})
    assert again.returncode == 0, again.stderr
    assert f"    IdentityAgent {socket}\n" in block(home)
