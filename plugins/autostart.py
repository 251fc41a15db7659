"""Step ``autostart``: the tunnel survives logins and crashes (the guide's LaunchAgent).

macOS: ``~/Library/LaunchAgents/<label>.plist`` (KeepAlive, RunAtLoad, a deliberate
ThrottleInterval so a down remote is no restart storm), loaded with ``launchctl bootstrap``.
Linux: a systemd user unit with ``Restart=always``. Either way the service manager takes
over from the detached ssh the ``tunnel`` step started, and exactly one ssh forwards the
port afterwards. Other OpenClaw tunnel agents would fight over the port: they are removed.
"""

from __future__ import annotations

import os
import shlex
import signal
import time
from dataclasses import dataclass

from plugins import _common, _gateway, _keyring, _launchd, _ports, _ssh
from wizard import Action, Check, Health, Question, RemoveFile, Run, Step, StepFailed, WriteFile, hookimpl
from wizard.i18n import _

LEGACY = "com.openclaw.ssh-tunnel"  # removed without asking, as the guide says
OTHER_AGENTS = ("ai.openclaw.ssh-tunnel", "bot.molt.ssh-tunnel")  # removed after asking
THROTTLE_SECONDS = 30  # one restart per 30 s while the remote is down: no restart storm
READY_TIMEOUT = 30.0

LABEL = Question("label", _("Name (launchd label) of the tunnel agent"), default="bot.molt.ssh-tunnel",
                 validate=_common.label)
REMOVE_OTHERS = Question("remove_other_agents", _("Remove the other OpenClaw tunnel agents (they fight over the port)?"),
                         confirm=True, upfront=False,
                         help=_("with --yes: remove other OpenClaw tunnel agents than --label"))


def tunnel_program(ctx, alias: str) -> list[str]:
    # Same ssh as the tunnel step, from its absolute path (launchd's PATH is minimal).
    return ["/usr/bin/ssh", *_ssh.isolation_options(ctx), "-N", "-o", "BatchMode=yes", alias]


def launch_agent(ctx, label: str, alias: str) -> dict:
    log = str(_launchd.log_path(ctx, label))
    return {
        "Label": label,
        "ProgramArguments": tunnel_program(ctx, alias),
        "KeepAlive": True,
        "RunAtLoad": True,
        "ThrottleInterval": THROTTLE_SECONDS,
        "StandardOutPath": log,
        "StandardErrorPath": log,
    }


def unit_path(ctx, label: str):
    return ctx.path(".config", "systemd", "user", f"{label}.service")


def unit_text(ctx, alias: str) -> str:
    return (
        "[Unit]\n"
        f"Description=SSH tunnel to the OpenClaw Gateway ({alias}), set up by openclaw-remote\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        f"ExecStart={shlex.join(tunnel_program(ctx, alias))}\n"
        "Restart=always\n"
        f"RestartSec={THROTTLE_SECONDS}\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def our_tunnels(ctx, alias: str) -> list[int]:
    """Pids of every ``ssh -N … alias`` of this user."""
    result = ctx.run(["ps", "-ww", "-U", str(os.getuid()), "-o", "pid=,args="], timeout=5)  # -ww: never cut args
    pids = []
    for line in result.stdout.splitlines():
        pid, _sep, args = line.strip().partition(" ")
        if pid.isdigit() and _ssh.is_tunnel(_ports.Owner(int(pid), "", tuple(args.split())), alias):
            pids.append(int(pid))
    return pids


@dataclass
class StopDetached(Action):
    pid: int
    port: int

    def describe(self, ctx):
        return _("stop the detached ssh (pid {pid}) so that the service manager owns the tunnel").format(pid=self.pid) + "\n"

    def perform(self, ctx):
        try:
            os.kill(self.pid, signal.SIGTERM)
            if not _ports.wait_for(lambda: _ports.owner(self.port, likely=(self.pid,)) is None, 1.0):
                os.kill(self.pid, signal.SIGKILL)  # ssh can sleep through SIGTERM
        except ProcessLookupError:
            pass
        if not _ports.wait_for(lambda: _ports.owner(self.port) is None, 5.0):
            raise StepFailed(_("port {port} is still held after stopping pid {pid}").format(port=self.port, pid=self.pid))


@dataclass
class WaitForTunnel(Action):
    alias: str
    port: int
    log: str

    def describe(self, ctx):
        return _("wait until port {port} answers through the agent's ssh").format(port=self.port) + "\n"

    def perform(self, ctx):
        started = time.monotonic()
        token = _keyring.token_for_probe(ctx, self.alias)
        held = lambda: _ssh.is_tunnel(_ports.owner(self.port), self.alias)  # noqa: E731
        if not _ports.wait_for(held, READY_TIMEOUT, interval=0.05):
            raise StepFailed(_("the agent's tunnel did not open port {port} within {s:g} s; see {log}").format(
                port=self.port, s=READY_TIMEOUT, log=self.log))
        result = _gateway.probe(self.port, token)
        if not (result.ok or result.kind == _gateway.TOKEN_REJECTED):
            raise StepFailed(_("the agent's tunnel is up but the Gateway does not answer: {detail}").format(
                detail=result.detail))
        ctx.ui.say("  " + _("the service manager's tunnel answers ({ms} ms)").format(
            ms=round((time.monotonic() - started) * 1000)))


class Autostart(Step):
    name = "autostart"
    title = _("start the tunnel at login and restart it if it dies")
    after = ("tunnel", "app-restart")
    questions = (_common.ALIAS, _common.LOCAL_PORT, LABEL, REMOVE_OTHERS)

    def plan(self, ctx):
        if ctx.platform == "darwin":
            return self._plan_launchd(ctx)
        return self._plan_systemd(ctx)

    # macOS ------------------------------------------------------------------------------
    def _plan_launchd(self, ctx):
        alias, port, label = ctx.answer("alias"), ctx.answer("local_port"), ctx.answer("label")
        actions = self._leftovers(ctx, label)
        path = _launchd.plist_path(ctx, label)
        job = launch_agent(ctx, label, alias)
        changed = _launchd.existing(path) != job
        loaded, job_pid = _launchd.loaded_pid(ctx, label)
        detached = self._detached_holder(ctx, alias, port, job_pid)
        if changed:
            actions.append(WriteFile(path, _launchd.render(job), mode=0o644, dir_mode=0o755))
        actions += detached
        idle = loaded and not detached and _ports.owner(port, likely=(job_pid,) if job_pid else ()) is None
        if loaded and not changed and (detached or idle):
            # launchd's ssh could not bind while ours held the port, or it forwards an old port
            # (the ssh config changed under it): restart it now rather than in ThrottleInterval.
            actions.append(Run(["launchctl", "kickstart", "-k", f"{_launchd.domain()}/{label}"], why=_("restart now")))
        else:
            actions += _launchd.load_actions(ctx, label, path, changed)
        if actions:
            actions.append(WaitForTunnel(alias, port, str(_launchd.log_path(ctx, label))))
        return actions

    def _leftovers(self, ctx, label: str) -> list[Action]:
        actions: list[Action] = []
        for other in (LEGACY, *OTHER_AGENTS):
            if other == label:
                continue
            other_path = _launchd.plist_path(ctx, other)
            loaded, _pid = _launchd.loaded_pid(ctx, other)
            if not loaded and not other_path.exists():
                continue
            if other != LEGACY and not self._may_remove(ctx, other):
                raise StepFailed(_("another OpenClaw tunnel agent, {other}, would fight over the port; remove it "
                                   "(pass --remove-other-agents with --yes) or use --label {other}").format(other=other),
                                 kept=_("Nothing was changed."))
            if loaded:
                actions.append(_launchd.bootout(other))
            if other_path.exists():
                actions.append(RemoveFile(other_path))
        return actions

    @staticmethod
    def _may_remove(ctx, other: str) -> bool:
        ctx.ui.warn(_("found another OpenClaw tunnel agent: {other}").format(other=other))
        return bool(ctx.answer("remove_other_agents"))

    @staticmethod
    def _detached_holder(ctx, alias: str, port: int, manager_pid: int | None) -> list[Action]:
        holder = _ports.owner(port, likely=(manager_pid,) if manager_pid else ())
        if holder is None or holder.pid == manager_pid:
            return []
        if not _ssh.is_tunnel(holder, alias):
            raise StepFailed(_("local port {port} is taken by {owner}; the agent's ssh could not bind it").format(
                port=port, owner=holder.describe()), kept=_("Nothing was changed."))
        return [StopDetached(holder.pid, port)]

    # Linux ------------------------------------------------------------------------------
    def _plan_systemd(self, ctx):
        alias, port, label = ctx.answer("alias"), ctx.answer("local_port"), ctx.answer("label")
        unit = f"{label}.service"
        path = unit_path(ctx, label)
        text = unit_text(ctx, alias)
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        active = ctx.run(["systemctl", "--user", "is-active", unit], timeout=10).stdout.strip() == "active"
        main_pid = self._systemd_pid(ctx, unit) if active else None
        detached = self._detached_holder(ctx, alias, port, main_pid)
        actions: list[Action] = []
        if changed:
            actions.append(WriteFile(path, text, mode=0o644, dir_mode=0o755))
            actions.append(Run(["systemctl", "--user", "daemon-reload"]))
        actions += detached
        idle = active and not detached and _ports.owner(port, likely=(main_pid,) if main_pid else ()) is None
        if not active:
            actions.append(Run(["systemctl", "--user", "enable", "--now", unit]))
        elif changed or detached or idle:
            actions.append(Run(["systemctl", "--user", "restart", unit]))
        if actions:
            actions.append(WaitForTunnel(alias, port, f"journalctl --user -u {unit}"))
        return actions

    @staticmethod
    def _systemd_pid(ctx, unit: str) -> int | None:
        result = ctx.run(["systemctl", "--user", "show", "-p", "MainPID", "--value", unit], timeout=10)
        value = result.stdout.strip()
        return int(value) if value.isdigit() and value != "0" else None

    # both -------------------------------------------------------------------------------
    def verify(self, ctx):
        alias = ctx.answer("alias")
        tunnels = our_tunnels(ctx, alias)
        if len(tunnels) != 1:
            raise StepFailed(_("expected exactly one ssh tunnel for {alias}, found {n} (pids {pids})").format(
                alias=alias, n=len(tunnels), pids=", ".join(map(str, tunnels)) or "-"))


@hookimpl
def register_steps(register):
    register(Autostart())


class AgentCheck(Check):
    name, step = "autostart-agent", "autostart"
    title = _("autostart agent")

    def run(self, ctx):
        label = ctx.answer("label")
        if ctx.platform != "darwin":
            unit = f"{label}.service"
            if not unit_path(ctx, label).exists():
                return Health("fail", _("no systemd user unit {unit}").format(unit=unit))
            state = ctx.run(["systemctl", "--user", "is-active", unit], timeout=5).stdout.strip() or "unknown"
            return Health("ok" if state == "active" else "fail", _("{unit} is {state}").format(unit=unit, state=state))
        path = _launchd.plist_path(ctx, label)
        if not path.exists():
            return Health("fail", _("no agent plist {path}").format(path=path))
        loaded, pid = _launchd.loaded_pid(ctx, label)
        if not loaded:
            return Health("fail", _("{label} is present but not loaded").format(label=label))
        return Health("ok", _("{label} loaded, pid {pid}").format(label=label, pid=pid or "-"), {"pid": pid})


class LeftoverAgentsCheck(Check):
    name, step = "other-agents", "autostart"
    title = _("other OpenClaw tunnel agents")

    def run(self, ctx):
        if ctx.platform != "darwin":
            return Health("ok", _("not applicable on this platform"))
        label = ctx.answer("label")
        found = [other for other in (LEGACY, *OTHER_AGENTS) if other != label and (
            _launchd.plist_path(ctx, other).exists() or _launchd.loaded_pid(ctx, other)[0])]
        if found:
            return Health("fail", _("would fight over the port: {labels}").format(labels=", ".join(found)),
                          {"labels": found})
        return Health("ok", _("none"))


@hookimpl
def register_checks(register):
    register(AgentCheck())
    register(LeftoverAgentsCheck())
