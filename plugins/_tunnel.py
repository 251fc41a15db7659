"""The tunnel, whoever runs it: a detached ``ssh -N`` (the ``tunnel`` step's), the autostart
agent under launchd (macOS), or a systemd user unit (elsewhere). How to start, stop and restart
it under each, and how to wait until that is true. Shared by the tunnel and autostart steps,
their checks, the ``tunnel`` command, doctor's repairs and undo.
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from plugins import _gateway, _keyring, _launchd, _ports, _ssh
from wizard import Action, Run, StepFailed
from wizard.i18n import _
from wizard.runner import spawn_detached

LAUNCHD, SYSTEMD, DETACHED = "launchd", "systemd", "detached"
KILL_GRACE = 1.0  # SIGTERM, then SIGKILL after this long
READY_TIMEOUT = 20.0  # a detached ssh on a normal network is ready in well under a second
AGENT_READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
PROBE_RETRY = 3.0  # how long a fresh agent tunnel's first Gateway answer is waited for


def tunnel_argv(ctx, alias: str) -> list[str]:
    # BatchMode: a background tunnel must never wait on a prompt nobody sees.
    return _ssh.ssh_command(ctx, "-N", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", alias)


def detached_log(ctx):
    return ctx.config_dir / "tunnel.log"


def label(ctx) -> str | None:
    """The autostart agent's label, when the autostart step is installed at all (and, for undo,
    when it was recorded: no label recorded, no agent of ours)."""
    from wizard import UsageError

    try:
        return ctx.answer("label") if "label" in ctx.questions else None
    except UsageError:
        return None


def unit_name(name: str) -> str:
    return f"{name}.service"


def unit_path(ctx, name: str):
    return ctx.path(".config", "systemd", "user", unit_name(name))


def installed_manager(ctx) -> str:
    """Who is meant to run the tunnel: the autostart agent once its file exists, else a detached ssh."""
    name = label(ctx)
    if name and ctx.platform == "darwin" and _launchd.plist_path(ctx, name).exists():
        return LAUNCHD
    if name and ctx.platform != "darwin" and unit_path(ctx, name).exists():
        return SYSTEMD
    return DETACHED


def agent_loaded(ctx) -> bool:
    """Is an autostart agent loaded (launchd) or active (systemd), so it would restart a stopped tunnel?"""
    manager = installed_manager(ctx)
    if manager == LAUNCHD:
        return _launchd.loaded_pid(ctx, label(ctx))[0]
    if manager == SYSTEMD:
        unit = unit_name(label(ctx))
        return unit_state(ctx, unit) == "active"
    return False


def unit_state(ctx, unit: str, timeout: float = 10) -> str:
    """``systemctl --user is-active UNIT``'s word: active, inactive, failed, activating, … ("" for no answer)."""
    return ctx.run(["systemctl", "--user", "is-active", unit], timeout=timeout).stdout.strip()


def systemd_unreachable(ctx) -> str:
    """Why ``systemctl --user`` cannot work here ("" when it can): no systemctl, or no user
    manager to talk to (an ssh or container session without a user bus)."""
    result = ctx.run(["systemctl", "--user", "show-environment"], timeout=10)
    if result.ok:
        return ""
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else _("systemctl exited with {code}").format(code=result.returncode)


def systemd_pid(ctx, unit: str) -> int | None:
    result = ctx.run(["systemctl", "--user", "show", "-p", "MainPID", "--value", unit], timeout=10)
    value = result.stdout.strip()
    return int(value) if value.isdigit() and value != "0" else None


def running_manager(ctx, pid: int) -> str:
    """Who runs the process ``pid``: the agent when it is the agent's job, else detached."""
    name = label(ctx)
    if name and ctx.platform == "darwin" and _launchd.loaded_pid(ctx, name)[1] == pid:
        return LAUNCHD
    if name and ctx.platform != "darwin" and systemd_pid(ctx, unit_name(name)) == pid:
        return SYSTEMD
    return DETACHED


def manager_words(manager: str) -> str:
    """Who runs the tunnel, for people: launchd and systemd are names they know; DETACHED is ours."""
    return _("a detached ssh") if manager == DETACHED else manager


def our_tunnels(ctx, alias: str) -> list[int]:
    """Pids of every ``ssh -N … alias`` of this user, whoever started them."""
    result = ctx.run(["ps", "-ww", "-U", str(os.getuid()), "-o", "pid=,args="], timeout=5)  # -ww: never cut args
    pids = []
    for line in result.stdout.splitlines():
        pid, _sep, args = line.strip().partition(" ")
        if not pid.isdigit() or alias not in args.split():
            continue
        exact = _ports.process_args(int(pid)) if os.path.exists("/proc") else ()  # ps joins args with blanks
        if _ssh.is_tunnel(ctx, _ports.Owner(int(pid), "", exact or tuple(args.split())), alias):
            pids.append(int(pid))
    return pids


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
    """Our own child (a ``subprocess.Popen``): stopped as ``kill`` stops any pid, then reaped."""
    kill(process.pid)
    process.wait(STOP_TIMEOUT)


def kill(pid: int) -> None:
    """SIGTERM, then SIGKILL after KILL_GRACE: ssh -N can sleep through SIGTERM in poll() for minutes."""
    import signal

    try:
        os.kill(pid, signal.SIGTERM)
        if not _ports.wait_for(lambda: not _alive(pid), KILL_GRACE):
            os.kill(pid, signal.SIGKILL)
        _ports.wait_for(lambda: not _alive(pid), STOP_TIMEOUT)
    except ProcessLookupError:
        pass


PROC = Path("/proc")  # Linux only: macOS has none (the tests point this elsewhere to take the macOS path)


def _alive(pid: int) -> bool:
    """Running, and not a zombie: a dead process holds no port. Our own children (the detached
    ssh this run started) are reaped here; without that, on macOS, where nothing else reaps them,
    a killed one stays a zombie that ``kill(pid, 0)`` still finds, and every wait for it to go
    runs to its timeout."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # it was our child, it had exited: reaped now
    except ChildProcessError:
        pass  # not our child (or reaped already): ask the system
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Someone else's exited child whose parent has not reaped it yet: /proc where it exists,
    else ``ps -o stat=`` (BSD and procps both print Z first for a zombie; nothing for no process)."""
    from wizard import runner

    stat_file = PROC / str(pid) / "stat"
    if PROC.is_dir():
        try:
            return stat_file.read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return False
    result = runner.run(["ps", "-o", "stat=", "-p", str(pid)], timeout=5)
    if result.returncode not in (0, 1):  # no ps, or no answer: say nothing about it
        return False
    words = result.stdout.strip()
    return words == "" or words.startswith("Z")  # "": gone between kill(0) and ps (exit 1)


@dataclass(eq=False, repr=False)
class StartTunnel(Action):
    """A detached ``ssh -N``, reported up only once the Gateway answers through it."""

    alias: str
    local_port: int
    remote_port: int

    def describe(self, ctx):
        return ("$ " + shlex.join(tunnel_argv(ctx, self.alias)) + " &    # "
                + _("then waits (up to {s:g} s) until port {port} answers and the Gateway responds").format(
                    s=READY_TIMEOUT, port=self.local_port) + "\n")

    def perform(self, ctx):
        log = detached_log(ctx)
        ctx.make_dir(log.parent)
        offset = log.stat().st_size if log.exists() else 0
        started = time.monotonic()
        process = spawn_detached(tunnel_argv(ctx, self.alias), log_path=log, env=_ssh.child_env(ctx), owner=ctx.owner)
        ctx.remember(pid=process.pid, log=str(log))
        try:
            with ctx.ui.waiting(_("waiting for the tunnel on 127.0.0.1:{port} and the Gateway behind it "
                                  "(up to {s:g} s)…").format(port=self.local_port, s=READY_TIMEOUT)):
                result = self._wait_ready(ctx, process, log, offset)
        except BaseException:
            stop_process(process)
            ctx.remember(pid=None)
            raise
        # The probe's own words ("gateway 2026.1 accepted the token"), never its internal code.
        ctx.ui.say("  " + _("tunnel ready in {ms} ms (pid {pid}): {what}").format(
            ms=round((time.monotonic() - started) * 1000), pid=process.pid, what=ctx.mask(result.detail)))

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
                    ctx.ui.warn(
                        _("the tunnel works, but the Gateway rejected the token ({code})").format(code=result.code)
                    )
                    return result
                if result.kind != _gateway.STARTING:
                    raise StepFailed(explain_gateway(result, self.remote_port),
                                     kept=_("The ssh it started was stopped."))
                time.sleep(0.2)
                continue
            time.sleep(0.005)  # one refused connect() a look: seeing the port open ~10 ms sooner costs nothing
        raise StepFailed(_("the tunnel was not ready after {s:g} s").format(s=READY_TIMEOUT),
                         kept=_("The ssh it started was stopped."))


@dataclass(eq=False, repr=False)
class WaitForTunnel(Action):
    """Wait until an ssh tunnel for ``alias`` holds ``port`` and the Gateway answers through it."""

    alias: str
    port: int
    log: str

    def describe(self, ctx):
        return _("wait (up to {s:g} s) until port {port} answers through the agent's ssh").format(
            s=AGENT_READY_TIMEOUT, port=self.port) + "\n"

    def perform(self, ctx):
        started = time.monotonic()
        token = _keyring.token_for_probe(ctx, self.alias)
        held = lambda: _ssh.is_tunnel(ctx, _ports.owner(self.port), self.alias)  # noqa: E731
        with ctx.ui.waiting(_("waiting for the service manager's tunnel on port {port} (up to {s:g} s)…").format(
                port=self.port, s=AGENT_READY_TIMEOUT)):
            if not _ports.wait_for(held, AGENT_READY_TIMEOUT, interval=0.05):
                raise StepFailed(_("the agent's tunnel did not open port {port} within {s:g} s; see {log}").format(
                    port=self.port, s=AGENT_READY_TIMEOUT, log=self.log))
            result = self._probe(token, started)
        if not (result.ok or result.kind == _gateway.TOKEN_REJECTED):
            raise StepFailed(_("the agent's tunnel is up but the Gateway does not answer: {detail}").format(
                detail=result.detail))
        ctx.ui.say("  " + _("the service manager's tunnel answers ({ms} ms)").format(
            ms=round((time.monotonic() - started) * 1000)))

    def _probe(self, token, started: float) -> _gateway.GatewayResult:
        """The Gateway through the new tunnel, tried for a few seconds (a loaded machine's fresh ssh
        may hold the port a moment before its forward answers), within what is left of the bound."""
        deadline = started + AGENT_READY_TIMEOUT
        retry_until = min(deadline, time.monotonic() + PROBE_RETRY)
        while True:
            result = _gateway.probe(self.port, token, timeout=min(3.0, max(0.5, deadline - time.monotonic())))
            if result.ok or result.kind == _gateway.TOKEN_REJECTED or time.monotonic() >= retry_until:
                return result
            time.sleep(0.2)


@dataclass(eq=False, repr=False)
class StopProcess(Action):
    """Stop one ssh of ours that holds the port (a detached or orphaned tunnel)."""

    pid: int
    port: int
    alias: str

    def describe(self, ctx):
        return (
            _("stop the ssh tunnel with pid {pid} (it holds port {port})").format(pid=self.pid, port=self.port) + "\n"
        )

    def perform(self, ctx):
        holder = _ports.owner(self.port, likely=(self.pid,))
        if holder is None or holder.pid != self.pid or not _ssh.is_tunnel(ctx, holder, self.alias):
            return  # gone since it was planned (the pid may even be someone else's now)
        with ctx.ui.waiting(_("stopping the ssh tunnel {pids} (up to {s:g} s)…").format(
                pids=self.pid, s=KILL_GRACE + 2 * STOP_TIMEOUT)):
            kill(self.pid)
            freed = _ports.wait_for(lambda: _ports.owner(self.port, likely=(self.pid,)) is None, STOP_TIMEOUT)
        if not freed:
            raise StepFailed(
                _("port {port} is still held after stopping pid {pid}").format(port=self.port, pid=self.pid)
            )


@dataclass(eq=False, repr=False)
class StopTunnels(Action):
    """Stop every ``ssh -N … alias`` of ours (found when it runs, not when planned)."""

    alias: str

    def describe(self, ctx):
        pids = our_tunnels(ctx, self.alias)
        return _("stop every ssh tunnel for {alias} (now: {pids})").format(
            alias=self.alias, pids=", ".join(map(str, pids)) or _("none")) + "\n"

    def perform(self, ctx):
        pids = our_tunnels(ctx, self.alias)
        if pids:
            with ctx.ui.waiting(_("stopping the ssh tunnel {pids} (up to {s:g} s)…").format(
                    pids=", ".join(map(str, pids)), s=len(pids) * (KILL_GRACE + STOP_TIMEOUT))):
                for pid in pids:
                    kill(pid)
        if ctx.step_name == "tunnel" and ctx.record:  # never make a record for a step that never ran
            ctx.remember(pid=None)


def _agent_path(ctx, manager: str):
    name = label(ctx)
    return _launchd.plist_path(ctx, name) if manager == LAUNCHD else unit_path(ctx, name)


def agent_log(ctx, manager: str) -> str:
    if manager == LAUNCHD:
        return str(_launchd.log_path(ctx, label(ctx)))
    if manager == SYSTEMD:
        return f"journalctl --user -u {unit_name(label(ctx))}"
    return str(detached_log(ctx))


def start_actions(ctx, alias: str, port: int, remote_port: int, restart: bool = False) -> list[Action]:
    """Start (or restart) the tunnel under whoever is meant to run it, then wait until it answers."""
    manager = installed_manager(ctx)
    wait = WaitForTunnel(alias, port, agent_log(ctx, manager))
    if manager == LAUNCHD:
        name = label(ctx)
        if not _launchd.loaded_pid(ctx, name)[0]:
            return [_launchd.bootstrap(_agent_path(ctx, manager)), wait]
        # kickstart -k: kill the running job and start it again, ignoring ThrottleInterval.
        argv = ["launchctl", "kickstart", *(["-k"] if restart else []), f"{_launchd.domain()}/{name}"]
        return [Run(argv, why=_("restart now") if restart else _("start now")), wait]
    if manager == SYSTEMD and not systemd_unreachable(ctx):
        verb = "restart" if restart else "start"
        return [Run(["systemctl", "--user", verb, unit_name(label(ctx))]), wait]
    # Nobody else can run it (or no user manager answers now): a detached ssh, as the tunnel step starts.
    return ([StopTunnels(alias)] if restart else []) + [StartTunnel(alias, port, remote_port)]


def stop_actions(ctx, alias: str) -> list[Action]:
    """Stop the tunnel: unload the agent (it would start it again), then any ssh of ours left."""
    manager = installed_manager(ctx)
    actions: list[Action] = []
    if manager == LAUNCHD and _launchd.loaded_pid(ctx, label(ctx))[0]:
        actions.append(_launchd.bootout(label(ctx)))
    elif manager == SYSTEMD:
        actions.append(Run(["systemctl", "--user", "stop", unit_name(label(ctx))]))
    return actions + [StopTunnels(alias)]


def recent_log(ctx, lines: int) -> tuple[str, str]:
    """(where, text): the last ``lines`` lines the tunnel's ssh wrote."""
    manager = installed_manager(ctx)
    if manager == SYSTEMD:
        unit = unit_name(label(ctx))
        result = ctx.run(["journalctl", "--user", "-u", unit, "-n", str(lines), "--no-pager"], timeout=10)
        if not result.ok:
            raise StepFailed(_("journalctl could not show {unit}: {why}").format(unit=unit, why=result.stderr.strip()))
        return agent_log(ctx, manager), result.stdout
    path = agent_log(ctx, manager)
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 256 * 1024))  # the tail is enough, even of a huge log
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return path, ""
    return path, "".join(text.splitlines(keepends=True)[-lines:])
