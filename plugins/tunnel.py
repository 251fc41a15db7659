"""Step ``tunnel``: ``ssh -N <alias>`` in the background (guide step 4), proven to work.

The tunnel is only reported up when the local port accepts AND the gateway answers
through it. A port already held by our own tunnel (whoever started it: this step,
launchd, systemd) means done; held by anything else, we stop rather than start a
second ssh that could not bind. If ssh exits, its own words are reported at once.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from plugins import _common, _gateway, _keyring, _ports, _ssh
from wizard import Action, Check, Health, Step, StepFailed, hookimpl
from wizard.i18n import _
from wizard.runner import spawn_detached

READY_TIMEOUT = 20.0


def tunnel_argv(ctx, alias: str) -> list[str]:
    # BatchMode: a background tunnel must never wait on a prompt nobody sees.
    return _ssh.ssh_command(ctx, "-N", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", alias)


def check_gateway(ctx, alias: str, port: int) -> _gateway.GatewayResult:
    return _gateway.probe(port, _keyring.token_for_probe(ctx, alias), timeout=3.0)


def explain_gateway(result: _gateway.GatewayResult, remote_port: int) -> str:
    if result.kind == _gateway.PORT_CLOSED:
        return _("the tunnel is up but nothing answers behind it: is the Gateway running on the remote "
                 "machine, on port {port}? ({detail})").format(port=remote_port, detail=result.detail)
    if result.kind == _gateway.NOT_GATEWAY:
        return _("something answers on the remote port {port}, but it is not an OpenClaw Gateway ({detail})").format(
            port=remote_port, detail=result.detail)
    if result.kind == _gateway.PROTOCOL_MISMATCH:
        return _("the Gateway speaks another protocol version ({detail}): update OpenClaw").format(detail=result.detail)
    if result.kind == _gateway.STARTING:
        return _("the Gateway is still starting; try again in a moment")
    return result.detail


def stop_process(process) -> None:
    """SIGTERM, then SIGKILL: ssh -N can sleep through SIGTERM in poll() for minutes."""
    import subprocess

    process.terminate()
    try:
        process.wait(1.0)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class StartTunnel(Action):
    alias: str
    local_port: int
    remote_port: int

    def describe(self, ctx):
        return ("$ " + shlex.join(tunnel_argv(ctx, self.alias)) + " &    # "
                + _("then waits until port {port} answers and the Gateway responds").format(port=self.local_port) + "\n")

    def perform(self, ctx):
        log = ctx.config_dir / "tunnel.log"
        log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        offset = log.stat().st_size if log.exists() else 0
        started = time.monotonic()
        process = spawn_detached(tunnel_argv(ctx, self.alias), log_path=log, env=_ssh.child_env(ctx))
        ctx.remember(pid=process.pid, log=str(log))
        try:
            result = self._wait_ready(ctx, process, log, offset)
        except BaseException:
            stop_process(process)
            ctx.remember(pid=None)
            raise
        ctx.ui.say("  " + _("tunnel ready in {ms} ms (pid {pid}): {what}").format(
            ms=round((time.monotonic() - started) * 1000), pid=process.pid, what=result.kind))

    def _wait_ready(self, ctx, process, log, offset) -> _gateway.GatewayResult:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                words = log.read_bytes()[offset:].decode(errors="replace").strip()
                raise StepFailed(_("ssh exited at once (exit {code}): {words}").format(
                    code=code, words=words or "-"), kept=_("No tunnel is running."))
            if _ports.accepting(self.local_port):
                result = check_gateway(ctx, self.alias, self.local_port)
                if result.ok:
                    return result
                if result.kind == _gateway.TOKEN_REJECTED:
                    ctx.ui.warn(_("the tunnel works, but the Gateway rejected the token ({code})").format(code=result.code))
                    return result
                if result.kind != _gateway.STARTING:
                    raise StepFailed(explain_gateway(result, self.remote_port),
                                     kept=_("The ssh it started was stopped."))
                time.sleep(0.2)
                continue
            time.sleep(0.02)
        raise StepFailed(_("the tunnel was not ready after {s:g} s").format(s=READY_TIMEOUT),
                         kept=_("The ssh it started was stopped."))


class Tunnel(Step):
    name = "tunnel"
    title = _("the SSH tunnel (ssh -N) to the Gateway")
    after = ("ssh-key",)
    questions = (_common.ALIAS, _common.LOCAL_PORT, _common.REMOTE_PORT)

    def plan(self, ctx):
        alias, port = ctx.answer("alias"), ctx.answer("local_port")
        recorded = ctx.record.get("pid")
        holder = _ports.owner(port, likely=(recorded,) if recorded else ())
        if holder is None:
            return [StartTunnel(alias, port, ctx.answer("remote_port"))]
        if not _ssh.is_tunnel(holder, alias):
            raise StepFailed(_("local port {port} is already taken by {owner}; stop it or choose "
                               "another --local-port").format(port=port, owner=holder.describe()),
                             kept=_("No tunnel was started."))
        ctx.ui.say("  " + _("the tunnel for {alias} already runs: {owner}").format(alias=alias, owner=holder.describe()))
        if not ctx.dry_run:
            result = check_gateway(ctx, alias, port)
            if not (result.ok or result.kind == _gateway.TOKEN_REJECTED):
                raise StepFailed(explain_gateway(result, ctx.answer("remote_port")))
        return []

    def verify(self, ctx):
        # StartTunnel already saw the Gateway answer through the tunnel; what is left to
        # prove is that the port is still held by our ssh, not by something that raced us.
        alias, port = ctx.answer("alias"), ctx.answer("local_port")
        started = ctx.record.get("pid")
        holder = _ports.owner(port, likely=(started,) if started else ())
        if not _ssh.is_tunnel(holder, alias):
            raise StepFailed(_("port {port} is not held by the tunnel after starting it (held by: {owner})").format(
                port=port, owner=holder.describe() if holder else "-"))


@hookimpl
def register_steps(register):
    register(Tunnel())


def _manager(ctx, pid: int) -> str:
    """Who runs the tunnel: the autostart agent (launchd / systemd) when its pid is this one,
    else a detached ssh (this step's, or an orphan)."""
    from plugins import _launchd

    label = ctx.answer("label") if "label" in ctx.questions else None
    if label and ctx.platform == "darwin" and _launchd.loaded_pid(ctx, label)[1] == pid:
        return "launchd"
    if label and ctx.platform != "darwin":
        shown = ctx.run(["systemctl", "--user", "show", "-p", "MainPID", "--value", f"{label}.service"], timeout=5)
        if shown.stdout.strip() == str(pid):
            return "systemd"
    return "detached"


class TunnelProcessCheck(Check):
    name, step = "tunnel-process", "tunnel"
    title = _("tunnel process")

    def run(self, ctx):
        alias, port = ctx.answer("alias"), ctx.answer("local_port")
        holder = _ports.owner(port, likely=(ctx.state.step("tunnel").get("pid") or 0,))
        if holder is None:
            return Health("fail", _("no ssh tunnel holds port {port}").format(port=port))
        if not _ssh.is_tunnel(holder, alias):
            return Health("fail", _("port {port} is held by {owner}, not by the tunnel").format(
                port=port, owner=holder.describe()))
        manager = _manager(ctx, holder.pid)
        return Health("ok", _("pid {pid}, run by {manager}").format(pid=holder.pid, manager=manager),
                      {"pid": holder.pid, "manager": manager})


class PortCheck(Check):
    name, step = "local-port", "tunnel"
    title = _("local port")

    def run(self, ctx):
        port = ctx.answer("local_port")
        holder = _ports.owner(port)
        if holder is None:
            return Health("fail", _("nothing listens on 127.0.0.1:{port}").format(port=port), {"port": port})
        return Health("ok", _("127.0.0.1:{port} held by {owner}").format(port=port, owner=holder.describe()),
                      {"port": port, "pid": holder.pid, "process": holder.name})


class GatewayHealthCheck(Check):
    name, step = "gateway-http", "tunnel"
    title = _("Gateway liveness (HTTP /healthz)")

    def run(self, ctx):
        port = ctx.answer("local_port")
        if not _ports.accepting(port):
            return Health("fail", _("no tunnel: nothing listens on 127.0.0.1:{port}").format(port=port))
        result = _gateway.probe(port, None, timeout=2.0)
        if result.ok:
            return Health("ok", result.detail)
        return Health("fail", explain_gateway(result, ctx.answer("remote_port")))


class GatewayHandshakeCheck(Check):
    name, step = "gateway-handshake", "tunnel"
    title = _("Gateway handshake with the stored token")

    def run(self, ctx):
        token = _keyring.token_for_probe(ctx, ctx.answer("alias"))
        if not token:
            return Health("warn", _("no stored token to try (run 'openclaw-remote run token')"))
        result = _gateway.probe(ctx.answer("local_port"), token, timeout=2.0)
        details = {"server_version": result.server_version, "protocol": result.protocol, "code": result.code}
        if result.kind == _gateway.HELLO_OK:
            return Health("ok", result.detail, details)
        if result.kind == _gateway.TOKEN_REJECTED:
            return Health("fail", _("the Gateway rejected the stored token ({code})").format(code=result.code), details)
        return Health("fail", explain_gateway(result, ctx.answer("remote_port")), details)


@hookimpl
def register_checks(register):
    register(TunnelProcessCheck())
    register(PortCheck())
    register(GatewayHealthCheck())
    register(GatewayHandshakeCheck())
