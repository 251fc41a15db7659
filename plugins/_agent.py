"""The user's ssh agent, for keys with a passphrase. A background tunnel (launchd's or systemd's
ssh, BatchMode) has no terminal to ask a passphrase in: such a key works there only through an
agent that holds it. Shared by the ``ssh-config`` and ``ssh-key`` steps; imports no step.

macOS (field notes; Apple's ssh_config(5) and ssh-add(1)): launchd starts an agent for every
login session at ``/private/tmp/com.apple.launchd.*/Listeners`` and gives every process, launchd's
agents included, its ``SSH_AUTH_SOCK``; it starts empty after a reboot unless ``UseKeychain`` and
``AddKeysToAgent`` are set, and ``ssh-add --apple-use-keychain KEY`` stores the passphrase in the
Keychain once. Another agent (1Password, Secretive, a Homebrew ssh-agent) is only in the shell's
``SSH_AUTH_SOCK``: launchd's ssh does not see it unless the ssh config names it (``IdentityAgent``).
Linux: a systemd user unit gets no ``SSH_AUTH_SOCK`` from the login shell either.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from wizard import StepFailed, files
from wizard.i18n import _

LAUNCHD_AGENT = re.compile(r"/com\.apple\.launchd\.[^/]+/Listeners$")  # macOS's own, per login session
ADD_TIMEOUT = 15


def socket_path(ctx) -> str | None:
    """SSH_AUTH_SOCK when it names a socket that exists (an agent may still not answer)."""
    value = ctx.env.get("SSH_AUTH_SOCK", "")
    if not value:
        return None
    try:
        return value if stat.S_ISSOCK(Path(value).stat().st_mode) else None
    except OSError:
        return None


def reachable(ctx) -> bool:
    """An agent answers on SSH_AUTH_SOCK (``ssh-add -l``: 0 keys listed, 1 none, 2 no agent)."""
    if socket_path(ctx) is None:
        return False
    return ctx.run(["ssh-add", "-l"], timeout=5, env=_env(ctx)).returncode in (0, 1)


def custom_agent(ctx) -> str | None:
    """The socket to name with ``IdentityAgent`` so that the background tunnel's ssh uses the same
    agent as the user's shell: any live SSH_AUTH_SOCK but macOS's own launchd agent (which launchd
    hands to its agents anyway)."""
    path = socket_path(ctx)
    if path is None or (ctx.platform == "darwin" and LAUNCHD_AGENT.search(path)):
        return None
    return path


def key_needs_agent(ctx) -> bool:
    """The key this setup uses has a passphrase, or will have one (given for a new key)."""
    from plugins._common import expand

    if "identity" not in ctx.questions:
        return False
    key = expand(ctx, ctx.answer("identity"))
    if key.exists():
        return is_encrypted(ctx, key)
    return "key_passphrase" in ctx.questions and bool(ctx.answer_if_given("key_passphrase"))


def per_session(path: str) -> bool:
    """An agent socket that goes away at logout (``ssh-agent``'s default ``/tmp/ssh-XXXX/agent.PID``)."""
    return bool(re.search(r"/ssh-[^/]+/agent\.\d+$", path))


# key path -> (the file as stat saw it, encrypted?): ssh-config's checks and ssh-key's both ask,
# one answer serves both while the file stays the same.
_encrypted: dict[str, tuple[tuple, bool]] = {}

# PROTOCOL.key in OpenSSH's source: the format ssh-keygen writes since 7.8 begins with this line,
# then base64 of "openssh-key-v1\0" and the cipher's name as an SSH string ("none": no passphrase).
_OPENSSH_KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\n"  # ssh's MARK_BEGIN: no "\r" before the newline
_OPENSSH_END = b"\n-----END OPENSSH PRIVATE KEY-----\n"  # and its MARK_END, after a line of the key
_OPENSSH_MAGIC = b"openssh-key-v1\0"
_CIPHER_NAME = re.compile(rb"[a-z0-9][a-z0-9@.+_-]{0,63}")  # "none", "aes256-ctr", "aes256-gcm@openssh.com"…


def is_encrypted(ctx, key: Path) -> bool:
    """Does the private key need a passphrase? Read from the header of a key in OpenSSH's own
    format; for any other (PEM, PKCS#8), or a file ssh would refuse anyway (open to others, not a
    plain file), ``ssh-keygen -y`` with an empty passphrase, which fails then."""
    identity = files.identity(key)
    cached = _encrypted.get(str(key))
    if identity is not None and cached is not None and cached[0] == identity:
        return cached[1]
    cipher = openssh_cipher(key)
    if cipher is not None:
        encrypted = cipher != "none"
    else:
        encrypted = not ctx.run(["ssh-keygen", "-y", "-P", "", "-f", str(key)], timeout=10).ok
    if identity is not None:
        _encrypted[str(key)] = (identity, encrypted)
    return encrypted


def openssh_cipher(key: Path) -> str | None:
    """The cipher that encrypts a private key in OpenSSH's format ("none" when nothing does), from
    the first bytes of the file only (the key itself comes later); None for any other file, and
    for one whose mode lets others read it (ssh-keygen and ssh refuse it: theirs to explain)."""
    import binascii

    try:
        fd = os.open(key, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO in its place must not hang the run
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
            return None
        head = os.read(fd, len(_OPENSSH_KEY) + 64)
        tail = os.pread(fd, 2 * len(_OPENSSH_END), max(0, info.st_size - 2 * len(_OPENSSH_END)))
    except OSError:
        return None
    finally:
        os.close(fd)
    # ssh loads the key only between its two marks, as written: a file cut short, or rewritten
    # with CRLF line ends, is ssh-keygen's to judge (it refuses it, as ssh will).
    if not head.startswith(_OPENSSH_KEY) or _OPENSSH_END not in tail or b"\r" in head + tail:
        return None
    rest = head[len(_OPENSSH_KEY):]
    if len(rest) < 64:
        return None
    try:
        blob = binascii.a2b_base64(rest)  # 48 bytes: the magic, a length and the name
    except binascii.Error:
        return None
    if not blob.startswith(_OPENSSH_MAGIC):
        return None
    start = len(_OPENSSH_MAGIC) + 4
    length = int.from_bytes(blob[len(_OPENSSH_MAGIC):start], "big")
    name = blob[start:start + length]
    if len(name) != length or not _CIPHER_NAME.fullmatch(name):
        return None
    return name.decode("ascii")


def _fingerprint(ctx, public_key: Path) -> str | None:
    result = ctx.run(["ssh-keygen", "-l", "-f", str(public_key)], timeout=10)
    fields = result.stdout.split()
    return fields[1] if result.ok and len(fields) > 1 else None


def holds(ctx, key: Path) -> bool:
    """Does the agent hold this key (by the fingerprint of its .pub)?"""
    fingerprint = _fingerprint(ctx, Path(f"{key}.pub"))
    listed = ctx.run(["ssh-add", "-l"], timeout=5, env=_env(ctx))
    return bool(fingerprint) and listed.returncode == 0 and fingerprint in listed.stdout.split()


def add_argv(ctx, key: Path) -> list[str]:
    # macOS: also store the passphrase in the Keychain, where UseKeychain finds it after a reboot.
    return ["ssh-add", *(["--apple-use-keychain"] if ctx.platform == "darwin" else []), str(key)]


def add(ctx, key: Path, passphrase: str) -> None:
    """``ssh-add KEY``, the passphrase typed at its prompt (never on a command line)."""
    import pexpect

    argv = add_argv(ctx, key)
    child = pexpect.spawn(argv[0], argv[1:], env=_env(ctx), encoding="utf-8", timeout=ADD_TIMEOUT)
    try:
        index = child.expect([r"Enter passphrase for", pexpect.EOF])
        if index == 0:
            child.sendline(passphrase)
            index = child.expect([r"Bad passphrase", pexpect.EOF])
            if index == 0:
                raise StepFailed(_("ssh-add refused the passphrase for {key}").format(key=key),
                                 kept=_("The key is unchanged; the agent does not hold it."))
    except pexpect.TIMEOUT:
        raise StepFailed(_("ssh-add did not answer within {s} s").format(s=ADD_TIMEOUT)) from None
    finally:
        child.close(force=True)
    if child.exitstatus != 0:
        raise StepFailed(_("ssh-add could not add {key} to your ssh agent: {why}").format(
            key=key, why=(child.before or "").strip() or f"exit {child.exitstatus}"))


def _env(ctx) -> dict[str, str]:
    env = dict(ctx.env)
    env["HOME"] = str(ctx.home)
    return env
