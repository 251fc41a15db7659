"""Questions and validators shared by the built-in steps.

Every answer is checked here before it can reach a file or a command line: ssh
config has no quoting, so a space, quote, ``#`` or newline in a value would change
its meaning (a newline in a host name injects ssh options), and a leading ``-``
would be read as a command-line option.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from wizard import Question
from wizard.i18n import _

MAX_LENGTH = 255
MAX_PATH, MAX_NAME = 1024, 255  # macOS's PATH_MAX and NAME_MAX (Linux allows more): what every Mac can open


def _check_word(text: str, what: str) -> str:
    if not text:
        raise ValueError(_("{what} is empty").format(what=what))
    if len(text) > MAX_LENGTH:
        raise ValueError(_("{what} is longer than {n} characters").format(what=what, n=MAX_LENGTH))
    for char in text:
        if char.isspace():
            raise ValueError(_("{what} contains whitespace (it would split the ssh option)").format(what=what))
        if unicodedata.category(char).startswith("C"):
            raise ValueError(_("{what} contains a control character").format(what=what))
        if char in "\"'`#\\":
            raise ValueError(
                _("{what} contains {char!r}, which ssh config cannot hold safely").format(what=what, char=char)
            )
    if text.startswith("-"):
        raise ValueError(_("{what} starts with '-' (it would be read as an option)").format(what=what))
    return text


HOST_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")  # HostName takes no [brackets], even for IPv6
USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?$")
ALIAS_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_pattern(text: str, what: str, pattern: re.Pattern, allowed: str) -> str:
    _check_word(text, what)
    if not pattern.match(text):
        raise ValueError(_("{what} may only contain {allowed}").format(what=what, allowed=allowed))
    return text


def host(text: str) -> str:
    text = text.strip()
    _check_pattern(text, _("host"), HOST_RE, _("letters, digits, '.', '-', '_', ':' (an IP address without brackets)"))
    if text.startswith(".") or ".." in text:
        raise ValueError(_("host {value!r} is not a valid host name").format(value=text))
    return text


def user(text: str) -> str:
    return _check_pattern(text.strip(), _("user"), USER_RE, _("letters, digits, '.', '-', '_', '@'"))


def alias(text: str) -> str:
    text = text.strip()
    _check_pattern(text, _("alias"), ALIAS_RE, _("letters, digits, '.', '-', '_'"))
    if any(char in text for char in "*?!"):
        raise ValueError(_("alias cannot be a pattern"))
    return text


def label(text: str) -> str:
    return _check_pattern(
        text.strip(), _("label"), LABEL_RE, _("letters, digits, '.', '-', '_' (no spaces or slashes)")
    )


def port(text: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        raise ValueError(_("port {value!r} is not a number").format(value=text))
    value = int(text)
    if not 1 <= value <= 65535:
        raise ValueError(_("port {value} is outside 1-65535").format(value=value))
    return value


def path(text: str) -> str:
    """A file path as it will be written into ssh config: absolute or ~/…, nothing ssh would re-read."""
    text = text.strip()
    if not text:
        raise ValueError(_("path is empty"))
    for char in text:
        if unicodedata.category(char).startswith("C"):
            raise ValueError(_("path contains a control character"))
        if char.isspace() or char in "\"'`#\\%$":
            raise ValueError(_("path contains {char!r}; choose a path without spaces, quotes, '#', '%', '$' or "
                               "'\\' (ssh reads those itself)").format(char=char))
    if not (text.startswith("/") or text.startswith("~/")):
        raise ValueError(_("path must be absolute or start with ~/ (ssh reads ~user itself)"))
    if ".." in Path(text).parts:
        raise ValueError(_("path must not contain '..'"))
    if len(text.encode("utf-8")) > MAX_PATH or any(len(part.encode("utf-8")) > MAX_NAME for part in Path(text).parts):
        raise ValueError(_("path is longer than {n} bytes, or one of its names longer than {m}").format(
            n=MAX_PATH, m=MAX_NAME))
    return text


def expand(ctx, value: str) -> Path:
    """Expand ``~/`` against the wizard's home (which tests point elsewhere)."""
    return ctx.home / value[2:] if value.startswith("~/") else Path(value)


def check_editable(*paths: Path) -> None:
    """Before the first write: each file a step will write or replace is absent or a regular file
    (through a symlink, its target) that we may read and replace, in a folder we may write.
    Anything else (a directory, a device, another user's file, a read-only file or folder) is
    refused now (UsageError) rather than half-way through the run: the rules are
    ``files.replaceable`` and ``files.check_access``, the ones every write obeys."""
    from wizard import files

    for path in paths:
        files.check_access(path)


def answer_known(ctx, name: str):
    """An answer given in this run or saved by an earlier one, without asking for it (None if neither):
    for a step that can use another step's answer but must not prompt for it."""
    if name not in ctx.questions:
        return None
    value = ctx.resolver.values.get(name)
    return value if value is not None else ctx.state.answers.get(name)


def default_identity(ctx) -> str:
    """``~/.ssh/…``: the home's own path is not the user's answer, so it is not held to the
    answer's rules (it is quoted wherever it is written instead)."""
    for name in ("id_ed25519", "id_rsa"):
        if ctx.path(".ssh", name).exists():
            return f"~/.ssh/{name}"
    return "~/.ssh/id_ed25519"


ALIAS = Question("alias", _("Name for this gateway in your ssh config (Host alias)"), default="remote-gateway",
                 validate=alias)
HOST = Question("host", _("Remote machine running the Gateway (host name or IP)"), validate=host)
USER = Question("user", _("Your user name on the remote machine"), validate=user)
PORT = Question("port", _("ssh port on the remote machine"), default="22", validate=port)
IDENTITY = Question("identity", _("ssh key to use"), default=default_identity, validate=path)
LOCAL_PORT = Question("local_port", _("Local port OpenClaw.app connects to"), default="18789", validate=port)
REMOTE_PORT = Question("remote_port", _("Gateway port on the remote machine"), default="18789", validate=port)
