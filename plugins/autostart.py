"""Step ``autostart``: the tunnel survives logins and crashes (the guide's LaunchAgent).

macOS: ``~/Library/LaunchAgents/<label>.plist`` (KeepAlive, RunAtLoad, a deliberate
ThrottleInterval so a down remote is no restart storm), loaded with ``launchctl bootstrap``.
Linux: a systemd user unit with ``Restart=always``. Either way the service manager takes
over from the detached ssh the ``tunnel`` step started, and exactly one ssh forwards the
port afterwards. Other OpenClaw tunnel agents would fight over the port: they are removed.
"""

from __future__ import annotations

from plugins import _common, _launchd, _ports, _ssh, _tunnel
from plugins._tunnel import StopProcess, WaitForTunnel, our_tunnels, unit_path
from wizard import Action, Check, Health, Question, RemoveFile, Run, Step, StepFailed, WriteFile, hookimpl
from wizard.i18n import _

LEGACY = "com.openclaw.ssh-tunnel"  # removed without asking, as the guide says
OTHER_AGENTS = ("ai.openclaw.ssh-tunnel", "bot.molt.ssh-tunnel")  # removed after asking
THROTTLE_SECONDS = 30  # one restart per 30 s while the remote is down: no restart storm

def tunnel_label(text: str) -> str:
    """A label for the tunnel agent (also the systemd unit's name): reverse-DNS characters, a sane
    length, and none that is already someone else's job (our token agent, OpenClaw's own agents)."""
    value = _common.label(text)
    if len(value) > _launchd.MAX_LABEL:
        raise ValueError(_("label is longer than {n} characters").format(n=_launchd.MAX_LABEL))
    taken = value in (_launchd.TOKEN_PUSH_LABEL, *_launchd.OPENCLAW_LABELS)
    if taken or (value.startswith("ai.openclaw.") and value not in OTHER_AGENTS):
        raise ValueError(_("label {value} belongs to another agent (openclaw-remote's token agent, or OpenClaw's "
                           "app or gateway): choose another, like bot.molt.ssh-tunnel").format(value=value))
    return value


LABEL = Question("label", _("Name of the tunnel agent (launchd label on macOS, systemd unit on Linux)"),
                 default="bot.molt.ssh-tunnel",
                 validate=tunnel_label)
REMOVE_OTHERS = Question(
    "remove_other_agents",
    _("Remove the other OpenClaw tunnel agents (they fight over the port)?"),
    confirm=True,
    upfront=False,
    help=_("with --yes: remove other OpenClaw tunnel agents than --label"),
)


def tunnel_program(ctx, alias: str) -> list[str]:
    # Apple's ssh, the one the tunnel step runs on a Mac, from its absolute path (launchd's PATH is
    # minimal; the systemd unit names it the same way).
    return [_ssh.APPLE_SSH, *_ssh.isolation_options(ctx), "-N", "-o", "BatchMode=yes", alias]


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


def systemd_quote(arg: str) -> str:
    """One ExecStart argument as systemd reads it back: double-quoted with C escapes, ``%%`` for
    a literal ``%`` (systemd's specifiers) and ``$$`` for a literal ``$`` (its variables)."""
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return escaped if escaped == arg and arg and not any(c.isspace() or c in "'\\;" for c in arg) else f'"{escaped}"'


def unit_text(ctx, alias: str) -> str:
    return (
        "[Unit]\n"
        f"Description=SSH tunnel to the OpenClaw Gateway ({alias}), set up by openclaw-remote\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        f"ExecStart={' '.join(map(systemd_quote, tunnel_program(ctx, alias)))}\n"
        "Restart=always\n"
        f"RestartSec={THROTTLE_SECONDS}\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


class Autostart(Step):
    name = "autostart"
    title = _("start the tunnel at login and restart it if it dies")
    after = ("tunnel", "app-restart")
    questions = (_common.ALIAS, _common.LOCAL_PORT, LABEL, REMOVE_OTHERS)

    def preflight(self, ctx):
        label = ctx.answer("label")
        if ctx.platform == "darwin":
            _common.check_editable(_launchd.plist_path(ctx, label))
            launch_agent(ctx, label, ctx.answer("alias"))  # a home that ssh could not be told: refused now
            _launchd.check_ours(_launchd.plist_path(ctx, label), label)
            import shutil  # here: `steps` on Linux need not import it

            if shutil.which("launchctl", path=ctx.env.get("PATH")) is None:
                raise StepFailed(_("launchctl is not on PATH, so no LaunchAgent can be loaded"))
            _launchd.require_gui_session(ctx)
            return
        _common.check_editable(unit_path(ctx, label))
        unit_text(ctx, ctx.answer("alias"))  # a home that ssh or systemd could not be told: refused now
        why = _tunnel.systemd_unreachable(ctx)
        if why:
            raise StepFailed(_("no systemd user manager to run the tunnel ({why}). Log in to a session that has one "
                               "(or run 'loginctl enable-linger' for your user), or leave this step out for now: "
                               "'openclaw-remote run ssh-config ssh-key tunnel' keeps a tunnel running until you "
                               "log out").format(why=why))

    def plan(self, ctx):
        if ctx.platform == "darwin":
            return self._plan_launchd(ctx)
        return self._plan_systemd(ctx)

    # macOS ------------------------------------------------------------------------------
    def _plan_launchd(self, ctx):
        alias, port, label = ctx.answer("alias"), ctx.answer("local_port"), ctx.answer("label")
        actions, leaving = self._leftovers(ctx, label)
        path = _launchd.plist_path(ctx, label)
        job = launch_agent(ctx, label, alias)
        changed = _launchd.existing(path) != job
        loaded, job_pid = _launchd.loaded_pid(ctx, label)
        detached = self._detached_holder(ctx, alias, port, job_pid, leaving)
        actions += _launchd.write_plist(path, job)
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

    def _leftovers(self, ctx, label: str) -> tuple[list[Action], set[int]]:
        """Unload and remove the other OpenClaw tunnel agents; also the pids of the ssh they run
        (the guide's own tunnel among them), which their bootout stops."""
        actions: list[Action] = []
        leaving: set[int] = set()
        for other in (LEGACY, *OTHER_AGENTS):
            if other == label:
                continue
            other_path = _launchd.plist_path(ctx, other)
            loaded, pid = _launchd.loaded_pid(ctx, other)
            if not loaded and not other_path.exists():
                continue
            if other != LEGACY and not self._may_remove(ctx, other):
                raise StepFailed(
                    _(
                        "another OpenClaw tunnel agent, {other}, would fight over the port; remove it "
                        "(pass --remove-other-agents with --yes) or use --label {other}"
                    ).format(other=other),
                    kept=_("Nothing was changed."),
                )
            if loaded:
                actions.append(_launchd.bootout(other))
                leaving.update([pid] if pid else [])
            if other_path.exists():
                actions.append(RemoveFile(other_path))
        return actions, leaving

    @staticmethod
    def _may_remove(ctx, other: str) -> bool:
        ctx.ui.warn(_("found another OpenClaw tunnel agent: {other}").format(other=other))
        return bool(ctx.answer("remove_other_agents"))

    @staticmethod
    def _detached_holder(ctx, alias: str, port: int, manager_pid: int | None,
                         leaving: set[int] = frozenset()) -> list[Action]:
        holder = _ports.owner(port, likely=(manager_pid,) if manager_pid else ())
        if holder is None or holder.pid == manager_pid or holder.pid in leaving:
            return []
        if not _ssh.is_tunnel(ctx, holder, alias):
            raise StepFailed(_("local port {port} is taken by {owner}, which openclaw-remote did not start; the "
                               "agent's ssh could not bind it: stop it, then re-run").format(
                port=port, owner=holder.describe()), kept=_("Nothing was changed."))
        return [StopProcess(holder.pid, port, alias)]

    # Linux ------------------------------------------------------------------------------
    def _plan_systemd(self, ctx):
        alias, port, label = ctx.answer("alias"), ctx.answer("local_port"), ctx.answer("label")
        unit = f"{label}.service"
        path = unit_path(ctx, label)
        text = unit_text(ctx, alias)
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        active = _tunnel.unit_state(ctx, unit) == "active"
        main_pid = _tunnel.systemd_pid(ctx, unit) if active else None
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

    # both -------------------------------------------------------------------------------
    def verify(self, ctx):
        alias = ctx.answer("alias")
        tunnels = our_tunnels(ctx, alias)
        if len(tunnels) != 1:
            raise StepFailed(_("expected exactly one ssh tunnel for {alias}, found {n} (pids {pids})").format(
                alias=alias, n=len(tunnels), pids=", ".join(map(str, tunnels)) or "-"))

    def undo(self, ctx):
        label = ctx.answer("label")
        if ctx.platform != "darwin":
            path = unit_path(ctx, label)
            actions: list[Action] = []
            if path.exists():
                unit = _tunnel.unit_name(label)
                actions += [Run(["systemctl", "--user", "disable", "--now", unit], why=_("stop the tunnel it runs")),
                            _put_back_or_remove(ctx, path, unit_text(ctx, ctx.answer("alias"))),
                            Run(["systemctl", "--user", "daemon-reload"])]
            return actions
        path = _launchd.plist_path(ctx, label)
        actions = []
        if _launchd.loaded_pid(ctx, label)[0]:
            actions.append(_launchd.bootout(label))  # stops the tunnel it runs
        if path.exists():
            actions.append(
                _put_back_or_remove(ctx, path, _launchd.render(launch_agent(ctx, label, ctx.answer("alias"))))
            )
        log = _launchd.log_path(ctx, label)
        if log.exists():
            actions.append(RemoveFile(log, backup=False))
        return actions


def _put_back_or_remove(ctx, path, ours: str) -> Action:
    """The agent file goes; if it replaced one the user had (the guide's own plist), that one
    comes back, not loaded. A file edited since setup keeps a backup."""
    original = ctx.replaced_original(path)
    if original is not None:
        ctx.ui.say("  " + _("{path} is put back as it was before setup (not loaded)").format(path=path))
        return WriteFile(path, original.read_bytes(), mode=0o644, backup=path.read_text(errors="replace") != ours)
    return RemoveFile(path, backup=path.read_text(errors="replace") != ours)


@hookimpl
def register_steps(register):
    register(Autostart())


class AgentCheck(Check):
    name, step = "autostart-agent", "autostart"
    title = _("autostart agent")

    def run(self, ctx):
        label = ctx.answer("label")
        missing = _("The agent that starts the tunnel at login and restarts it when it dies is not installed: "
                    "the tunnel will not survive a logout or a crash. The fix installs and loads it.")
        if ctx.platform != "darwin":
            unit = _tunnel.unit_name(label)
            if not unit_path(ctx, label).exists():
                return Health("fail", _("no systemd user unit {unit}").format(unit=unit), advice=missing)
            state = _tunnel.unit_state(ctx, unit, timeout=5) or "unknown"
            return Health("ok" if state == "active" else "fail", _("{unit} is {state}").format(unit=unit, state=state),
                          advice=_("The unit is installed but does not run. The fix starts it."))
        path = _launchd.plist_path(ctx, label)
        if not path.exists():
            return Health("fail", _("no agent plist {path}").format(path=path), advice=missing)
        loaded, pid = _launchd.loaded_pid(ctx, label)
        if not loaded:
            return Health("fail", _("{label} is present but not loaded").format(label=label),
                          advice=_("The agent is installed but launchd has not loaded it (it was booted out, or it "
                                   "failed to load at login), so nothing restarts the tunnel. The fix loads it with "
                                   "launchctl bootstrap."))
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
            actions = []
            for other in found:
                if _launchd.loaded_pid(ctx, other)[0]:
                    actions.append(_launchd.bootout(other))
                if _launchd.plist_path(ctx, other).exists():
                    actions.append(RemoveFile(_launchd.plist_path(ctx, other)))  # a backup is kept: not ours
            return Health("fail", _("would fight over the port: {labels}").format(labels=", ".join(found)),
                          {"labels": found},
                          advice=_("Other OpenClaw tunnel agents forward the same port: the agents take turns failing "
                                   "with 'Address already in use'. The fix unloads and removes them (a backup of each "
                                   "plist is kept)."),
                          actions=tuple(actions), rerun=())
        return Health("ok", _("none"))


@hookimpl
def register_checks(register):
    register(AgentCheck())
    register(LeftoverAgentsCheck())
