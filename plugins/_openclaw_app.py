"""What OpenClaw.app itself does on this Mac that can compete with our tunnel: its own local
gateway LaunchAgent, and its own "Remote over SSH" tunnel configured in ``~/.openclaw/openclaw.json``.
Shared by the ``local-gateway`` step and the ``tunnel`` step; imports no step.

Verified against OpenClaw's own source (github.com/openclaw/openclaw), not only its docs:
- labels: ``src/daemon/constants.ts``: ``GATEWAY_LAUNCH_AGENT_LABEL = "ai.openclaw.gateway"``,
  ``resolveGatewayLaunchAgentLabel(profile)`` gives ``ai.openclaw.<profile>``, and the node host's
  agent is ``ai.openclaw.node`` (not a gateway). ``com.clawdbot.gateway`` is the label of the
  Clawdbot-era app (its ``docs/platforms/mac/child-process.md``).
- the attach-only switch: ``apps/macos/Sources/OpenClaw/GatewayLaunchAgentManager.swift`` reads
  ``~/.openclaw/disable-launchagent`` (the file's presence is all that counts) and then logs
  "launchd enable skipped (disable marker set)"; in remote mode it skips launchd changes altogether.
- the app's own tunnel: ``apps/macos/Sources/OpenClaw/RemotePortTunnel.swift`` runs
  ``/usr/bin/ssh -o BatchMode=yes … -o ExitOnForwardFailure=yes -N -L <local>:127.0.0.1:<remote>`` when
  ``gateway.mode`` is ``remote`` and the transport resolves to ssh (``gateway.remote.transport: "ssh"``,
  or a legacy config with ``gateway.remote.sshTarget``), and ``findPort`` silently takes a random
  free port when the preferred one is busy (``allowRandomLocalPort`` defaults to true).
- the token: that ``OPENCLAW_GATEWAY_TOKEN`` in the environment wins over the configured token is
  OpenClaw's documented rule (field notes); its own ``openclaw doctor`` warns "OPENCLAW_GATEWAY_TOKEN
  overrides" the config's token (``noteSecurityWarnings`` and its tests, PR openclaw#74433). The
  app's own log line about ``gateway.remote.token`` was NOT found in the source read here, so the
  messages do not quote it.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from plugins import _launchd
from wizard.i18n import _

GATEWAY_LABELS = ("ai.openclaw.gateway", "com.clawdbot.gateway")
PROFILE_PREFIX = "ai.openclaw."  # ai.openclaw.<profile> is a named profile's gateway agent
NOT_GATEWAYS = {"ai.openclaw.mac", "ai.openclaw.node", "ai.openclaw.ssh-tunnel"}  # the app, the node host, a tunnel
GATEWAY_PROCESS = "node"  # the gateway agent's program (`openclaw gateway install --runtime node`)


class GatewayAgent(NamedTuple):  # not a frozen dataclass: see wizard.runner.Result
    label: str
    plist: Path
    loaded: bool
    pid: int | None

    def holds(self, holder) -> bool:
        """Is this listener (an ``_ports.Owner``) this agent's gateway?"""
        if holder is None:
            return False
        return (self.pid is not None and holder.pid == self.pid) or (self.loaded and holder.name == GATEWAY_PROCESS)


def marker(ctx) -> Path:
    return ctx.path(".openclaw", "disable-launchagent")


def config_path(ctx) -> Path:
    return ctx.path(".openclaw", "openclaw.json")


def _candidate_labels(ctx) -> list[str]:
    folder = ctx.path("Library", "LaunchAgents")
    labels = list(GATEWAY_LABELS)
    if folder.is_dir():
        for path in sorted(folder.glob(PROFILE_PREFIX + "*.plist")):
            label = path.name[:-len(".plist")]
            if label not in labels and label not in NOT_GATEWAYS:
                labels.append(label)
    return labels


def gateway_agents(ctx) -> list[GatewayAgent]:
    """OpenClaw's own gateway agents on this Mac: those with a plist in ~/Library/LaunchAgents (the
    app installs one there; launchd loads what is there at login), loaded or not. Only those are
    asked about (``launchctl print``): a Mac without OpenClaw's agent costs no launchctl call."""
    found = []
    for label in _candidate_labels(ctx):
        plist = _launchd.plist_path(ctx, label)
        if not plist.exists():
            continue
        job = _launchd.read(plist)
        if job is not None and job.get("Label") not in (None, label):
            continue  # a file named like a gateway agent that is something else: not ours to judge
        loaded, pid = _launchd.loaded_pid(ctx, label)
        found.append(GatewayAgent(label, plist, loaded, pid))
    return found


def holding_agent(ctx, holder) -> GatewayAgent | None:
    """The OpenClaw gateway agent whose gateway listens where ``holder`` listens, if any."""
    if holder is None:
        return None
    return next((agent for agent in gateway_agents(ctx) if agent.holds(holder)), None)


class ConfigError(Exception):
    pass


def read_config(ctx) -> dict | None:
    """``~/.openclaw/openclaw.json`` (JSON5: comments, trailing commas), read only; None when absent.
    Raises ConfigError when it cannot be read. This wizard never writes that file."""
    path = config_path(ctx)
    if not path.exists():
        return None
    import json5  # lazily: only a Mac with OpenClaw's config pays for it

    try:
        value = json5.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(_("{path} cannot be read as JSON5: {why}").format(path=path, why=exc)) from None
    return value if isinstance(value, dict) else {}


def _remote(config: dict) -> dict:
    gateway = config.get("gateway")
    remote = gateway.get("remote") if isinstance(gateway, dict) else None
    return remote if isinstance(remote, dict) else {}


def app_ssh_target(config: dict | None) -> str | None:
    """The app's own ssh tunnel target when its config makes it open one, else None: remote mode
    (``gateway.mode: "remote"``) with the ssh transport, spelled out or (older configs) implied by
    ``gateway.remote.sshTarget`` alone."""
    if not config:
        return None
    gateway = config.get("gateway") if isinstance(config.get("gateway"), dict) else {}
    remote = _remote(config)
    target = remote.get("sshTarget")
    if gateway.get("mode") != "remote" or not isinstance(target, str) or not target.strip():
        return None
    transport = remote.get("transport")
    return target.strip() if transport in (None, "ssh") else None


def remote_token(config: dict | None) -> str | None:
    """``gateway.remote.token`` when it is a plain string (a secret: compare it, never show it)."""
    token = _remote(config or {}).get("token")
    return token if isinstance(token, str) and token else None
