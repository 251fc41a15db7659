"""What OpenClaw's own ``openclaw`` CLI on the Gateway host says, read over ssh (plugins/_remote.py).

Upstream 2026.9 (field notes, "OpenClaw.app and the Gateway host"): ``openclaw gateway status
--json`` describes the service, the bind, the port and an RPC probe (fields differ between
versions: every one is read defensively); ``openclaw gateway auth-token --show`` reveals the shared
token only to a terminal (so ``ssh -tt``), a banner line first and the token on the last line,
CRLF line ends, and refuses with a reason otherwise.
"""

from __future__ import annotations

import json
import unicodedata
from typing import NamedTuple

from plugins import _remote
from wizard import StepFailed
from wizard.i18n import _

REDACTED = "__OPENCLAW_REDACTED__"  # what `openclaw config get gateway.auth.token` prints (openclaw#117942)
REVEAL_TIMEOUT = 10.0  # the CLI starts node and reads its config: slower than a status


class GatewayStatus(NamedTuple):  # not a frozen dataclass: see wizard.runner.Result
    """The fields of ``gateway status --json`` the wizard uses; None where the remote did not say."""

    loaded: bool | None = None
    runtime: str | None = None
    bind_mode: str | None = None
    bind_host: str | None = None
    port: int | None = None
    rpc_ok: bool | None = None
    rpc_error: str = ""

    @property
    def running(self) -> bool:
        return self.runtime == "running" or self.rpc_ok is True

    @property
    def loopback_only(self) -> bool:
        if self.bind_mode is not None:
            return self.bind_mode == "loopback"
        return self.bind_host is None or is_loopback(self.bind_host)


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value) -> str | None:
    return value[:200] if isinstance(value, str) and value else None


def parse_status(text: str) -> GatewayStatus | None:
    """The JSON object in ``text`` (anything printed before it, a banner, is skipped); None if none."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        data, _end = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    service, gateway, rpc = _dict(data.get("service")), _dict(data.get("gateway")), _dict(data.get("rpc"))
    port = gateway.get("port", _dict(data.get("port")).get("port"))
    loaded = service.get("loaded")
    return GatewayStatus(
        loaded=loaded if isinstance(loaded, bool) else None,
        runtime=_text(_dict(service.get("runtime")).get("status")),
        bind_mode=_text(gateway.get("bindMode")),
        bind_host=_text(gateway.get("bindHost")),
        port=port if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536 else None,
        rpc_ok=rpc.get("ok") if isinstance(rpc.get("ok"), bool) else None,
        rpc_error=_text(rpc.get("error")) or "",
    )


def status_words(ctx) -> list[str]:
    return [_remote.openclaw(ctx), "gateway", "status", "--json"]


def status(ctx, alias: str) -> tuple[_remote.RemoteResult, GatewayStatus | None]:
    result = _remote.run(ctx, alias, status_words(ctx))
    return result, parse_status(result.stdout) if result.ok else None


# ---- the token ----------------------------------------------------------------------------

def reveal_words(ctx) -> list[str]:
    return [_remote.openclaw(ctx), "gateway", "auth-token", "--show"]


def token_in(output: str) -> str:
    """The token in the reveal's output: its last non-empty line, without CR. ValueError (why) for
    what cannot be the token: the redaction placeholder, whitespace or control characters inside."""
    lines = [line for line in output.replace("\r", "").split("\n") if line.strip()]
    if not lines:
        raise ValueError(_("the remote printed no token"))
    token = lines[-1].strip()
    if token == REDACTED:
        raise ValueError(_("the remote printed the redaction placeholder {placeholder}, not the token").format(
            placeholder=REDACTED))
    if any(char.isspace() or unicodedata.category(char).startswith("C") for char in token):
        raise ValueError(_("the last line the remote printed has whitespace or control characters: it is not a token"))
    return token


# The reveal's refusals (src/commands/gateway-auth-token.ts upstream) and what to run there.
REFUSALS = [
    ("outside an interactive terminal",
     _("Run 'openclaw gateway auth-token --show' in a terminal on the remote machine and paste the token here.")),
    ("remote mode",
     _("That machine's OpenClaw is itself set to reach another Gateway (remote mode): point --host at the machine "
       "that runs the Gateway.")),
    ("auth mode",
     _("That Gateway does not use a shared token: switch it to token auth there ('openclaw configure'), then "
       "restart it ('openclaw gateway restart').")),
    ("No configured Gateway token",
     _("Create one there: 'openclaw doctor --generate-gateway-token', then 'openclaw gateway restart'.")),
    ("config is invalid", _("Repair its configuration there: 'openclaw doctor --fix'.")),
]


def refusal_advice(reason: str) -> str:
    for needle, advice in REFUSALS:
        if needle.lower() in reason.lower():
            return advice
    return _("Run 'openclaw gateway auth-token --show' in a terminal on the remote machine to see why.")


def missing_words(ctx, alias: str) -> str:
    return _("the openclaw command was not found on {alias} ({program}: exit 127). Non-interactive ssh sessions "
             "often lack it on PATH (npm global bins, nvm, Homebrew): find it there with 'command -v openclaw' in "
             "a terminal, then give it with --remote-openclaw PATH").format(alias=alias, program=_remote.openclaw(ctx))


def fetch_token(ctx, alias: str) -> str:
    """The Gateway token as the remote reveals it, or StepFailed with the remote's reason and what to
    run there. The captured output is dropped as soon as it is parsed; the token is added to the
    masked secrets before anything else can print it. When ``openclaw`` is not on the session's PATH
    and someone can be asked, its path is asked once (answer ``remote_openclaw``, saved)."""
    result = _reveal(ctx, alias)
    if result.missing and ctx.interactive and not _remote.answer_given(ctx):
        ctx.ui.warn(missing_words(ctx, alias))
        ctx.answer("remote_openclaw")
        result = _reveal(ctx, alias)
    if result.missing:
        raise StepFailed(missing_words(ctx, alias), kept=_("The token was not stored."))
    if result.ssh_failed:
        raise StepFailed(_("cannot log in to {alias} to fetch the token: {why}").format(alias=alias, why=result.why()),
                         kept=_("The token was not stored."))
    if not result.ok:
        reason = result.why()
        raise StepFailed(_("the remote refused to reveal the token: {reason} {advice}").format(
            reason=reason, advice=refusal_advice(reason)), kept=_("The token was not stored."))
    try:
        token = token_in(result.stdout)
    except ValueError as exc:
        raise StepFailed(_("what the remote printed is not a token ({why}). {advice}").format(
            why=exc, advice=refusal_advice("")), kept=_("The token was not stored.")) from None
    finally:
        del result  # the only copy of the output
    ctx.add_secret(token)
    return token


def _reveal(ctx, alias: str) -> _remote.RemoteResult:
    with ctx.ui.waiting(_("fetching the token from {alias} over ssh (up to {s:g} s)…").format(
            alias=alias, s=_remote.bound(REVEAL_TIMEOUT))):
        return _remote.run(ctx, alias, reveal_words(ctx), tty=True, timeout=REVEAL_TIMEOUT)
