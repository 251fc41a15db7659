"""How the built-in steps call OpenSSH: the config path, and explicit paths when the
wizard's home is not the one ssh would use (ssh expands ``~`` from passwd, not $HOME)."""

from __future__ import annotations

import os
import weakref
from pathlib import Path

from plugins._common import answer_known
from wizard import StepFailed, files
from wizard.i18n import _


def config_path(ctx) -> Path:
    return ctx.path(".ssh", "config")


def config_arg(value: str) -> str:
    """``value`` as one argument in ssh_config (a config line, or ``-o KEY=VALUE``), which ssh
    reads back as exactly ``value``: ``%`` doubled (ssh expands ``%d``, ``%u``… in paths), quoted
    with ``\\``-escapes when it holds a blank, a quote, ``#`` or a backslash. What ssh cannot be
    told literally is refused (UsageError): ``${`` (ssh expands environment variables and has no
    escape for them) and control characters (a newline would start a new option)."""
    from wizard import UsageError

    if "${" in value:
        raise UsageError(_("{value!r} cannot go into an ssh option: ssh would expand '${{…}}' in it, and has no "
                           "way to escape it").format(value=value))
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise UsageError(_("{value!r} cannot go into an ssh option: it contains a control character").format(
            value=value))
    value = value.replace("%", "%%")
    if value and not any(char in value for char in " \t\"'\\#"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def isolation_options(ctx) -> list[str]:
    """``-F`` and known-hosts options, only when the home is not ssh's own. ``-F`` takes a plain
    path; an ``-o`` value is parsed like a config line, so it is quoted like one."""
    if ctx.real_home:
        return []
    return ["-F", str(config_path(ctx)),
            "-o", f"UserKnownHostsFile={config_arg(str(ctx.path('.ssh', 'known_hosts')))}"]


APPLE_SSH = "/usr/bin/ssh"  # what a LaunchAgent runs: launchd gives it PATH /usr/bin:/bin:/usr/sbin:/sbin


def program() -> str:
    """The ssh every probe, ``ssh -G``, the detached tunnel and the login agent run. On a Mac,
    Apple's own ``/usr/bin/ssh``: what is verified is then what launchd runs (a Homebrew ssh
    earlier on PATH reads the same config differently and rejects Apple's ``UseKeychain``).
    Elsewhere ``ssh`` from PATH. Decided by the real OS, not OPENCLAW_REMOTE_PLATFORM: the
    Linux tests that play macOS keep running the ssh their PATH names."""
    import sys

    return APPLE_SSH if sys.platform == "darwin" else "ssh"


def ssh_command(ctx, *args: str) -> list[str]:
    return [program(), *isolation_options(ctx), *args]


# Every ssh through the alias except the tunnel itself: the alias's LocalForward would
# otherwise try to bind the tunnel's port and, with ExitOnForwardFailure, fail.
NO_FORWARDS = ("-o", "ClearAllForwardings=yes")
# A probe must not rewrite known_hosts (OpenSSH's default UpdateHostKeys may).
NO_HOSTKEY_UPDATES = ("-o", "UpdateHostKeys=no")


# ctx -> {(argv, the state of the config files it reads): ssh -G's result}, for one run
_ssh_g_answers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def ssh_g(ctx, argv: list[str]):
    """``ctx.run(argv)`` for an ``ssh -G`` command, run once per run while the config files it
    reads are as they were: ssh-config's check, the key login's alias check and ssh-config's
    verification ask the same, and the first two come before the login starts."""
    configs = [config_path(ctx), *(Path(value) for value in _option_values(tuple(argv[1:]), "-F"))]
    key = (tuple(argv), tuple(files.identity(path) for path in configs))
    try:
        answers = _ssh_g_answers.setdefault(ctx, {})
    except TypeError:  # a context that cannot be weakly referenced (a test's namespace): asked every time
        return ctx.run(argv, timeout=10)
    if key not in answers:
        answers[key] = ctx.run(argv, timeout=10)
    return answers[key]


def effective_config(ctx, alias: str, config_file: Path | None = None) -> dict[str, list[str]]:
    """What ``ssh -G`` says ssh would use for ``alias`` (keys lowercase, values in order)."""
    if config_file is not None:
        argv = [program(), "-G", "-F", str(config_file), alias]
    else:
        argv = ssh_command(ctx, "-G", alias)
    result = ssh_g(ctx, argv)
    if not result.ok:
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
    if program() == APPLE_SSH:  # ssh-copy-id runs the `ssh` PATH names: Apple's too, not a Homebrew one
        apple_bin = str(Path(APPLE_SSH).parent)
        rest = [entry for entry in env.get("PATH", "").split(os.pathsep) if entry != apple_bin]
        env["PATH"] = os.pathsep.join([apple_bin, *rest])
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


LOGIN_GRACE = 5.0  # after connecting: the key exchange and the authentication
# ssh's own line once the server has accepted a login (LogLevel VERBOSE; OpenSSH 7 to 10 alike):
# "Authenticated to HOST ([ADDRESS]:PORT) using …", or "… HOST (via proxy) using …".
AUTHENTICATED = "Authenticated to {host} ("


def key_login_bound(timeout: float = 10.0) -> float:
    """How long ``key_login(ctx, alias, timeout)`` can take at most."""
    return timeout + LOGIN_GRACE


def key_login(ctx, alias: str, timeout: float = 10.0) -> tuple[bool, str, str]:
    """Does key login work without any prompt? (ok, kind, explanation). ``timeout`` bounds the
    connection; the whole probe ends within ``key_login_bound(timeout)``."""
    return key_login_outcome(start_key_login(ctx, alias, timeout).result())


def start_key_login(ctx, alias: str, timeout: float = 10.0, options: tuple[str, ...] = ()):
    """``key_login`` started, to run alongside other checks: ``key_login_outcome(started.result())``
    is its answer. ``options`` are more ``-o`` options for this one login (its known-hosts files).

    The login ends as soon as ssh says the server accepted it (``Authenticated to HOST (…``, the
    host ``ssh -G`` names, so that a jump host's own line does not count): what it proves is then
    proven, and a remote shell running ``true`` would add the server's session setup and a few
    round trips (~45 ms on loopback, more over a network) that the tunnel, which opens no shell,
    never needs. Through a connection the user's config shares (ControlPath), ssh authenticates
    nothing and ``true`` runs to its end. ``ControlMaster=no``: a check never becomes the master
    of such a connection, which ending it early would leave behind; ``PermitLocalCommand=no``:
    nor does it run the config's LocalCommand, which it would cut short."""
    argv = ssh_command(ctx, *NO_FORWARDS, *NO_HOSTKEY_UPDATES, "-o", "BatchMode=yes",
                       "-o", f"ConnectTimeout={int(timeout)}", "-o", "ControlMaster=no",
                       "-o", "PermitLocalCommand=no", "-o", "LogLevel=VERBOSE", alias, "true")
    argv[1:1] = options  # before -F's companions: for -o, ssh keeps the first value it reads
    try:
        until = AUTHENTICATED.format(host=effective_config(ctx, alias)["hostname"][0])
    except (StepFailed, KeyError):  # ssh -G cannot tell: the login runs to its end, as `ssh … true`
        until = None
    return ctx.start(argv, timeout=key_login_bound(timeout), env=child_env(ctx), until=until)


def key_login_outcome(result) -> tuple[bool, str, str]:
    if result.ok:
        return True, "ok", ""
    kind, text = explain(result.stderr)
    return False, kind, text


def alias_configured(ctx, alias: str) -> bool:
    """True when ssh config already maps ``alias`` somewhere (ssh -G echoes unknown names)."""
    result = ssh_g(ctx, ssh_command(ctx, "-G", alias))
    return result.ok and f"\nhostname {alias.lower()}\n" not in "\n" + result.stdout


def _option_values(args: tuple[str, ...], flag: str) -> list[str]:
    """Values given to a one-letter ssh option, spelled ``-F value`` or ``-Fvalue``."""
    values = []
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            values.append(args[index + 1])
        elif arg.startswith(flag) and len(arg) > len(flag):
            values.append(arg[len(flag):])
    return values


def _same_file(a: str, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def forwards_alias(owner, alias: str) -> bool:
    """Is this process an ``ssh -N … ALIAS``, whoever started it? Enough to look through it
    (probe the Gateway), never to stop it: see ``is_tunnel``."""
    args = owner.args if owner is not None else ()
    return bool(args) and args[0].rsplit("/", 1)[-1] == "ssh" and "-N" in args and args[-1] == alias


REACH_TIMEOUT = 5.0  # resolving the name, then opening TCP to its ssh port: each at most this long


def _resolve(host: str, port: int, timeout: float) -> list:
    """getaddrinfo, bounded: it has no timeout of its own, and a dead DNS server can hang it for
    long. A daemon thread, so that a lookup still hanging never holds up the wizard's exit."""
    import socket
    import threading

    found: list = []
    failed: list[OSError] = []

    def lookup() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            failed.append(exc)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    if failed:
        raise failed[0]
    if worker.is_alive():
        raise OSError(_("no answer from DNS within {s:g} s").format(s=timeout))
    return found


def check_reachable(ctx) -> None:
    """Before anything is written: the remote machine's name resolves and its ssh port accepts TCP,
    each within REACH_TIMEOUT. Skipped when ssh would go through a proxy (ProxyJump/ProxyCommand):
    then only ssh itself can tell. Raises StepFailed saying which and why."""
    import socket

    host, port = answer_known(ctx, "host"), answer_known(ctx, "port")
    if not host or not port:
        return
    config = None if ctx.real_home or config_path(ctx).exists() else Path(os.devnull)  # -F of a missing file fails
    try:
        seen = effective_config(ctx, host, config_file=config)
    except Exception:  # noqa: BLE001  (a config ssh cannot read is ssh-config's preflight to report)
        return
    if seen.get("proxyjump", ["none"]) != ["none"] or "proxycommand" in seen:
        return
    try:
        addresses = _resolve(host, int(port), REACH_TIMEOUT)
    except OSError as exc:
        raise StepFailed(_unreachable(host, port, exc)) from None
    last: OSError | None = None
    for family, kind, proto, _name, address in addresses:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(REACH_TIMEOUT)
                sock.connect(address)
                return
        except OSError as exc:
            last = exc
    raise StepFailed(_unreachable(host, port, last or OSError("-")))


def _unreachable(host: str, port, exc: OSError) -> str:
    """The same plain words as for ssh's own failures (refused, DNS, no route, timed out)."""
    words = exc.strerror or str(exc)
    _kind, explanation = explain(words)
    return _("{host} port {port}: {explanation} ({why})").format(host=host, port=port, explanation=explanation,
                                                                why=words)


def is_tunnel(ctx, owner, alias: str) -> bool:
    """Is this process (an ``_ports.Owner``) a tunnel this wizard starts for this home, whoever
    runs it (us, launchd or systemd)? Ours are ``ssh … -N -o BatchMode=yes … ALIAS`` with this
    home's ``-F`` config (none for the real home). An ``ssh -N`` typed by hand, one with another
    config, or one whose alias merely appears among its words is someone else's: never stopped."""
    if not forwards_alias(owner, alias):
        return False
    args = owner.args
    if "batchmode=yes" not in (value.lower() for value in _option_values(args, "-o")):
        return False
    configs = _option_values(args, "-F")
    if ctx.real_home:
        return all(_same_file(value, config_path(ctx)) for value in configs)
    if len(configs) == 1 and _same_file(configs[0], config_path(ctx)):
        return True
    # macOS's ps joins the arguments with blanks, so a home with a blank comes back in pieces:
    # then this home's "-F CONFIG" must stand in the joined line, once.
    line = " " + " ".join(args) + " "
    return line.count(" -F") == 1 and f" -F {config_path(ctx)} " in line
