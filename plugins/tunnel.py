"""Step ``tunnel``: ``ssh -N <alias>`` in the background (guide step 4), proven to work.

The tunnel is only reported up when the local port accepts AND the gateway answers
through it. A port already held by our own tunnel (whoever started it: this step,
launchd, systemd) means done; held by anything else, we stop rather than start a
second ssh that could not bind. If ssh exits, its own words are reported at once.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, replace

from plugins import _common, _gateway, _keyring, _openclaw_app, _openclaw_cli, _ports, _remote, _ssh, _tunnel
from plugins._tunnel import StartTunnel, check_gateway, explain_gateway
from wizard import Action, Check, Command, Health, RemoveFile, Step, StepFailed, hookimpl, state
from wizard.i18n import _


def _port_taken(port: int, holder, ctx=None) -> StepFailed:
    if ctx is not None and ctx.platform == "darwin" and _openclaw_app.holding_agent(ctx, holder):
        return StepFailed(_("local port {port} is taken by OpenClaw.app's own gateway ({owner}); run "
                            "'openclaw-remote run local-gateway' to stop it, or choose another --local-port").format(
            port=port, owner=holder.describe()), kept=_("No tunnel was started."))
    return StepFailed(_("local port {port} is already taken by {owner}; stop it or choose another "
                        "--local-port").format(port=port, owner=holder.describe()), kept=_("No tunnel was started."))


class EarlyGatewayCheck:
    """The Gateway handshake through a tunnel that already runs, begun in preflight so that it
    (and the keyring read it needs, ~70 ms of import) overlaps the other steps' work, such as
    ssh-key's login; plan uses it when the same process still holds the port."""

    def __init__(self, ctx, alias: str, port: int, holder):
        import threading

        self.alias, self.port, self.pid = alias, port, holder.pid
        self._result = None
        # A daemon thread: a run stopped by another step's check never waits for it (3 s at most).
        self._thread = threading.Thread(target=self._run, args=(ctx,), daemon=True)
        self._thread.start()

    def _run(self, ctx) -> None:
        try:
            self._result = check_gateway(ctx, self.alias, self.port)
        except Exception:  # noqa: BLE001  (plan then asks again, in the open)
            self._result = None

    def answers(self, alias: str, port: int, holder) -> bool:
        self._thread.join()
        return (self._result is not None and holder is not None and holder.pid == self.pid
                and (alias, port) == (self.alias, self.port))

    def result(self):
        return self._result


class Tunnel(Step):
    name = "tunnel"
    title = _("the SSH tunnel (ssh -N) to the Gateway")
    after = ("ssh-key",)
    questions = (_common.ALIAS, _common.LOCAL_PORT, _common.REMOTE_PORT)
    record_fields = {"pid": state.is_pid, "log": state.is_text}
    _early: EarlyGatewayCheck | None = None

    def preflight(self, ctx):
        alias, port = ctx.answer("alias"), ctx.answer("local_port")
        _tunnel.tunnel_argv(ctx, alias)  # a home that ssh could not be told: refused now
        _common.check_editable(_tunnel.detached_log(ctx))  # a FIFO or a device as the log: refused now
        self._early = None  # never one from an earlier run in this process
        holder = _ports.owner(port, likely=(ctx.record.get("pid") or 0,))
        if holder is not None and not _ssh.forwards_alias(holder, alias):
            if ctx.platform == "darwin" and _openclaw_app.holding_agent(ctx, holder):
                return  # OpenClaw.app's own gateway: the local-gateway step, before this one, stops it (or refuses)
            raise _port_taken(port, holder)
        if holder is not None and not ctx.dry_run:  # a tunnel runs: plan asks the Gateway through it
            self._early = EarlyGatewayCheck(ctx, alias, port, holder)

    def plan(self, ctx):
        alias, port = ctx.answer("alias"), ctx.answer("local_port")
        recorded = ctx.record.get("pid")
        holder = _ports.owner(port, likely=(recorded,) if recorded else ())
        early, self._early = self._early, None
        if holder is None:
            return [StartTunnel(alias, port, ctx.answer("remote_port"))]
        if _ssh.forwards_alias(holder, alias) and not _ssh.is_tunnel(ctx, holder, alias):
            # The guide's own tunnel, say: looked through, never stopped (autostart replaces
            # an OpenClaw agent's; one typed by hand is the user's to stop).
            ctx.ui.say("  " + _("an ssh tunnel for {alias} that openclaw-remote did not start holds port {port}: "
                                "{owner}; left alone").format(alias=alias, port=port, owner=holder.describe()))
        elif not _ssh.is_tunnel(ctx, holder, alias):
            raise _port_taken(port, holder, ctx)  # taken since the checks before the first write
        else:
            ctx.ui.say(
                "  " + _("the tunnel for {alias} already runs: {owner}").format(alias=alias, owner=holder.describe())
            )
        if not ctx.dry_run:
            same = early is not None and early.answers(alias, port, holder)
            result = early.result() if same else check_gateway(ctx, alias, port)
            if not (result.ok or result.kind == _gateway.TOKEN_REJECTED):
                raise StepFailed(explain_gateway(result, ctx.answer("remote_port")))
        return []

    def verify(self, ctx):
        # StartTunnel already saw the Gateway answer through the tunnel; what is left to
        # prove is that the port is still held by our ssh, not by something that raced us.
        alias, port = ctx.answer("alias"), ctx.answer("local_port")
        started = ctx.record.get("pid")
        holder = _ports.owner(port, likely=(started,) if started else ())
        if not _ssh.is_tunnel(ctx, holder, alias):
            raise StepFailed(_("port {port} is not held by the tunnel after starting it (held by: {owner})").format(
                port=port, owner=holder.describe() if holder else "-"))

    def undo(self, ctx):
        alias = ctx.answer("alias")
        if _tunnel.agent_loaded(ctx):
            why = _("the autostart agent runs the tunnel and would start it again: undo autostart first "
                    "('openclaw-remote undo autostart tunnel')")
            if not ctx.dry_run:
                raise StepFailed(why, kept=_("The tunnel still runs."))
            ctx.ui.warn(why)  # in a full undo, autostart goes first and this is moot
        actions = [_tunnel.StopTunnels(alias)] if (ctx.dry_run or _tunnel.our_tunnels(ctx, alias)) else []
        log = _tunnel.detached_log(ctx)
        if log.exists():
            actions.append(RemoveFile(log, backup=False))
        return actions


@hookimpl
def register_steps(register):
    register(Tunnel())


def _holder(ctx):
    port = ctx.answer("local_port")
    return _ports.owner(port, likely=(ctx.state.step("tunnel").get("pid") or 0,))


def _forwards(ctx, holder) -> bool:
    """The port is held by an ssh tunnel for the alias (ours or the user's own): the Gateway
    checks can look through it."""
    return _ssh.forwards_alias(holder, ctx.answer("alias"))


class TunnelProcessCheck(Check):
    name, step = "tunnel-process", "tunnel"
    title = _("tunnel process")

    def run(self, ctx):
        alias, port = ctx.answer("alias"), ctx.answer("local_port")
        holder = _holder(ctx)
        installed = _tunnel.installed_manager(ctx)
        if holder is None:
            return Health(
                "fail", _("no ssh tunnel holds port {port}").format(port=port),
                advice=_("The tunnel is down: its ssh exited (the network changed, the computer slept, the remote "
                         "machine restarted) and nothing has started it again yet. Its last words are in {log} "
                         "('openclaw-remote tunnel logs').").format(log=_tunnel.agent_log(ctx, installed)),
                actions=tuple(_tunnel.start_actions(ctx, alias, port, ctx.answer("remote_port"))), rerun=(),
                follows="key-login")  # without key login no tunnel can start: mend that first
        if _ssh.forwards_alias(holder, alias) and not _ssh.is_tunnel(ctx, holder, alias):
            # The user's own tunnel (typed by hand, another config): it may work; never ours to stop.
            return Health("ok", _("pid {pid}, an ssh tunnel for {alias} that openclaw-remote did not start "
                                  "(left alone)").format(pid=holder.pid, alias=alias),
                          {"pid": holder.pid, "manager": "other"})
        if not _ssh.is_tunnel(ctx, holder, alias):
            return Health(
                "fail",
                _("port {port} is held by {owner}, not by the tunnel").format(port=port, owner=holder.describe()),
                {"pid": holder.pid, "process": holder.name},
                advice=_(
                    "Another program listens on 127.0.0.1:{port}: {owner}. The tunnel cannot bind the port while "
                    "it does. Stop that program (it is not ours, so doctor leaves it alone), or move the tunnel to a "
                    "free port: 'openclaw-remote run ssh-config tunnel autostart --local-port N'."
                ).format(port=port, owner=holder.describe()),
                rerun=(),
            )
        manager = _tunnel.running_manager(ctx, holder.pid)
        details = {"pid": holder.pid, "manager": manager}
        if manager == _tunnel.DETACHED and installed != _tunnel.DETACHED and _tunnel.agent_loaded(ctx):
            return Health(
                "fail",
                _("port {port} is held by an orphaned ssh of ours (pid {pid}), not by the {manager} agent").format(
                    port=port, pid=holder.pid, manager=installed
                ),
                details,
                advice=_(
                    "An ssh tunnel for {alias} left by an earlier run or started by hand holds the port, so the "
                    "agent's own ssh cannot bind it and keeps failing. The fix stops pid {pid} and has the agent "
                    "start its tunnel."
                ).format(alias=alias, pid=holder.pid),
                actions=(
                    _tunnel.StopProcess(holder.pid, port, alias),
                    *_tunnel.start_actions(ctx, alias, port, ctx.answer("remote_port"), restart=True),
                ),
                rerun=(),
            )
        return Health("ok", _("pid {pid}, run by {manager}").format(
            pid=holder.pid, manager=_tunnel.manager_words(manager)), details)


class PortCheck(Check):
    name, step = "local-port", "tunnel"
    title = _("local port")

    def run(self, ctx):
        port = ctx.answer("local_port")
        holder = _ports.owner(port)
        if holder is None:
            return Health("fail", _("nothing listens on 127.0.0.1:{port}").format(port=port), {"port": port},
                          follows="tunnel-process")
        details = {"port": port, "pid": holder.pid, "process": holder.name}
        reason = _("127.0.0.1:{port} held by {owner}").format(port=port, owner=holder.describe())
        if not _forwards(ctx, holder):
            return Health("fail", reason, details, follows="tunnel-process")
        return Health("ok", reason, details)


def _gateway_unreachable(ctx, result, remote_port: int) -> Health:
    """The tunnel forwards, but no Gateway answers properly behind it: only the remote side can fix it."""
    advice = {
        _gateway.PORT_CLOSED: _("The tunnel works, but nothing listens on port {port} of the remote machine: the "
                                "Gateway is not running there (or listens elsewhere). Start the OpenClaw Gateway on "
                                "the remote machine, or correct the port with 'openclaw-remote run ssh-config "
                                "autostart --remote-port N'."),
        _gateway.NOT_GATEWAY: _("Port {port} of the remote machine is some other service, not an OpenClaw Gateway: "
                                "correct the port with 'openclaw-remote run ssh-config autostart --remote-port N'."),
        _gateway.STARTING: _("The Gateway is starting: look again in a few seconds."),
    }.get(result.kind, _("Update OpenClaw on this Mac or on the remote machine so that both speak one protocol."))
    # Nothing behind the tunnel: what the Gateway's host says about it (remote-gateway) is the cause.
    follows = "remote-gateway" if result.kind == _gateway.PORT_CLOSED else ""
    return Health("fail", explain_gateway(result, remote_port), advice=advice.format(port=remote_port), rerun=(),
                  follows=follows)


class GatewayHealthCheck(Check):
    name, step = "gateway-http", "tunnel"
    title = _("Gateway liveness (HTTP /healthz)")

    def run(self, ctx):
        port = ctx.answer("local_port")
        if not _ports.accepting(port):
            return Health("fail", _("no tunnel: nothing listens on 127.0.0.1:{port}").format(port=port),
                          follows="tunnel-process")
        if not _forwards(ctx, _holder(ctx)):
            return Health("fail", _("127.0.0.1:{port} is not the tunnel").format(port=port), follows="tunnel-process")
        result = _gateway.probe(port, None, timeout=2.0)
        if result.ok:
            return Health("ok", result.detail)
        stale = _older_than_config(ctx)
        if result.kind == _gateway.PORT_CLOSED and stale:
            return stale
        return _gateway_unreachable(ctx, result, ctx.answer("remote_port"))


def _older_than_config(ctx) -> Health | None:
    """A tunnel started before the ssh config last changed forwards what the config said then (another
    remote port, say, after doctor followed the Gateway there): the fix restarts it."""
    holder = _holder(ctx)
    started = _ports.started_at(holder.pid) if holder is not None and holder.pid else None
    try:
        changed = _ssh.config_path(ctx).stat().st_mtime
    except OSError:
        return None
    if started is None or started >= changed - 1:  # /proc's start time is rounded to clock ticks
        return None
    alias, port = ctx.answer("alias"), ctx.answer("local_port")
    return Health("fail", _("nothing answers behind the tunnel, and the tunnel is older than the ssh config it "
                            "should follow"), {"pid": holder.pid},
                  advice=_("ssh reads its config only when it starts: the fix restarts the tunnel so that it "
                           "forwards what the config says now."),
                  actions=tuple(_tunnel.start_actions(ctx, alias, port, ctx.answer("remote_port"), restart=True)),
                  rerun=())


class GatewayHandshakeCheck(Check):
    name, step = "gateway-handshake", "tunnel"
    title = _("Gateway handshake with the stored token")

    def run(self, ctx):
        token = _keyring.token_for_probe(ctx, ctx.answer("alias"))
        if not token:
            return Health(
                "warn", _("no stored token to try (run 'openclaw-remote run token')"), follows="token-keyring"
            )
        port = ctx.answer("local_port")
        if not _forwards(ctx, _holder(ctx)):
            return Health("fail", _("no tunnel on 127.0.0.1:{port}").format(port=port), follows="tunnel-process")
        result = _gateway.probe(port, token, timeout=2.0)
        details = {"server_version": result.server_version, "protocol": result.protocol, "code": result.code}
        if result.kind == _gateway.HELLO_OK:
            return Health("ok", result.detail, details)
        if result.code == "PAIRING_REQUIRED":
            return Health(
                "fail", _("the Gateway wants this device paired first (PAIRING_REQUIRED)"), details, rerun=(),
                advice=_("A connection through the tunnel arrives as loopback and is normally approved at once; here "
                         "that is off. On the remote machine run 'openclaw devices list', find the pending request, "
                         "approve it with 'openclaw devices approve <requestId>' (requests expire after 5 minutes), "
                         "then run 'openclaw-remote status' again."))
        if result.kind == _gateway.TOKEN_REJECTED:
            return Health(
                "fail", _("the Gateway rejected the stored token ({code})").format(code=result.code), details,
                advice=_("The token in your keyring is not the Gateway's (it was changed on the Gateway, or a wrong "
                         "one was stored). Copy the token from the Gateway's configuration; the fix asks for it "
                         "(without a terminal: OPENCLAW_GATEWAY_TOKEN or --token-stdin with --yes), stores it and "
                         "restarts the app."),
                rerun=("token", "app-restart"))
        # Usually /healthz fails too and says why; a protocol mismatch shows only here.
        return replace(_gateway_unreachable(ctx, result, ctx.answer("remote_port")), details=details,
                       follows="gateway-http")


# ---- the Gateway where it runs, read over ssh ---------------------------------------------

START_WAIT = 20.0  # after `openclaw gateway start`: until its RPC probe passes, at most


@dataclass(eq=False, repr=False)
class StartRemoteGateway(Action):
    """``openclaw gateway start`` on the remote, then wait until its own status says it answers."""

    alias: str

    def describe(self, ctx):
        words = [_remote.openclaw(ctx), "gateway", "start"]
        return "$ " + shlex.join(_remote.command(ctx, self.alias, words)) + "    # " + _(
            "start the Gateway service on the remote machine") + "\n"

    def perform(self, ctx):
        words = [_remote.openclaw(ctx), "gateway", "start"]
        with ctx.ui.waiting(_("starting the Gateway on {alias} (up to {s:g} s)…").format(
                alias=self.alias, s=_remote.bound(START_WAIT))):
            result = _remote.run(ctx, self.alias, words, timeout=START_WAIT)
            if not result.ok:
                raise StepFailed(_("'openclaw gateway start' failed on {alias}: {why}").format(
                    alias=self.alias, why=result.why()))
            started = _ports.wait_for(lambda: self._answers(ctx), START_WAIT, interval=1.0)
        if not started:
            raise StepFailed(_("the Gateway on {alias} was started but does not answer yet; look again with "
                               "'openclaw-remote status' in a moment").format(alias=self.alias))

    def _answers(self, ctx) -> bool:
        found = _openclaw_cli.status(ctx, self.alias)[1]
        return found is not None and found.running and found.rpc_ok is not False


@dataclass(eq=False, repr=False)
class LocateRemoteOpenclaw(Action):
    """Ask where ``openclaw`` is on the remote (once), check it answers there, and save the answer."""

    alias: str

    def describe(self, ctx):
        return _("ask for the path of openclaw on the remote machine, check it there and save it (answer "
                 "remote_openclaw)") + "\n"

    def perform(self, ctx):
        given = ctx.answer_if_given("remote_openclaw")
        if not given and not ctx.interactive:
            raise StepFailed(_("nobody to ask for the path of openclaw on the remote machine: pass --remote-openclaw "
                               "PATH"))
        path = given or ctx.answer("remote_openclaw")
        result = _remote.run(ctx, self.alias, [path, "--version"])
        if not result.ok:
            raise StepFailed(_("{path} does not run on {alias}: {why}").format(path=path, alias=self.alias,
                                                                            why=result.why()))
        ctx.resolver.values["remote_openclaw"] = path
        ctx.state.answers["remote_openclaw"] = path  # saved at once: every later ssh to the remote uses it
        ctx.state.save()


@dataclass(eq=False, repr=False)
class UseRemotePort(Action):
    """Take the port the Gateway really listens on as ``--remote-port`` for the steps re-run next."""

    port: int

    def describe(self, ctx):
        return _("use the Gateway's own port on the remote machine, {port}, as --remote-port").format(
            port=self.port) + "\n"

    def perform(self, ctx):
        ctx.resolver.values["remote_port"] = self.port


class RemoteGatewayCheck(Check):
    name, step = "remote-gateway", "tunnel"
    title = _("Gateway on the remote machine (openclaw gateway status)")
    bound = _remote.bound()

    def run(self, ctx):
        alias, remote_port = ctx.answer("alias"), ctx.answer("remote_port")
        result, found = _openclaw_cli.status(ctx, alias)
        details = {"openclaw": _remote.openclaw(ctx)}
        if result.ssh_failed:
            return Health("fail", _("cannot log in to look: {why}").format(why=result.why()), details,
                          follows="key-login", rerun=())
        if result.missing:
            # The Gateway may well be fine: only this layer cannot look. A warning, with the repair.
            return Health("warn", _("the openclaw command is not found on the remote machine (exit 127)"), details,
                          advice=_openclaw_cli.missing_words(ctx, alias) + ".",
                          actions=(LocateRemoteOpenclaw(alias),), rerun=())
        if found is None:
            return Health("fail", _("'openclaw gateway status --json' gave no status: {why}").format(why=result.why()),
                          details, rerun=(), advice=_("Update OpenClaw on the remote machine, or run 'openclaw "
                                                      "gateway status' there to see why."))
        details.update(service=found.runtime, bind_mode=found.bind_mode, bind_host=found.bind_host, port=found.port,
                       rpc_ok=found.rpc_ok)
        return self._judge(alias, remote_port, found, details)

    @staticmethod
    def _judge(alias: str, remote_port: int, found: _openclaw_cli.GatewayStatus, details: dict) -> Health:
        if not found.running:
            return Health("fail", _("the Gateway service is not running there ({status})").format(
                status=found.runtime or "?"), details,
                advice=_("The fix runs 'openclaw gateway start' on the remote machine over ssh, then looks again."),
                actions=(StartRemoteGateway(alias),), rerun=())
        if found.port is not None and found.port != remote_port:
            return Health("fail", _("the Gateway listens on port {theirs} there, the tunnel forwards to {ours}").format(
                theirs=found.port, ours=remote_port), details,
                advice=_("The fix writes the ssh config again with --remote-port {port} and restarts the tunnel's "
                         "agent.").format(port=found.port),
                actions=(UseRemotePort(found.port),), rerun=("ssh-config", "autostart"))
        if found.rpc_ok is False:
            return Health("fail", _("the Gateway runs but its own RPC probe fails: {why}").format(
                why=found.rpc_error or "?"), details, rerun=(),
                advice=_("Look at its log there: 'openclaw gateway status --deep', then 'openclaw gateway restart'."))
        where = f"{found.bind_host or found.bind_mode}:{found.port or remote_port}"
        if not found.loopback_only:
            return Health("warn", _("the Gateway listens on {where} ({mode}): reachable without the tunnel").format(
                where=where, mode=found.bind_mode or "?"), details, rerun=(),
                advice=_("Bound to the LAN or a tailnet, the Gateway is reachable from that network without the "
                         "tunnel, protected by its token alone. That is a security choice; to keep it to the tunnel, "
                         "run on the remote machine: 'openclaw config set gateway.bind loopback', then 'openclaw "
                         "gateway restart'."))
        return Health("ok", _("running, listening on {where}, RPC probe ok").format(where=where), details)


@hookimpl
def register_checks(register):
    register(TunnelProcessCheck())
    register(PortCheck())
    register(RemoteGatewayCheck())  # before the Gateway's checks through the tunnel: it is their cause
    register(GatewayHealthCheck())
    register(GatewayHandshakeCheck())


class TunnelCommand(Command):
    name = "tunnel"
    help = _("tunnel start|stop|restart|logs: control the tunnel, whoever runs it (launchd, systemd or a detached ssh)")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop", "restart", "logs"],
                            help=_("start, stop or restart the tunnel, whoever runs it; logs: its last lines"))
        parser.add_argument("-n", "--lines", type=int, default=40, help=_("logs: how many lines (default 40)"))
        parser.add_argument("--alias", help=_common.ALIAS.prompt)

    def changes(self, args) -> bool:
        return args.action != "logs"  # logs only reads: it works while a setup runs

    def run(self, ctx, args) -> int:
        if args.action == "logs":
            return self._logs(ctx, args.lines)
        from wizard.status import nothing_set_up, not_set_up_health

        if nothing_set_up(ctx):  # no alias was ever configured here: there is no tunnel to control
            ctx.ui.error(not_set_up_health(ctx).reason)
            return 1
        alias, port = ctx.answer("alias"), ctx.answer("local_port")
        ctx.step_name = "tunnel"  # a detached ssh started here is the tunnel step's to know about
        holder = _holder(ctx)
        if holder is not None and not _ssh.is_tunnel(ctx, holder, alias) and args.action != "stop":
            ctx.ui.error(_("local port {port} is taken by {owner}; stop it or choose another --local-port").format(
                port=port, owner=holder.describe()))
            return 1
        if args.action == "start" and holder is not None:
            ctx.ui.ok(_("the tunnel already runs: {owner}, run by {manager}").format(
                owner=holder.describe(), manager=_tunnel.manager_words(_tunnel.running_manager(ctx, holder.pid))))
            return 0
        if args.action == "stop":
            actions = _tunnel.stop_actions(ctx, alias)
        else:
            actions = _tunnel.start_actions(ctx, alias, port, ctx.answer("remote_port"),
                                            restart=args.action == "restart" and holder is not None)
        started = time.monotonic()
        try:
            for action in actions:
                ctx.ui.say("  " + ctx.mask(action.describe(ctx).strip()))
                action.perform(ctx)
            if args.action == "stop":
                self._wait_free(ctx, port, alias)
        except StepFailed as failure:
            ctx.ui.error(failure.message)
            return 1
        except OSError as exc:  # ssh or launchctl missing, a log we cannot open
            ctx.ui.error(str(exc))
            return 1
        ms = round((time.monotonic() - started) * 1000)
        if args.action == "stop":
            ctx.ui.ok(_("tunnel stopped, port {port} free ({ms} ms)").format(port=port, ms=ms))
            if _tunnel.installed_manager(ctx) == _tunnel.LAUNCHD:
                ctx.ui.say(_("The agent stays installed: it starts the tunnel again at your next login "
                             "('openclaw-remote tunnel start' starts it now)."))
            return 0
        holder = _holder(ctx)
        ctx.ui.ok(_("tunnel {done} in {ms} ms: pid {pid}, run by {manager}").format(
            done=_("restarted") if args.action == "restart" else _("started"), ms=ms, pid=holder.pid if holder else "-",
            manager=_tunnel.manager_words(_tunnel.running_manager(ctx, holder.pid)) if holder else "-"))
        return 0

    @staticmethod
    def _wait_free(ctx, port: int, alias: str) -> None:
        """Until no tunnel of ours holds the port; one that is not ours is named and left alone."""
        with ctx.ui.waiting(_("waiting for port {port} to be free (up to {s:g} s)…").format(
                port=port, s=_tunnel.STOP_TIMEOUT)):
            freed = _ports.wait_for(lambda: not _ssh.is_tunnel(ctx, _ports.owner(port), alias), _tunnel.STOP_TIMEOUT)
        if not freed:
            raise StepFailed(_("port {port} is still held by the tunnel after stopping it").format(port=port))
        holder = _ports.owner(port)
        if holder is not None:
            raise StepFailed(_("our tunnel is stopped, but port {port} is held by {owner}, which openclaw-remote did "
                               "not start: left alone").format(port=port, owner=holder.describe()))

    @staticmethod
    def _logs(ctx, lines: int) -> int:
        try:
            where, text = _tunnel.recent_log(ctx, max(1, lines))
        except StepFailed as failure:
            ctx.ui.error(failure.message)
            return 1
        ctx.ui.say(f"==> {where} <==", style="bold")
        ctx.ui.say(ctx.mask(text.rstrip("\n")) if text else _("(empty: the tunnel has not logged anything yet)"))
        return 0


@hookimpl
def register_commands(register):
    register(TunnelCommand())
