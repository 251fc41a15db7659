"""The remote side, through the alias the wizard set up: `status`'s remote-gateway layer, doctor's
repairs there, and the token fetched over ssh. A real sshd on loopback, the tunnel up, the gateway
stand-in behind it, and OpenClaw's `openclaw` CLI stand-in installed for the sshd's login user."""

from __future__ import annotations

import json
import sys

import pexpect
import pytest

from tests.harness.fixtures import GATEWAY_TOKEN
from tests.harness.gateway import GatewayStandIn
from tests.test_remote import REMOTE_STEPS, needs_password, remote, state_of  # noqa: F401  (remote: a fixture)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def up(cli, home, remote, remote_openclaw, secret_service):
    """ssh-config, ssh-key and tunnel done (the alias carries its LocalForward, the tunnel holds the
    port); a keyring for the token step."""
    needs_password(remote.sshd)
    cli.env.update(secret_service)
    done = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags)
    assert done.returncode == 0, done.stdout + done.stderr
    remote.openclaw = remote_openclaw
    return remote


def remote_layer(cli):
    result = cli("status", "--json")
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    return checks["remote-gateway"]


def test_status_reads_the_gateway_where_it_runs_while_the_tunnel_holds_the_forwarded_port(cli, up):
    layer = remote_layer(cli)
    assert layer["status"] == "ok", layer
    assert layer["details"] == {"openclaw": "openclaw", "service": "running", "bind_mode": "loopback",
                                "bind_host": "127.0.0.1", "port": up.gateway.port, "rpc_ok": True}


@pytest.mark.parametrize("state, status, words", [
    ({"service": "stopped"}, "fail", "not running"),
    ({"bind": "lan"}, "warn", "reachable without the tunnel"),
    ({"bind": "tailnet"}, "warn", "reachable without the tunnel"),
])
def test_status_names_what_is_wrong_on_the_remote(cli, up, state, status, words):
    up.openclaw.configure(**state)
    layer = remote_layer(cli)
    assert layer["status"] == status and words in layer["reason"], layer


@pytest.fixture
def elsewhere(up):
    """The remote's Gateway really listens on another port than the one the tunnel forwards to."""
    with GatewayStandIn(token=GATEWAY_TOKEN) as other:
        up.openclaw.configure(port=other.port)
        yield other


def test_status_names_the_remote_port_when_ours_differs(cli, up, elsewhere):
    layer = remote_layer(cli)
    assert layer["status"] == "fail", layer
    assert f"port {elsewhere.port} there, the tunnel forwards to {up.gateway.port}" in layer["reason"]


def test_a_missing_openclaw_is_exit_127_and_doctor_asks_for_its_path_once(cli, home, up):
    up.openclaw.install(on_path=False)
    layer = remote_layer(cli)
    assert layer["status"] == "warn" and "exit 127" in layer["reason"], layer
    told = cli("doctor")
    assert "--remote-openclaw PATH" in told.stdout and "command -v openclaw" in told.stdout, told.stdout

    child = pexpect.spawn(sys.executable, ["-m", "wizard", "doctor", "--fix"], env=cli.env, encoding="utf-8",
                          timeout=30, dimensions=(40, 200))
    child.expect(r"Apply the fix for 'Gateway on the remote machine")
    child.send("y")
    child.expect("Path of the openclaw command on the remote machine")
    child.send(str(up.openclaw.path) + "\r")
    while child.expect([r"Apply the fix for", pexpect.EOF]) == 0:
        child.send("n")  # the other layers (no token yet, no systemd here) are not this test's
    child.close()
    assert state_of(home)["answers"]["remote_openclaw"] == str(up.openclaw.path), child.before
    layer = remote_layer(cli)  # the saved path is used from now on, with no flag
    assert layer["status"] == "ok" and layer["details"]["openclaw"] == str(up.openclaw.path), layer


def test_doctor_starts_a_stopped_gateway_with_consent_and_looks_again(cli, up):
    up.openclaw.configure(service="stopped")
    assert cli("doctor").returncode == 1
    assert up.openclaw.state()["service"] == "stopped"  # doctor without --fix only looks
    dry = cli("doctor", "--fix", "--dry-run", "--yes")
    assert "gateway start" in dry.stdout and up.openclaw.state()["service"] == "stopped", dry.stdout
    fixed = cli("doctor", "--fix", "--yes")
    assert up.openclaw.state()["service"] == "running", fixed.stdout + fixed.stderr
    assert remote_layer(cli)["status"] == "ok"


def test_doctor_offers_the_remote_port_when_ours_differs(cli, up, elsewhere):
    told = cli("doctor", "--fix", "--dry-run", "--yes")
    assert f"use the Gateway's own port on the remote machine, {elsewhere.port}" in told.stdout, told.stdout
    assert "re-run: openclaw-remote run ssh-config" in told.stdout


# ---- the token, fetched --------------------------------------------------------------------

def stored(up, home, cli):
    result = cli("status", "--json")
    return {check["name"]: check["status"] for check in json.loads(result.stdout)["checks"]}["token-keyring"]


def test_token_from_remote_is_fetched_checked_on_the_gateway_and_stored(cli, home, up):
    done = cli("run", "token", "--yes", "--token-from-remote")
    assert done.returncode == 0, done.stdout + done.stderr
    assert GATEWAY_TOKEN not in done.stdout + done.stderr
    assert stored(up, home, cli) == "ok"
    assert up.gateway.connects and up.gateway.connects[-1]["auth"]["token"] == GATEWAY_TOKEN


def test_token_from_remote_in_the_answers_file(cli, home, up, tmp_path):
    answers = tmp_path / "answers.toml"
    answers.write_text("token_from_remote = true\n")
    done = cli("run", "token", "--yes", "--answers", str(answers))
    assert done.returncode == 0, done.stdout + done.stderr
    assert stored(up, home, cli) == "ok"


@pytest.mark.parametrize("state, words", [
    ({"redacted": True}, "__OPENCLAW_REDACTED__"),
    ({"token": ""}, "openclaw doctor --generate-gateway-token"),
    ({"gateway_mode": "remote"}, "remote mode"),
    ({"auth_mode": "password"}, "token auth"),
    ({"token": "not-the-gateways-token"}, "openclaw gateway restart"),
])
def test_a_refused_or_wrong_token_is_explained_and_never_stored(cli, home, up, state, words):
    up.openclaw.configure(**state)
    done = cli("run", "token", "--yes", "--token-from-remote")
    assert done.returncode == 1 and words in done.stdout + done.stderr, done.stdout + done.stderr
    assert "not-the-gateways-token" not in done.stdout + done.stderr
    assert stored(up, home, cli) == "fail"


def test_the_reveal_refuses_without_a_terminal_as_upstream_does(up, home, cli):
    """The stand-in is only worth something if it refuses where the real command does."""
    import subprocess

    argv = ["ssh", "-F", str(home / ".ssh/config"), "-o", f"UserKnownHostsFile={home / '.ssh/known_hosts'}",
            "-o", "ClearAllForwardings=yes", "-T", "remote-gateway", "openclaw gateway auth-token --show"]
    piped = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=20)
    assert piped.returncode == 1 and "Refusing to print the Gateway token" in piped.stderr
    assert GATEWAY_TOKEN not in piped.stdout
    tty = subprocess.run([*argv[:-3], "-tt", *argv[-2:]], capture_output=True, stdin=subprocess.DEVNULL, timeout=20)
    # bytes: text mode would turn the remote pty's CRLF into LF before anyone could see it
    assert tty.returncode == 0 and tty.stdout.endswith(GATEWAY_TOKEN.encode() + b"\r\n"), repr(tty.stdout)
    assert tty.stdout.count(b"\r\n") >= 2  # the banner's line too
    missing = subprocess.run([*argv[:-1], "no-such-openclaw --version"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=20)
    assert missing.returncode == 127


def test_the_fetch_offered_in_a_real_terminal_before_the_hidden_prompt(cli, home, up):
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "run", "token"], env=cli.env, encoding="utf-8",
                          timeout=30, dimensions=(40, 200))
    child.expect("Use these answers")
    child.send("y")
    child.expect("Fetch the token from the remote machine over ssh")
    child.send("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert GATEWAY_TOKEN not in child.before
    assert stored(up, home, cli) == "ok"


def test_the_plugin_example_in_the_docs_runs_on_the_remote_while_the_tunnel_is_up(cli, up, monkeypatch, capsys,
                                                                                    registered):
    """The example in docs/plugins.md, as a plugin author would copy it: its ssh goes through the alias
    (which carries the tunnel's LocalForward) while the tunnel holds that port, and works."""
    import re
    import types

    from tests.conftest import REPO
    from wizard.cli import main

    section = (REPO / "docs" / "plugins.md").read_text().split("## Running a command on the remote machine")[1]
    example = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    plugin = types.ModuleType("uptime_example")
    exec(compile(example, "docs/plugins.md", "exec"), plugin.__dict__)
    for name, value in cli.env.items():
        monkeypatch.setenv(name, value)
    with registered(("uptime-example", plugin)):
        main(["status", "--json"])
    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["remote-uptime"]["status"] == "ok" and "load average" in checks["remote-uptime"]["reason"]
    assert checks["local-port"]["status"] == "ok"  # the tunnel held the alias's forwarded port meanwhile


def test_with_no_tunnel_a_fetched_token_is_tried_through_a_short_lived_ssh(cli, home, up):
    assert cli("tunnel", "stop").returncode == 0
    up.openclaw.configure(token="not-the-gateways-token")  # the remote reveals a token its Gateway refuses
    refused = cli("run", "token", "--yes", "--token-from-remote")
    assert refused.returncode == 1 and "rejected the token its own host revealed" in refused.stdout + refused.stderr
    assert stored(up, home, cli) == "fail"
    up.openclaw.configure(token=GATEWAY_TOKEN)
    before = len(up.gateway.connects)
    done = cli("run", "token", "--yes", "--token-from-remote")
    assert done.returncode == 0, done.stdout + done.stderr
    assert stored(up, home, cli) == "ok"
    assert len(up.gateway.connects) > before  # it really reached the Gateway, with no local port bound
