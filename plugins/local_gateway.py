"""Step ``local-gateway``: OpenClaw.app's own gateway must not hold the tunnel's port (macOS).

In local mode OpenClaw.app keeps a gateway LaunchAgent of its own (``ai.openclaw.gateway``, see
plugins/_openclaw_app.py for what was verified in OpenClaw's source) listening on 18789: while it
runs our tunnel cannot bind the port, and at login it races our agent for it. With the user's
consent this step stops it the way OpenClaw documents: first the attach-only switch
``~/.openclaw/disable-launchagent`` (so that the app does not install and start it again), then
``launchctl bootout``, and ``launchctl disable`` so that launchd does not load its plist at the next
login either. Everything is recorded, and ``undo`` puts it back (enable, bootstrap, the switch removed
if this step created it).

A step of its own, ordered before ``tunnel``, rather than a repair inside the tunnel step: it
changes something that is OpenClaw's, not ours, so it asks on its own, shows its own plan in
``--dry-run``, and is undone on its own (``openclaw-remote undo local-gateway``).

It also reads (never writes) ``~/.openclaw/openclaw.json``: when the app is set to its own "Remote
over SSH" mode, its ssh -L competes with our tunnel for the port, and it says which to keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plugins import _common, _launchd, _openclaw_app, _ports
from wizard import Action, Check, Health, Question, RemoveFile, Run, Step, StepFailed, hookimpl, state
from wizard.i18n import _

BOOTOUT_SETTLE = 5.0  # seconds

STOP = Question("stop_local_gateway", _("Stop OpenClaw.app's own local gateway agent so that the tunnel can hold "
                                        "the port (undo puts it back)?"),
                confirm=True, upfront=False,
                help=_("with --yes: stop OpenClaw.app's own local gateway agent (undo puts it back)"))


@dataclass(eq=False, repr=False)
class CreateMarker(Action):
    """OpenClaw's attach-only switch: an empty file whose presence is all that counts."""

    path: Path

    def describe(self, ctx):
        return _("create {path} (OpenClaw.app's attach-only switch: it no longer starts a gateway of its own)").format(
            path=self.path) + "\n"

    def perform(self, ctx):
        ctx.remember(marker_created=True)  # first: a run killed right after still lets undo remove it
        ctx.write_file(self.path, "", mode=0o644, dir_mode=0o700, backup=False)

    def summary(self, ctx):
        return _("create {path}").format(path=self.path)


@dataclass(eq=False, repr=False)
class StopAgent(Action):
    label: str

    def _commands(self) -> list[Run]:
        target = f"{_launchd.domain()}/{self.label}"
        return [_launchd.bootout(self.label),
                Run(["launchctl", "disable", target], why=_("not loaded again at the next login"))]

    def describe(self, ctx):
        return "".join(command.describe(ctx) for command in self._commands())

    def perform(self, ctx):
        stopped = [*ctx.record.get("stopped_agents", [])]
        if self.label not in stopped:
            ctx.remember(stopped_agents=[*stopped, self.label])  # before: undo must know even if we die here
        for command in self._commands():
            command.perform(ctx)

    def summary(self, ctx):
        return _("stop OpenClaw's gateway agent {label}").format(label=self.label)


def _competing(ctx) -> list[_openclaw_app.GatewayAgent]:
    """OpenClaw's gateway agents that compete with the tunnel: loaded now (holding the port or
    ready to), or present and not yet disabled (launchd loads them at the next login)."""
    stopped = set(ctx.record.get("stopped_agents", []))
    return [agent for agent in _openclaw_app.gateway_agents(ctx) if agent.loaded or agent.label not in stopped]


def _describe(agent: _openclaw_app.GatewayAgent, port: int) -> str:
    holder = _ports.owner(port, likely=(agent.pid,) if agent.pid else ())
    if agent.holds(holder):
        return _("OpenClaw.app's own gateway agent {label} holds local port {port} ({owner}): the tunnel cannot bind "
                 "it").format(label=agent.label, port=port, owner=holder.describe())
    if agent.loaded:
        return _("OpenClaw.app's own gateway agent {label} is loaded: at login it races the tunnel for local port "
                 "{port}").format(label=agent.label, port=port)
    return _("OpenClaw.app's own gateway agent {label} is installed ({path}): launchd starts it at the next login, "
             "and it races the tunnel for local port {port}").format(label=agent.label, path=agent.plist, port=port)


def warn_app_tunnel(ctx) -> str | None:
    """The warning about OpenClaw.app's own ssh tunnel, None when its config opens none."""
    try:
        target = _openclaw_app.app_ssh_target(_openclaw_app.read_config(ctx))
    except _openclaw_app.ConfigError as exc:
        return str(exc)
    if target is None:
        return None
    return _("OpenClaw.app is set to its own \"Remote over SSH\" mode (gateway.mode \"remote\", ssh to {target}) in "
             "{path}: its own ssh -L competes with this tunnel for local port {port}, and when the port is busy it "
             "silently takes another one. Keep one of the two: to keep this tunnel (it survives logins and sleep, "
             "and 'status' watches it), switch OpenClaw.app to Local mode in its settings, where it attaches to the "
             "tunnel's port; to keep the app's own, run 'openclaw-remote undo'. openclaw-remote never edits that "
             "file.").format(target=target, path=_openclaw_app.config_path(ctx), port=ctx.answer("local_port"))


class LocalGateway(Step):
    name = "local-gateway"
    title = _("OpenClaw.app's own local gateway, out of the tunnel's way (macOS)")
    after = ("ssh-key",)  # just before the tunnel, which needs the port
    before = ("tunnel",)
    questions = (_common.LOCAL_PORT, STOP)
    record_fields = {"stopped_agents": state.is_text_list, "marker_created": state.is_flag}

    def applies(self, ctx):
        if ctx.platform != "darwin":
            return _("OpenClaw.app's gateway agent is a macOS LaunchAgent")
        return None

    def preflight(self, ctx):
        _common.check_editable(_openclaw_app.marker(ctx))
        agents = _competing(ctx)
        if not agents:
            return
        for agent in agents:
            ctx.ui.warn(_describe(agent, ctx.answer("local_port")))
        if not ctx.answer("stop_local_gateway"):
            raise StepFailed(_("OpenClaw.app's own gateway agent would keep the tunnel from its port; let the wizard "
                               "stop it (pass --stop-local-gateway with --yes; 'openclaw-remote undo local-gateway' "
                               "puts it back), or choose another --local-port"), kept=_("Nothing was changed."))

    def plan(self, ctx):
        warning = warn_app_tunnel(ctx)
        if warning:
            ctx.ui.warn(warning)
        agents = _competing(ctx)
        if not agents:
            return []
        if not ctx.answer("stop_local_gateway"):  # the checks before the first write asked already
            raise StepFailed(_("OpenClaw.app's own gateway agent was not stopped"), kept=_("Nothing was changed."))
        actions: list[Action] = []
        if not _openclaw_app.marker(ctx).exists():
            actions.append(CreateMarker(_openclaw_app.marker(ctx)))
        return actions + [StopAgent(agent.label) for agent in agents]

    def verify(self, ctx):
        # bootout can finish asynchronously (exit 36, "Operation now in progress"): look for a moment.
        def still_loaded() -> list[str]:
            return [agent.label for agent in _openclaw_app.gateway_agents(ctx) if agent.loaded]

        _ports.wait_for(lambda: not still_loaded(), timeout=BOOTOUT_SETTLE, interval=0.2)
        still = still_loaded()
        if still:
            raise StepFailed(_("OpenClaw's gateway agent is still loaded after bootout: {labels}").format(
                labels=", ".join(still)))

    def undo(self, ctx):
        actions: list[Action] = []
        for label in ctx.record.get("stopped_agents", []):
            if not isinstance(label, str) or not _common.LABEL_RE.match(label):
                continue  # a hand-edited record names no command line
            plist = _launchd.plist_path(ctx, label)
            loaded, _pid = _launchd.loaded_pid(ctx, label)
            if plist.exists() and not loaded:
                actions.append(_launchd.bootstrap(plist))  # which enables the label first
            else:
                actions.append(_launchd.enable(label, why=_("allowed to load again")))
        if actions and not ctx.dry_run and _ports.owner(ctx.answer("local_port")) is not None:
            ctx.ui.warn(_("local port {port} is still taken (by the tunnel?): OpenClaw.app's gateway comes back "
                          "but cannot listen there until it is free").format(port=ctx.answer("local_port")))
        marker = _openclaw_app.marker(ctx)
        if ctx.record.get("marker_created") and marker.exists():
            actions.append(RemoveFile(marker, backup=False))
        return actions


@hookimpl
def register_steps(register):
    register(LocalGateway())


class GatewayAgentCheck(Check):
    name, step = "openclaw-gateway-agent", "local-gateway"
    title = _("OpenClaw.app's own gateway agent")

    def run(self, ctx):
        if ctx.platform != "darwin":
            return Health("ok", _("not on this platform"))
        port = ctx.answer("local_port")
        loaded = [agent for agent in _openclaw_app.gateway_agents(ctx) if agent.loaded]
        if not loaded:
            return Health("ok", _("not running"))
        agent = loaded[0]
        holder = _ports.owner(port, likely=(agent.pid,) if agent.pid else ())
        advice = _("OpenClaw.app in local mode runs a gateway of its own on the same port. The fix stops it "
                   "(OpenClaw's attach-only switch ~/.openclaw/disable-launchagent, then launchctl bootout and "
                   "disable), after asking; 'openclaw-remote undo local-gateway' puts it back.")
        details = {"label": agent.label, "pid": agent.pid}
        if agent.holds(holder):
            return Health("fail", _describe(agent, port), details, advice=advice)
        return Health("warn", _describe(agent, port), details, advice=advice)


class AppTunnelCheck(Check):
    name, step = "openclaw-app-tunnel", "local-gateway"
    title = _("OpenClaw.app's own SSH mode")

    def run(self, ctx):
        warning = warn_app_tunnel(ctx)
        if warning is None:
            return Health("ok", _("not in use"))
        return Health("warn", warning, rerun=(), advice=_("Only you can choose which tunnel to keep; the message says "
                                                          "how for each."))


class ConfigTokenCheck(Check):
    name, step = "openclaw-config-token", "local-gateway"
    title = _("token in launchd vs gateway.remote.token")

    def run(self, ctx):
        if ctx.platform != "darwin":
            return Health("ok", _("not on this platform"))
        try:
            configured = _openclaw_app.remote_token(_openclaw_app.read_config(ctx))
        except _openclaw_app.ConfigError as exc:
            return Health("warn", str(exc), rerun=())
        if configured:
            ctx.add_secret(configured)
        launchd = _launchd.getenv(ctx, _launchd.TOKEN_VARIABLE)
        if not configured or not launchd:
            return Health("ok", _("only one of them is set"))
        if configured == launchd:
            return Health("ok", _("the same"))
        return Health("warn", _("{var} in launchd differs from gateway.remote.token in {path}: the app uses launchd's, "
                                "which overrides the config's").format(
            var=_launchd.TOKEN_VARIABLE, path=_openclaw_app.config_path(ctx)), rerun=(),
            advice=_("Remove gateway.remote.token from openclaw.json, or set it to the token in your keyring, so that "
                     "the app does not change token if launchd's is ever missing."))


@hookimpl
def register_checks(register):
    register(GatewayAgentCheck())
    register(AppTunnelCheck())
    register(ConfigTokenCheck())
