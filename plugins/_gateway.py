"""Ask an OpenClaw Gateway (usually through the tunnel) whether it is there and takes our token.

`probe(port, token)` never raises for network trouble: it returns a `GatewayResult` whose
`kind` says what was found. With no token it only asks the unauthenticated `GET /healthz`;
with a token it performs the WebSocket `connect` handshake as a read-only operator. The
token never appears in a result's text.
"""

from __future__ import annotations

import json
import sys
import time
from typing import NamedTuple

from wizard.i18n import _

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import socket

__all__ = [
    "ERROR",
    "HEALTHY",
    "HELLO_OK",
    "NOT_GATEWAY",
    "PORT_CLOSED",
    "PROTOCOL_MISMATCH",
    "STARTING",
    "TOKEN_REJECTED",
    "GatewayResult",
    "connect_params",
    "probe",
]

PORT_CLOSED = "PORT_CLOSED"              # nothing answers (or a tunnel with nothing behind it)
NOT_GATEWAY = "NOT_GATEWAY"              # something answers, but not an OpenClaw gateway
TOKEN_REJECTED = "TOKEN_REJECTED"        # the gateway refused the token (see `code`)
STARTING = "STARTING"                    # the gateway asks to try again later
PROTOCOL_MISMATCH = "PROTOCOL_MISMATCH"  # no protocol version in common
HELLO_OK = "HELLO_OK"                    # handshake done: token accepted
HEALTHY = "HEALTHY"                      # /healthz answered ok (token not checked)
ERROR = "ERROR"                          # anything else (timeout, unexpected answer)

MIN_PROTOCOL, MAX_PROTOCOL = 3, 4
_MAX_TEXT = 200  # at most this much server-supplied text goes into `detail`

# websockets (>= 15, as pyproject requires) honours HTTP(S)_PROXY / ALL_PROXY and the macOS
# system proxies by default; the tunnel is local, so never go through a proxy.
_NO_PROXY = {"proxy": None}

# WebSocket close codes the gateway uses to explain itself.
_CLOSE_PROTOCOL_ERROR = 1002
_CLOSE_POLICY_VIOLATION = 1008  # after an auth failure
_CLOSE_SERVICE_RESTART = 1012
_CLOSE_TRY_AGAIN_LATER = 1013   # still starting
_CLOSE_AUTH_CHANGED = 4001


class GatewayResult(NamedTuple):  # not a frozen dataclass: see wizard.runner.Result
    kind: str
    detail: str = ""
    code: str | None = None
    server_version: str | None = None
    protocol: int | None = None

    @property
    def ok(self) -> bool:
        return self.kind in (HELLO_OK, HEALTHY)


def probe(port: int, token: str | None, *, host: str = "127.0.0.1",
          timeout: float = 3.0, sock: socket.socket | None = None) -> GatewayResult:
    """What answers on host:port. Takes at most about `timeout` seconds (+1 s to close). With `sock`
    (a connected stream, such as one end of a socketpair whose other end is `ssh -W`), the handshake
    goes over it instead of a new TCP connection (a token is needed)."""
    deadline = time.monotonic() + timeout
    if token is None:
        result = _probe_health(host, port, deadline)
    else:
        result = _probe_handshake(host, port, token, deadline, sock)
    return _without_secret(result, token)


def connect_params(token: str) -> dict:
    """The `connect` request params: a read-only operator, protocol 3 or 4."""
    return {
        "minProtocol": MIN_PROTOCOL,
        "maxProtocol": MAX_PROTOCOL,
        "client": {
            "id": "cli",
            "version": _client_version(),
            "platform": sys.platform,
            "mode": "cli",
        },
        "role": "operator",
        "scopes": ["operator.read"],
        "auth": {"token": token},
    }


# ---- helpers -----------------------------------------------------------------------------

def _client_version() -> str:
    try:
        from wizard import __version__
    except ImportError:
        return "0"
    return __version__ or "0"


def _remaining(deadline: float) -> float:
    return max(0.01, deadline - time.monotonic())


def _without_secret(result: GatewayResult, token: str | None) -> GatewayResult:
    """Servers may echo what they received: make sure the token never reaches the screen."""
    if not token or token not in result.detail:
        return result
    return GatewayResult(result.kind, result.detail.replace(token, "***"), result.code,
                         result.server_version, result.protocol)


def _short(text) -> str:
    return str(text)[:_MAX_TEXT]


def _as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _nothing_behind() -> str:
    return _("the connection was closed without an answer (a tunnel with nothing behind it?)")


def _closed(host: str, port: int, deadline: float, sock=None) -> GatewayResult:
    """Closed before any answer: a tunnel with nothing behind it, or an SSH server that reset
    the connection when our request met its banner, its reset racing our read of that banner
    (then the banner is lost). Asked again without sending anything, an SSH server speaks first
    and waits: only this error path pays for the extra connection."""
    import socket

    if sock is None:
        try:
            with socket.create_connection((host, port), timeout=max(0.05, min(0.5, _remaining(deadline)))) as again:
                if again.recv(8).startswith(b"SSH-"):
                    return GatewayResult(NOT_GATEWAY, _not_http(host, port, "SSH-"))
        except OSError:
            pass
    return GatewayResult(PORT_CLOSED, _nothing_behind())


def _not_http(host: str, port: int, error) -> str:
    # A tunnel pointed at the SSH port is a classic mistake: name it.
    if "SSH-" in str(error):
        return _("an SSH server answers on {host}:{port}, not the gateway").format(host=host, port=port)
    return _("{host}:{port} does not speak HTTP").format(host=host, port=port)


def _refused(host: str, port: int) -> GatewayResult:
    return GatewayResult(PORT_CLOSED, _("nothing listens on {host}:{port}").format(host=host, port=port))


def _timed_out(host: str, port: int, what: str) -> GatewayResult:
    return GatewayResult(ERROR, _("{host}:{port} did not {what} in time").format(host=host, port=port, what=what))


# ---- HTTP liveness (no token) ------------------------------------------------------------

def _probe_health(host: str, port: int, deadline: float) -> GatewayResult:
    import http.client  # only when probing (it pulls in email and ssl)

    connection = http.client.HTTPConnection(host, port, timeout=_remaining(deadline))
    try:
        connection.request("GET", "/healthz", headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(64 * 1024)
    except ConnectionRefusedError:
        return _refused(host, port)
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        return _closed(host, port, deadline)
    except TimeoutError:  # socket.timeout is TimeoutError
        return _timed_out(host, port, _("answer GET /healthz"))
    except http.client.HTTPException as exc:
        return GatewayResult(NOT_GATEWAY, _not_http(host, port, exc))
    except OSError as exc:
        return GatewayResult(ERROR, _short(exc))
    finally:
        connection.close()
    return _classify_health(response.status, body)


def _classify_health(status: int, body: bytes) -> GatewayResult:
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if status == 200 and isinstance(answer, dict) and answer.get("ok") is True:
        return GatewayResult(HEALTHY, _("the gateway answers /healthz"))
    return GatewayResult(NOT_GATEWAY, _("GET /healthz answered HTTP {status}, not a gateway").format(status=status))


# ---- WebSocket handshake (token) ---------------------------------------------------------

class _NotJson(Exception):
    pass


def _websockets_logger():
    """websockets logs internal errors itself; without a handler Python would print them on the
    user's terminal. Kept for whoever configures logging, off the screen otherwise."""
    import logging  # here, with websockets (which imports it anyway): `steps` need not pay for it

    logger = logging.getLogger("openclaw_remote.gateway.websockets")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def _probe_handshake(host: str, port: int, token: str, deadline: float, sock=None) -> GatewayResult:
    # Imported here: websockets costs ~30 ms, which commands that never probe should not pay.
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus
    from websockets.sync.client import connect as ws_connect

    try:
        ws = ws_connect(
            f"ws://{host}:{port}",
            sock=sock,
            open_timeout=_remaining(deadline),
            close_timeout=1,
            **_NO_PROXY,
            max_size=4 * 1024 * 1024,
            logger=_websockets_logger(),
        )
    except ConnectionRefusedError:
        return _refused(host, port)
    except InvalidStatus as exc:
        status = exc.response.status_code
        return GatewayResult(NOT_GATEWAY, _("HTTP {status} instead of a WebSocket upgrade").format(status=status))
    except InvalidMessage as exc:
        if isinstance(exc.__cause__, EOFError):
            return _closed(host, port, deadline, sock)
        return GatewayResult(NOT_GATEWAY, _not_http(host, port, exc.__cause__))
    except InvalidHandshake as exc:
        return GatewayResult(NOT_GATEWAY, _("WebSocket handshake failed: {why}").format(why=_short(exc)))
    except TimeoutError:
        return _timed_out(host, port, _("open a WebSocket"))
    except (ConnectionClosed, ConnectionResetError, BrokenPipeError):
        # Accepted, then closed before any answer: what a tunnel does when nothing listens
        # behind it (ssh accepts locally, then the remote connect fails).
        return _closed(host, port, deadline, sock)
    except OSError as exc:
        return GatewayResult(ERROR, _short(exc))
    except Exception:  # noqa: BLE001
        # websockets can trip over a server that speaks first, as an SSH server does (seen:
        # an AssertionError from its send path). Plain HTTP tells what is there instead.
        return _after_failed_upgrade(_probe_health(host, port, deadline))

    with ws:
        try:
            return _handshake(ws, token, deadline)
        except ConnectionClosed as exc:
            return _classify_close(exc.rcvd)
        except TimeoutError:
            return _timed_out(host, port, _("finish the gateway handshake"))
        except _NotJson:
            return GatewayResult(NOT_GATEWAY, _("a WebSocket server, but not a gateway"))


def _after_failed_upgrade(health: GatewayResult) -> GatewayResult:
    if health.kind == HEALTHY:  # the gateway is there, yet the upgrade failed
        return GatewayResult(ERROR, _("the gateway answers /healthz but the WebSocket upgrade failed"))
    return health


def _next_frame(ws, deadline: float, wanted) -> dict:
    """The next JSON frame for which `wanted(frame)` is true, skipping other events."""
    while True:
        try:
            frame = json.loads(ws.recv(timeout=_remaining(deadline)))
        except (TypeError, ValueError) as exc:
            raise _NotJson from exc
        if not isinstance(frame, dict):
            raise _NotJson
        if wanted(frame):
            return frame


def _handshake(ws, token: str, deadline: float) -> GatewayResult:
    _next_frame(ws, deadline, lambda f: f.get("type") == "event"
                and f.get("event") == "connect.challenge")
    request_id = "probe-connect"
    ws.send(json.dumps({"type": "req", "id": request_id, "method": "connect",
                        "params": connect_params(token)}))
    answer = _next_frame(ws, deadline, lambda f: f.get("type") == "res"
                         and f.get("id") == request_id)
    return _classify_answer(answer)


def _classify_answer(answer: dict) -> GatewayResult:
    if answer.get("ok") is True:
        return _classify_hello(_as_dict(answer.get("payload")))
    error = _as_dict(answer.get("error"))
    error_code = error.get("code") if isinstance(error.get("code"), str) else None
    detail_code = _as_dict(error.get("details")).get("code")
    detail_code = detail_code if isinstance(detail_code, str) else None
    message = _short(error.get("message") or _("the gateway refused the connection"))

    if error_code == PROTOCOL_MISMATCH or "protocol mismatch" in message.lower():
        return GatewayResult(PROTOCOL_MISMATCH, message, error_code)
    if (error_code == "UNAUTHORIZED" or message.startswith("unauthorized")
            or (detail_code or "").startswith("AUTH_") or detail_code == "PAIRING_REQUIRED"):
        return GatewayResult(TOKEN_REJECTED, message, detail_code or error_code)
    return GatewayResult(ERROR, message, detail_code or error_code)


def _classify_hello(payload: dict) -> GatewayResult:
    if payload.get("type") != "hello-ok":
        return GatewayResult(ERROR, _("unexpected answer to connect"))
    version = _as_dict(payload.get("server")).get("version")
    version = _short(version) if version is not None else None
    protocol = payload.get("protocol")
    if not isinstance(protocol, int) or not MIN_PROTOCOL <= protocol <= MAX_PROTOCOL:
        return GatewayResult(
            PROTOCOL_MISMATCH,
            _("gateway chose protocol {protocol}; this client speaks {low}-{high}").format(
                protocol=protocol, low=MIN_PROTOCOL, high=MAX_PROTOCOL),
            None, version, protocol if isinstance(protocol, int) else None,
        )
    return GatewayResult(HELLO_OK, _("gateway {version} accepted the token (protocol {protocol})").format(
        version=version or "?", protocol=protocol), None, version, protocol)


def _about_auth(reason: str) -> bool:
    reason = reason.lower()
    return not reason or any(word in reason for word in ("unauthorized", "token", "auth", "pair"))


def _classify_close(close) -> GatewayResult:
    """The gateway hung up before answering `connect`: its close code says why."""
    code = close.code if close is not None else None
    reason = _short(close.reason) if close is not None else ""
    said = f" ({reason})" if reason else ""
    if code in (_CLOSE_TRY_AGAIN_LATER, _CLOSE_SERVICE_RESTART):
        return GatewayResult(STARTING, _("the gateway is starting; try again shortly{said}").format(said=said))
    if code == _CLOSE_AUTH_CHANGED:
        return GatewayResult(TOKEN_REJECTED, _("the gateway's auth settings changed{said}").format(said=said))
    if code == _CLOSE_POLICY_VIOLATION and _about_auth(reason):
        return GatewayResult(TOKEN_REJECTED, _("the gateway refused the token{said}").format(said=said))
    if code == _CLOSE_PROTOCOL_ERROR:
        return GatewayResult(PROTOCOL_MISMATCH, _("the gateway reported a protocol error{said}").format(said=said))
    if code is None:
        return GatewayResult(ERROR, _("the connection dropped during the handshake"))
    return GatewayResult(ERROR, _("the gateway closed the connection with code {code}{said}").format(
        code=code, said=said))
