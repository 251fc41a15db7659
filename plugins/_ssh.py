"""How the built-in steps call OpenSSH: the config path, and explicit paths when the
wizard's home is not the one ssh would use (ssh expands ``~`` from passwd, not $HOME)."""

from __future__ import annotations

from pathlib import Path

from wizard.i18n import _


def config_path(ctx) -> Path:
    return ctx.path(".ssh", "config")


def isolation_options(ctx) -> list[str]:
    """``-F`` and known-hosts options, only when the home is not ssh's own."""
    if ctx.real_home:
        return []
    return ["-F", str(config_path(ctx)),
            "-o", f"UserKnownHostsFile={ctx.path('.ssh', 'known_hosts')}"]


def ssh_command(ctx, *args: str) -> list[str]:
    return ["ssh", *isolation_options(ctx), *args]


# Every ssh through the alias except the tunnel itself: the alias's LocalForward would
# otherwise try to bind the tunnel's port and, with ExitOnForwardFailure, fail.
NO_FORWARDS = ("-o", "ClearAllForwardings=yes")
# A probe must not rewrite known_hosts (OpenSSH's default UpdateHostKeys may).
NO_HOSTKEY_UPDATES = ("-o", "UpdateHostKeys=no")


def effective_config(ctx, alias: str, config_file: Path | None = None) -> dict[str, list[str]]:
    """What ``ssh -G`` says ssh would use for ``alias`` (keys lowercase, values in order)."""
    if config_file is not None:
        argv = ["ssh", "-G", "-F", str(config_file), alias]
    else:
        argv = ssh_command(ctx, "-G", alias)
    result = ctx.run(argv, timeout=10)
    if not result.ok:
        from wizard import StepFailed

        raise StepFailed(_("ssh -G {alias} rejected the ssh config: {why}").format(
            alias=alias, why=result.stderr.strip()))
    values: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _sep, value = line.partition(" ")
        values.setdefault(key.lower(), []).append(value)
    return values


def child_env(ctx) -> dict[str, str]:
    """Environment for ssh children: HOME is the wizard's home (ssh-copy-id writes there)."""
    env = dict(ctx.env)
    env["HOME"] = str(ctx.home)
    return env


# What ssh prints, mapped to a plain explanation (field notes: OpenSSH prompt strings).
FAILURES = [
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", "hostkey-changed",
     _("the remote host's key has CHANGED since you last connected. That can mean someone is "
       "intercepting the connection, or the machine was reinstalled. Check with the remote "
       "machine's administrator; if it is expected, remove the old key with "
       "'ssh-keygen -R HOST' yourself. Nothing was changed.")),
    ("Host key verification failed", "hostkey-unknown",
     _("the remote host's key is not known yet (it is confirmed when the key is copied)")),
    ("Connection refused", "refused",
     _("the remote machine refused the connection: no ssh server listens on that port "
       "(check the host and ssh port you gave, --host and --port, and that sshd runs there)")),
    ("Could not resolve hostname", "dns",
     _("the host name could not be resolved (DNS): check the spelling of the host you gave (--host)")),
    ("Name or service not known", "dns",
     _("the host name could not be resolved (DNS): check the spelling of the host you gave (--host)")),
    ("No route to host", "no-route",
     _("no route to the remote machine: is it on, and on a network you can reach (VPN)?")),
    ("Network is unreachable", "no-route",
     _("no route to the remote machine: is it on, and on a network you can reach (VPN)?")),
    ("timed out", "timeout",
     _("the connection timed out: the machine does not answer (firewall, wrong address, asleep?)")),
    ("Permission denied", "denied", _("the remote machine refused the key")),
]


def explain(output: str) -> tuple[str, str]:
    """(kind, explanation) for ssh's error output; ("other", last line) when unknown."""
    for needle, kind, text in FAILURES:
        if needle in output:
            return kind, text
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return "other", lines[-1] if lines else _("ssh failed without a message")


LOGIN_GRACE = 5.0  # after connecting: the key exchange and running `true`


def key_login_bound(timeout: float = 10.0) -> float:
    """How long ``key_login(ctx, alias, timeout)`` can take at most."""
    return timeout + LOGIN_GRACE


def key_login(ctx, alias: str, timeout: float = 10.0) -> tuple[bool, str, str]:
    """Does key login work without any prompt? (ok, kind, explanation). ``timeout`` bounds the
    connection; the whole probe ends within ``key_login_bound(timeout)``."""
    argv = ssh_command(ctx, *NO_FORWARDS, *NO_HOSTKEY_UPDATES, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(timeout)}",
                       alias, "true")
    result = ctx.run(argv, timeout=key_login_bound(timeout), env=child_env(ctx))
    if result.ok:
        return True, "ok", ""
    kind, text = explain(result.stderr)
    return False, kind, text


def alias_configured(ctx, alias: str) -> bool:
    """True when ssh config already maps ``alias`` somewhere (ssh -G echoes unknown names)."""
    result = ctx.run(ssh_command(ctx, "-G", alias), timeout=10)
    return result.ok and f"\nhostname {alias.lower()}\n" not in "\n" + result.stdout


def is_tunnel(owner, alias: str) -> bool:
    """Is this process (an ``_ports.Owner``) an ``ssh -N … alias``, whoever started it: us,
    launchd or systemd?"""
    args = owner.args if owner is not None else ()
    return bool(args) and args[0].rsplit("/", 1)[-1] == "ssh" and "-N" in args and alias in args
