"""A stand-in for the OpenClaw Gateway: the WebSocket handshake and HTTP liveness, nothing more.

It validates the `connect` request as strictly as the real gateway (unknown fields are
rejected), so a client that passes here sends what the real one accepts. Every `connect`
params object it receives is kept in `connects` for assertions.
"""

from __future__ import annotations

import http.server
import json
import logging
import secrets
import socket
import threading
import time
import uuid

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from tests.harness.ports import wait_port_free

__all__ = ["CLIENT_IDS", "CLIENT_MODES", "GatewayStandIn", "NotAGateway"]

SERVER_VERSION = "2026.11.0"
HEALTH_PATHS = ("/health", "/healthz")

# The real gateway's fixed lists (protocol schema, client-info).
CLIENT_IDS = frozenset({
    "webchat-ui", "openclaw-control-ui", "openclaw-tui", "webchat", "cli", "gateway-client",
    "openclaw-macos", "openclaw-ios", "openclaw-android", "node-host", "test", "fingerprint",
    "openclaw-probe",
})
CLIENT_MODES = frozenset({"webchat", "cli", "ui", "backend", "node", "probe", "test"})

# Fields the real ConnectParams schema allows (additionalProperties: false at every level).
_CONNECT_FIELDS = frozenset({
    "minProtocol", "maxProtocol", "client", "caps", "commands", "permissions", "pathEnv",
    "role", "scopes", "device", "auth", "locale", "userAgent",
})
_CLIENT_FIELDS = frozenset({
    "id", "displayName", "version", "platform", "deviceFamily", "modelIdentifier", "mode",
    "instanceId",
})
_AUTH_FIELDS = frozenset({"token", "password", "deviceToken", "bootstrapToken"})

# WebSocket close codes the gateway uses.
CLOSE_POLICY_VIOLATION = 1008
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_TRY_AGAIN_LATER = 1013

_HANDSHAKE_TIMEOUT = 10.0
_log = logging.getLogger("tests.harness.gateway")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value) -> bool:
    return isinstance(value, str) and value != ""


def _unknown(fields: dict, allowed: frozenset, where: str) -> list[str]:
    return [f"{where}: unexpected property '{name}'" for name in sorted(set(fields) - allowed)]


def connect_params_problems(params) -> list[str]:
    """What the real gateway would reject in a `connect` params object ([] when valid)."""
    if not isinstance(params, dict):
        return ["params: must be an object"]
    problems = _unknown(params, _CONNECT_FIELDS, "params")
    for name in ("minProtocol", "maxProtocol"):
        if not _is_int(params.get(name)) or params[name] < 1:
            problems.append(f"params.{name}: must be an integer >= 1")
    client = params.get("client")
    if not isinstance(client, dict):
        problems.append("params.client: required object")
    else:
        problems += _unknown(client, _CLIENT_FIELDS, "params.client")
        if client.get("id") not in CLIENT_IDS:
            problems.append("params.client.id: not a known client id")
        if client.get("mode") not in CLIENT_MODES:
            problems.append("params.client.mode: not a known client mode")
        for name in ("version", "platform"):
            if not _is_text(client.get(name)):
                problems.append(f"params.client.{name}: required non-empty string")
    if "role" in params and not _is_text(params["role"]):
        problems.append("params.role: must be a non-empty string")
    if "scopes" in params and not (
        isinstance(params["scopes"], list) and all(_is_text(s) for s in params["scopes"])
    ):
        problems.append("params.scopes: must be an array of non-empty strings")
    if "auth" in params:
        auth = params["auth"]
        if not isinstance(auth, dict):
            problems.append("params.auth: must be an object")
        else:
            problems += _unknown(auth, _AUTH_FIELDS, "params.auth")
            problems += [
                f"params.auth.{name}: must be a string"
                for name, value in auth.items()
                if name in _AUTH_FIELDS and not isinstance(value, str)
            ]
    return problems


def _event(name: str, payload: dict) -> str:
    return json.dumps({"type": "event", "event": name, "payload": payload})


def _ok(request_id, payload: dict) -> str:
    return json.dumps({"type": "res", "id": request_id, "ok": True, "payload": payload})


def _error(request_id, code: str, message: str, details: dict | None = None) -> str:
    error = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json.dumps({"type": "res", "id": request_id, "ok": False, "error": error})


def _json_response(status: int, reason: str, body: dict) -> Response:
    data = json.dumps(body).encode()
    headers = Headers([
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", str(len(data))),
        ("Connection", "close"),
    ])
    return Response(status, reason, headers, data)


class GatewayStandIn:
    """The gateway, on 127.0.0.1 and a port of its own, served from a background thread.

    Change `token`, `mode` ("ok" or "starting") or `protocols` at any time; the next
    connection sees the new value.
    """

    def __init__(self, token: str | None = "test-gateway-token-XYZ", *, mode: str = "ok",
                 protocols: tuple[int, ...] = (3, 4)) -> None:
        self.token = token
        self.mode = mode
        self.protocols = tuple(protocols)
        self.connects: list[dict] = []
        self.port = 0  # chosen by the OS at the first start, kept across restarts
        self.host = "127.0.0.1"
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> GatewayStandIn:
        if self._server is not None:
            return self
        self._server = serve(
            self._handle, self.host, self.port,
            process_request=self._answer_plain_http,
            logger=_log,
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"gateway-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every open connection (code 1001); the port is free after."""
        if self._server is None:
            return
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server = self._thread = None
        wait_port_free(self.port, timeout=5.0)

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> GatewayStandIn:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ---- plain HTTP on the same port -----------------------------------------------------

    def _answer_plain_http(self, connection: ServerConnection, request: Request):
        # Like the real gateway (Node's `ws` calls setNoDelay): without it, Nagle holds the
        # challenge until the peer ACKs the 101 response, ~40 ms through an ssh tunnel.
        connection.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None  # go on with the WebSocket handshake
        path = request.path.split("?", 1)[0]
        if path in HEALTH_PATHS:
            # Liveness never checks the token, exactly like the real gateway.
            return _json_response(200, "OK", {"ok": True, "status": "live"})
        return connection.respond(404, "Not Found\n")

    # ---- the WebSocket handshake ---------------------------------------------------------

    def _handle(self, ws: ServerConnection) -> None:
        try:
            self._converse(ws)
        except ConnectionClosed:
            pass  # the client left (or stop() closed us): nothing more to say

    def _converse(self, ws: ServerConnection) -> None:
        if self.mode == "starting":
            ws.close(CLOSE_TRY_AGAIN_LATER, "gateway starting, try again later")
            return
        ws.send(_event("connect.challenge", {
            "nonce": secrets.token_hex(16), "ts": int(time.time() * 1000),
        }))
        try:
            raw = ws.recv(timeout=_HANDSHAKE_TIMEOUT)
        except TimeoutError:
            ws.close(CLOSE_POLICY_VIOLATION, "handshake timeout")
            return
        if self._connect(ws, raw):
            self._serve_after_hello(ws)

    def _connect(self, ws: ServerConnection, raw) -> bool:
        """Answer the first frame; True when the client is now connected."""
        try:
            frame = json.loads(raw)
        except (TypeError, ValueError):
            frame = None
        if not (isinstance(frame, dict) and frame.get("type") == "req"
                and frame.get("method") == "connect"):
            request_id = frame.get("id") if isinstance(frame, dict) else None
            ws.send(_error(request_id, "INVALID_REQUEST",
                           "invalid handshake: first request must be connect"))
            ws.close(CLOSE_POLICY_VIOLATION, "invalid handshake")
            return False

        request_id, params = frame.get("id"), frame.get("params")
        self.connects.append(params)
        problems = connect_params_problems(params)
        if problems:
            ws.send(_error(request_id, "INVALID_REQUEST",
                           "invalid connect params: " + "; ".join(problems)))
            ws.close(CLOSE_POLICY_VIOLATION, "invalid connect params")
            return False

        protocol = self._negotiate(params["minProtocol"], params["maxProtocol"])
        if protocol is None:
            ws.send(_error(request_id, "PROTOCOL_MISMATCH", "protocol mismatch", {
                "minProtocol": min(self.protocols), "maxProtocol": max(self.protocols),
                "supported": list(self.protocols),
            }))
            ws.close(CLOSE_PROTOCOL_ERROR, "protocol mismatch")
            return False

        auth_failure = self._auth_failure(params.get("auth") or {})
        if auth_failure is not None:
            code, message = auth_failure
            ws.send(_error(request_id, "UNAUTHORIZED", message, {"code": code}))
            ws.close(CLOSE_POLICY_VIOLATION, "unauthorized")
            return False

        ws.send(_ok(request_id, self._hello(protocol)))
        return True

    def _negotiate(self, client_min: int, client_max: int) -> int | None:
        common = [p for p in self.protocols if client_min <= p <= client_max]
        return max(common) if common else None

    def _auth_failure(self, auth: dict) -> tuple[str, str] | None:
        if self.token is None:
            return None  # a gateway without token auth
        given = auth.get("token")
        if not given:
            return ("AUTH_TOKEN_MISSING",
                    "unauthorized: gateway token missing (set gateway.remote.token)")
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return ("AUTH_TOKEN_MISMATCH",
                    "unauthorized: gateway token mismatch "
                    "(set gateway.remote.token to match gateway.auth.token)")
        return None

    def _hello(self, protocol: int) -> dict:
        return {
            "type": "hello-ok",
            "protocol": protocol,
            "server": {"version": SERVER_VERSION, "connId": uuid.uuid4().hex},
            "features": {"methods": ["health"], "events": ["tick"]},
            "snapshot": {"presence": [], "health": {}, "stateVersion": {"presence": 0, "health": 0},
                         "uptimeMs": 1},
            "policy": {"maxPayload": 1 << 20, "maxBufferedBytes": 1 << 22,
                       "tickIntervalMs": 30000},
        }

    def _serve_after_hello(self, ws: ServerConnection) -> None:
        """Stay connected like the real gateway; answer `health`, refuse everything else."""
        for raw in ws:
            try:
                frame = json.loads(raw)
            except ValueError:
                continue
            if not (isinstance(frame, dict) and frame.get("type") == "req"):
                continue
            if frame.get("method") == "health":
                ws.send(_ok(frame.get("id"), {"ok": True}))
            else:
                ws.send(_error(frame.get("id"), "INVALID_REQUEST",
                               f"unknown method: {frame.get('method')}"))

    def __repr__(self) -> str:
        return f"<GatewayStandIn {self.url} mode={self.mode} protocols={self.protocols}>"


class _HelloHandler(http.server.BaseHTTPRequestHandler):
    def _hello(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _hello

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass


class NotAGateway:
    """Some other HTTP server on the port: 200 "hello" to every request."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self._server = http.server.ThreadingHTTPServer((self.host, 0), _HelloHandler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> NotAGateway:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                name=f"not-a-gateway-{self.port}", daemon=True,
            )  # the default 0.5 s poll would make every shutdown() take up to 0.5 s
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    stop = close

    def __enter__(self) -> NotAGateway:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()
