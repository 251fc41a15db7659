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
