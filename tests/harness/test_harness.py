"""The harness works (real sshd, real ssh, gateway stand-in) and so does the gateway client."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time

import pexpect
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from plugins import _gateway as gw
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.harness.gateway import GatewayStandIn
from tests.harness.ports import port_is_free, wait_port
from tests.harness.sshd import SshClientFiles, SshdError, SshTunnel, client_env


def run_ssh(client: SshClientFiles, sshd, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        client.ssh_command(sshd, sshd.destination, *command),
        env=client_env(), capture_output=True, text=True, timeout=10,
        stdin=subprocess.DEVNULL,
    )


# ---- sshd ----------------------------------------------------------------------------------

def test_key_login_works_only_after_authorize(sshd, ssh_client):
    sshd.revoke_all_keys()
    refused = run_ssh(ssh_client, sshd, "id", "-un")
    assert refused.returncode == 255
    assert "Permission denied" in refused.stderr

    sshd.authorize(ssh_client.public_key)
    accepted = run_ssh(ssh_client, sshd, "id", "-un")

    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.strip() == sshd.user
    assert ssh_client.public_key in sshd.authorized_keys()


def test_revoke_all_keys_locks_the_key_out_again(sshd, ssh_client):
    sshd.authorize(ssh_client.public_key)
    sshd.revoke_all_keys()
    assert sshd.authorized_keys() == ""
    assert run_ssh(ssh_client, sshd, "true").returncode == 255


def spawn_password_ssh(sshd, ssh_client) -> pexpect.spawn:
    args = sshd.ssh_args(ssh_client.known_hosts) + [
        "-o", "PubkeyAuthentication=no",
        "-o", "PreferredAuthentications=password",
        "-o", "NumberOfPasswordPrompts=1",
        sshd.destination, "echo", "logged-in-as", "$(id -un)",
    ]
    return pexpect.spawn("ssh", args, env=client_env(), encoding="utf-8", timeout=5)


def test_password_login_typed_into_real_ssh(sshd, ssh_client):
    if not sshd.supports_password:
        pytest.skip("password logins need root (a throwaway user with a password)")
    session = spawn_password_ssh(sshd, ssh_client)
    session.expect(rf"{sshd.user}@127\.0\.0\.1's password:")
    session.sendline(sshd.password)
    session.expect(rf"logged-in-as {sshd.user}")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 0


def test_wrong_password_fails_fast(sshd, ssh_client):
    if not sshd.supports_password:
        pytest.skip("password logins need root (a throwaway user with a password)")
    session = spawn_password_ssh(sshd, ssh_client)
    session.expect("password:")
    started = time.monotonic()
    session.sendline("not-the-password")
    session.expect(r"Permission denied \(publickey,password\)")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 255
    assert time.monotonic() - started < 1.5  # UsePAM no: no 2-4 s failure delay


def test_changed_host_key_is_refused_by_a_pinned_client(sshd, ssh_client):
    sshd.authorize(ssh_client.public_key)
    assert run_ssh(ssh_client, sshd, "true").returncode == 0
    old_key = sshd.host_key_pub

    sshd.change_host_key()
    refused = run_ssh(ssh_client, sshd, "true")

    assert sshd.host_key_pub != old_key
    assert refused.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr
    # A client that pins the new key gets in again.
    ssh_client.known_hosts.write_text(sshd.known_hosts_line() + "\n")
    assert run_ssh(ssh_client, sshd, "true").returncode == 0


def test_stop_frees_the_port_and_drops_sessions(sshd, gateway, tunnel):
    open_tunnel = tunnel(gateway.port)
    try:
        sshd.stop()
        assert port_is_free(sshd.port)
        # The tunnel's connection died with the server: ssh -N exits on its own.
        assert open_tunnel.proc.wait(timeout=5) == 255
        assert "Received signal 15" in sshd.log_text()
    finally:
        sshd.start()
    assert wait_port(sshd.port, timeout=1)


# ---- the gateway client through a real tunnel -----------------------------------------------

EXPECTED_CONNECT = {
    "minProtocol": 3,
    "maxProtocol": 4,
    "client": {"id": "cli", "version": gw._client_version(), "platform": sys.platform,
               "mode": "cli"},
    "role": "operator",
    "scopes": ["operator.read"],
    "auth": {"token": GATEWAY_TOKEN},
}


def test_probe_through_tunnel_hello_ok(gateway, tunnel):
    local = tunnel(gateway.port).local_port
    result = gw.probe(local, GATEWAY_TOKEN)
    assert result.kind == gw.HELLO_OK and result.ok
    assert (result.server_version, result.protocol) == ("2026.11.0", 4)
    assert gateway.connects == [EXPECTED_CONNECT]  # exactly what the client sent, nothing more


@pytest.mark.parametrize(("setup", "token", "kind", "code"), [
    ({}, "wrong-token", gw.TOKEN_REJECTED, "AUTH_TOKEN_MISMATCH"),
    ({}, "", gw.TOKEN_REJECTED, "AUTH_TOKEN_MISSING"),
    ({"mode": "starting"}, GATEWAY_TOKEN, gw.STARTING, None),
    ({"protocols": (5,)}, GATEWAY_TOKEN, gw.PROTOCOL_MISMATCH, "PROTOCOL_MISMATCH"),
    ({}, None, gw.HEALTHY, None),
    ({"token": "another-token"}, None, gw.HEALTHY, None),  # /healthz never checks the token
])
def test_probe_through_tunnel_classifies(gateway, tunnel, setup, token, kind, code):
    for name, value in setup.items():
        setattr(gateway, name, value)
    local = tunnel(gateway.port).local_port

    result = gw.probe(local, token)

    assert (result.kind, result.code) == (kind, code)
    assert result.ok == (kind == gw.HEALTHY)
    if token:
        assert token not in result.detail


def test_tunnel_with_nothing_behind_it_is_port_closed(tunnel, free_port):
    local = tunnel(free_port).local_port  # sshd cannot connect to free_port
    assert gw.probe(local, GATEWAY_TOKEN).kind == gw.PORT_CLOSED
    assert gw.probe(local, None).kind == gw.PORT_CLOSED


def test_taken_local_port_makes_the_tunnel_exit(sshd, ssh_client, gateway, not_a_gateway):
    sshd.authorize(ssh_client.public_key)
    blocked = SshTunnel(sshd, ssh_client, gateway.port, local_port=not_a_gateway.port)
    with pytest.raises(SshdError, match="exited 255") as failure:
        blocked.start()
    blocked.close()
    assert "Could not request local forwarding" in str(failure.value)


# ---- the gateway client, directly ----------------------------------------------------------

def test_probe_closed_port(free_port):
    assert gw.probe(free_port, GATEWAY_TOKEN).kind == gw.PORT_CLOSED
    assert gw.probe(free_port, None).kind == gw.PORT_CLOSED


def test_probe_not_a_gateway(not_a_gateway):
    assert gw.probe(not_a_gateway.port, GATEWAY_TOKEN).kind == gw.NOT_GATEWAY
    assert gw.probe(not_a_gateway.port, None).kind == gw.NOT_GATEWAY


def test_probe_ssh_port_is_named(sshd):
    # A tunnel aimed at port 22 is a classic mistake; sshd speaks first, which once made
    # websockets raise an AssertionError: the probe must still answer sensibly.
    for token in (GATEWAY_TOKEN, None):
        result = gw.probe(sshd.port, token)
        assert result.kind == gw.NOT_GATEWAY
        assert "SSH server" in result.detail


def test_probe_ignores_proxy_settings(gateway, monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing there
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert gw.probe(gateway.port, GATEWAY_TOKEN).kind == gw.HELLO_OK


def test_probe_hides_a_token_the_server_echoes(gateway, monkeypatch):
    def echoing_failure(auth):
        return "AUTH_TOKEN_MISMATCH", f"unauthorized: gateway token mismatch ({auth['token']})"

    monkeypatch.setattr(gateway, "_auth_failure", echoing_failure)
    result = gw.probe(gateway.port, "s3cret-value")
    assert result.kind == gw.TOKEN_REJECTED
    assert "s3cret-value" not in result.detail and "***" in result.detail


def test_probe_silent_server_times_out_on_time(free_port):
    with socket.create_server(("127.0.0.1", free_port)):  # accepts, never answers
        started = time.monotonic()
        result = gw.probe(free_port, GATEWAY_TOKEN, timeout=0.3)
    assert result.kind == gw.ERROR
    assert time.monotonic() - started < 1.5


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12,
)
answer_fields = st.fixed_dictionaries({}, optional={
    "type": st.just("res"), "id": json_values, "ok": json_values,
    "payload": json_values | st.fixed_dictionaries({"type": st.just("hello-ok")}, optional={
        "protocol": json_values, "server": json_values}),
    "error": json_values | st.fixed_dictionaries({}, optional={
        "code": json_values, "message": json_values, "details": json_values}),
})
KINDS = {gw.PORT_CLOSED, gw.NOT_GATEWAY, gw.TOKEN_REJECTED, gw.STARTING, gw.PROTOCOL_MISMATCH,
         gw.HELLO_OK, gw.HEALTHY, gw.ERROR}


@settings(max_examples=60, deadline=None)
@given(answer_fields)
def test_any_answer_to_connect_is_classified_without_crashing(answer):
    result = gw._classify_answer(answer)
    assert result.kind in KINDS
    assert len(result.detail) <= 200
    if result.kind == gw.HELLO_OK:
        assert result.protocol in (3, 4)


# ---- the stand-in itself -------------------------------------------------------------------

def handshake_with(gateway, params: dict) -> tuple[dict, int | None]:
    """Send one connect request; the answer and the close code that followed (if any)."""
    with connect(gateway.url, open_timeout=2, proxy=None) as ws:
        challenge = json.loads(ws.recv(timeout=2))
        assert challenge["event"] == "connect.challenge"
        assert set(challenge["payload"]) == {"nonce", "ts"}
        ws.send(json.dumps({"type": "req", "id": "1", "method": "connect", "params": params}))
        answer = json.loads(ws.recv(timeout=2))
        if not answer["ok"]:  # a refusal is followed by the server closing
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=2)
        return answer, ws.close_code


@pytest.mark.parametrize("change", [
    {"extra": 1},
    {"client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli", "x": 1}},
    {"client": {"id": "some-tool", "version": "1", "platform": "linux", "mode": "cli"}},
    {"client": {"id": "cli", "version": "1", "platform": "linux", "mode": "daemon"}},
    {"minProtocol": "3"},
    {"auth": {"token": GATEWAY_TOKEN, "user": "me"}},
])
def test_stand_in_rejects_what_the_real_gateway_rejects(gateway, change):
    answer, close_code = handshake_with(gateway, {**gw.connect_params(GATEWAY_TOKEN), **change})
    assert answer["ok"] is False
    assert answer["error"]["code"] == "INVALID_REQUEST"
    assert close_code == 1008


def test_stand_in_auth_and_protocol_answers(gateway):
    answer, _ = handshake_with(gateway, gw.connect_params(GATEWAY_TOKEN))
    assert answer["ok"] is True and answer["payload"]["type"] == "hello-ok"

    answer, close_code = handshake_with(gateway, gw.connect_params("nope"))
    assert answer["error"]["message"].startswith("unauthorized: gateway token mismatch")
    assert (answer["error"]["details"]["code"], close_code) == ("AUTH_TOKEN_MISMATCH", 1008)

    gateway.protocols = (5, 6)
    answer, close_code = handshake_with(gateway, gw.connect_params(GATEWAY_TOKEN))
    assert answer["error"]["code"] == "PROTOCOL_MISMATCH" and close_code == 1002
    assert answer["error"]["details"]["minProtocol"] == 5


def test_stand_in_health_is_plain_http(gateway):
    for path in ("/health", "/healthz"):
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=2)
        connection.request("GET", path)
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
        assert (response.status, body) == (200, {"ok": True, "status": "live"})


def test_stand_in_restarts_on_the_same_port():
    stand_in = GatewayStandIn().start()
    try:
        port = stand_in.port
        stand_in.stop()
        assert port_is_free(port)
        assert gw.probe(port, None).kind == gw.PORT_CLOSED
        stand_in.start()
        assert stand_in.port == port
        assert gw.probe(port, None).kind == gw.HEALTHY
    finally:
        stand_in.close()


def test_logins_and_connections_are_counted_from_the_sshd_log(sshd, ssh_client):
    sshd.revoke_all_keys()
    mark = sshd.log_mark()
    assert run_ssh(ssh_client, sshd, "true").returncode == 255  # refused: a connection, no login
    assert (sshd.logins_since(mark), sshd.connections_since(mark)) == (0, 1)
    sshd.authorize(ssh_client.public_key)
    mark = sshd.log_mark()
    assert run_ssh(ssh_client, sshd, "true").returncode == 0
    assert run_ssh(ssh_client, sshd, "true").returncode == 0
    assert (sshd.logins_since(mark), sshd.connections_since(mark)) == (2, 2)


# The Mac backend's own guard (tests/harness/mac.py), against the launchctl stand-in's sessions.
def test_the_real_backend_runs_only_on_a_throwaway_mac_in_its_gui_session(monkeypatch, standins):
    from tests.harness.mac import real_mac_problem

    for name, value in standins.env.items():  # launchctl managername: the stand-in's, here
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    problem = real_mac_problem()
    assert problem and "openclaw-remote.token-push" in problem and "GITHUB_ACTIONS=true" in problem
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert real_mac_problem() is None
    standins.set_session("Background")  # a runner whose job is not in the user's GUI session
    problem = real_mac_problem()
    assert problem and "'Background'" in problem and "not 'Aqua'" in problem


def test_probe_names_an_ssh_server_whose_reset_lost_its_banner():
    """sshd resets a connection whose first bytes are not an SSH identification; under load that
    reset can reach the probe before it has read the banner, which is then lost, and the port
    looked like "a tunnel with nothing behind it". A server that always loses the race here: it
    resets whoever speaks first, and greets whoever waits."""
    import struct
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.settimeout(0.1)
            try:
                conn.recv(1)  # spoke first: the reset, no banner
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except TimeoutError:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2 stand-in\r\n")  # waited: greeted, as sshd does
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        for token in (GATEWAY_TOKEN, None):
            result = gw.probe(port, token)
            assert result.kind == gw.NOT_GATEWAY, (token is None, result)
            assert "SSH server" in result.detail
    finally:
        server.close()
