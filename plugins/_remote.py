"""Running a command on the remote machine through the ssh alias, for the built-in steps and checks
and for plugins (documented in docs/plugins.md, "Running a command on the remote machine").

The alias carries the tunnel's ``LocalForward``: an ssh through it that keeps the forward tries to
bind the tunnel's local port, which the tunnel holds, and fails (ExitOnForwardFailure) exactly when
the tunnel is up. Every command here clears the forwards, never prompts (BatchMode), never rewrites
known_hosts, uses this home's config and known_hosts when the home is not ssh's own, and is bounded
in time. The words are quoted for the remote shell (ssh joins them into one shell line there).
Nothing secret may go into the words (any process on either machine can read a command line);
the child's environment is the wizard's, from which every secret variable was removed.
"""

from __future__ import annotations

import shlex
import unicodedata

from plugins import _common, _ssh
from wizard import Question, runner
from wizard.i18n import _

CONNECT_TIMEOUT = 5   # seconds to connect and log in
GRACE = 5.0           # then, for the command itself (a status, a reveal): its default bound
MISSING = 127         # what a POSIX shell returns for a command that is not on PATH
SSH_FAILED = 255      # ssh's own failure (no route, refused, key refused)

OPTIONS = (*_ssh.NO_FORWARDS, *_ssh.NO_HOSTKEY_UPDATES,
           "-o", "BatchMode=yes",
           "-o", "RemoteCommand=none",      # a RemoteCommand in the user's config would replace ours
           "-o", "PermitLocalCommand=no",
           "-o", "LogLevel=ERROR")          # keeps "Connection to … closed." (after -tt) out of stderr


def remote_program(text: str) -> str:
    """The ``openclaw`` command on the remote: a bare name, an absolute path or ``~/…`` (blanks are
    fine: it is quoted for the remote shell); no control character, no leading ``-``."""
    text = text.strip()
    if not text:
        raise ValueError(_("the path of openclaw on the remote machine is empty"))
    if any(unicodedata.category(char).startswith("C") for char in text):
        raise ValueError(_("the path of openclaw on the remote machine contains a control character"))
    if text.startswith("-"):
        raise ValueError(
            _("the path of openclaw on the remote machine starts with '-' (it would be read as an option)")
        )
    if "/" in text and not text.startswith(("/", "~/")):
        raise ValueError(_("give the path of openclaw on the remote machine as an absolute path, or starting with ~/"))
    return text


REMOTE_OPENCLAW = Question(
    "remote_openclaw", _("Path of the openclaw command on the remote machine (for example ~/.npm-global/bin/openclaw)"),
    validate=remote_program, upfront=False,
    help=_("where OpenClaw's openclaw command is on the remote machine, when a non-interactive ssh session does not "
           "find it on its PATH"))


def openclaw(ctx) -> str:
    """The remote's ``openclaw``: the answer ``remote_openclaw`` (given now or saved), else the bare name."""
    return _common.answer_known(ctx, "remote_openclaw") or "openclaw"


def shell_word(word: str) -> str:
    """``word`` quoted for the remote's shell; a leading ``~/`` stays unquoted so that it expands."""
    if word.startswith("~/"):
        return "~/" + shlex.quote(word[2:])
    return shlex.quote(word)


def command(ctx, alias: str, words: list[str], *, tty: bool = False,
            connect_timeout: int = CONNECT_TIMEOUT) -> list[str]:
    """The ssh argv that runs ``words`` on the remote through ``alias``. ``tty=True`` forces a
    remote terminal (``-tt``) for the programs that refuse to talk to a pipe; its output then has
    CRLF line ends and stderr mixed into stdout."""
    line = " ".join(shell_word(word) for word in words)
    return _ssh.ssh_command(ctx, *OPTIONS, "-o", f"ConnectTimeout={int(connect_timeout)}",
                            "-tt" if tty else "-T", alias, line)


class RemoteResult(runner.Result):
    """What the runner returns, read for a remote command: missing program, or ssh itself failed."""

    __slots__ = ()  # a NamedTuple's subclass: no instance dict

    @property
    def missing(self) -> bool:
        """The program is not there (not on the session's PATH, or not at the path given)."""
        return self.returncode == MISSING

    @property
    def ssh_failed(self) -> bool:
        return self.returncode == SSH_FAILED

    def why(self) -> str:
        """One line: ssh's failure in plain words, else the command's last line of output."""
        if self.ssh_failed:
            return _ssh.explain(self.stderr)[1]
        lines = [line.strip() for line in (self.stderr + "\n" + self.stdout).replace("\r", "").splitlines()
                 if line.strip()]
        return lines[-1] if lines else _("exit {code}").format(code=self.returncode)


def bound(timeout: float = GRACE, connect_timeout: int = CONNECT_TIMEOUT) -> float:
    """How long ``run(…, timeout=timeout)`` takes at most."""
    return connect_timeout + timeout


def run(ctx, alias: str, words: list[str], *, tty: bool = False, timeout: float = GRACE,
        connect_timeout: int = CONNECT_TIMEOUT) -> RemoteResult:
    """Run ``words`` on the remote through ``alias``; never raises for a failure (see RemoteResult).
    Ends within ``bound(timeout, connect_timeout)`` seconds."""
    argv = command(ctx, alias, words, tty=tty, connect_timeout=connect_timeout)
    result = ctx.run(argv, timeout=bound(timeout, connect_timeout), env=_ssh.child_env(ctx))
    return RemoteResult(result.returncode, result.stdout, result.stderr)


def answer_given(ctx) -> bool:
    """Was the remote's ``openclaw`` path handed to us (flag, variable, answers file, saved)?"""
    return bool(_common.answer_known(ctx, "remote_openclaw"))


def probe_gateway(ctx, alias: str, remote_port: int, token: str, timeout: float = 3.0):
    """The Gateway handshake with ``token``, through a short-lived ``ssh -W 127.0.0.1:PORT`` over the
    alias (stdio forwarding: no local port is bound, so it works with or without the tunnel; -W
    implies ClearAllForwardings). The token travels inside the ssh connection, never on a command
    line. Returns a ``_gateway.GatewayResult``; ends within ``bound(timeout)`` seconds."""
    import socket

    from plugins import _gateway
    from wizard.runner import spawn_on_socket

    argv = _ssh.ssh_command(ctx, *_ssh.NO_HOSTKEY_UPDATES, "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                            "-o", f"ConnectTimeout={CONNECT_TIMEOUT}", "-W", f"127.0.0.1:{int(remote_port)}", alias)
    ours, theirs = socket.socketpair()
    child = spawn_on_socket(argv, theirs, env=_ssh.child_env(ctx))
    theirs.close()
    try:
        return _gateway.probe(remote_port, token, sock=ours, timeout=CONNECT_TIMEOUT + timeout)
    finally:
        ours.close()
        try:
            child.wait(timeout=2)
        except Exception:  # noqa: BLE001  (subprocess.TimeoutExpired: it did not see the socket close)
            child.kill()
            child.wait()
