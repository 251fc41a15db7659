"""The gateway token in the OS keyring (Keychain on macOS, Secret Service on Linux).

Never a plaintext file: keyring's plaintext backends (keyrings.alt) are only used when the
user names one explicitly with PYTHON_KEYRING_BACKEND.
"""

from __future__ import annotations

import os
import sys

from wizard import StepFailed
from wizard.i18n import _

ACCOUNT = "gateway-token"


def service(alias: str) -> str:
    """One entry per alias, so that two gateways can coexist."""
    return f"openclaw-remote:{alias}"


def _backend():
    """The OS's own keyring (Keychain on macOS, Secret Service elsewhere), or the backend named
    in PYTHON_KEYRING_BACKEND. Choosing it directly skips keyring's scan of every installed
    backend (~100 ms) and can never land on a plaintext file."""
    import keyring
    from keyring.backends import fail

    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        backend = keyring.get_keyring()  # the user's explicit choice, plaintext included
    else:
        if sys.platform == "darwin":
            from keyring.backends.macOS import Keyring
        else:
            from keyring.backends.SecretService import Keyring
        try:
            usable = Keyring.priority > 0  # raises when the backend cannot work here
        except Exception:
            usable = False
        if not usable:
            raise StepFailed(_no_keyring())
        backend = Keyring()
    if isinstance(backend, fail.Keyring):
        raise StepFailed(_no_keyring())
    return backend


def _no_keyring() -> str:
    return _("no usable keyring to keep the gateway token in. On macOS the login Keychain is used; "
             "on Linux, install and unlock a Secret Service (gnome-keyring, KeePassXC), or choose a "
             "backend with PYTHON_KEYRING_BACKEND. The token is never written to a plain file.")


def get_token(alias: str) -> str | None:
    from keyring.errors import KeyringError

    try:
        return _backend().get_password(service(alias), ACCOUNT)
    except KeyringError as exc:
        raise StepFailed(_("the keyring could not be read: {why}").format(why=exc)) from None


def set_token(alias: str, token: str) -> None:
    from keyring.errors import KeyringError

    try:
        _backend().set_password(service(alias), ACCOUNT, token)
    except KeyringError as exc:
        raise StepFailed(_("the keyring refused the token: {why}").format(why=exc)) from None


def delete_token(alias: str) -> None:
    """Delete the token, then check it is really gone: keyring's macOS backend turns every
    Keychain error on delete (locked, access denied) into the same PasswordDeleteError as
    "not found", so the error alone cannot tell a refusal from an item already gone."""
    from keyring.errors import KeyringError, PasswordDeleteError

    backend = _backend()
    why = ""
    try:
        backend.delete_password(service(alias), ACCOUNT)
    except PasswordDeleteError as exc:
        why = str(exc)  # gone already, or (macOS) refused: the read below tells
    except KeyringError as exc:
        raise StepFailed(_("the keyring refused to delete the token: {why}").format(why=exc)) from None
    try:
        left = backend.get_password(service(alias), ACCOUNT) is not None
    except KeyringError as exc:
        left, why = True, why or str(exc)
    if left:
        raise StepFailed(_("the token is still in the keyring after deleting it{why}. Delete it yourself: on macOS "
                           "'security delete-generic-password -s {service} -a {account}' (or Keychain Access), on "
                           "Linux your keyring's manager (Seahorse, KeePassXC)").format(
            why=f" ({why})" if why else "", service=service(alias), account=ACCOUNT))


def token_for_probe(ctx, alias: str) -> str | None:
    """The stored token for a Gateway handshake, or None (HTTP /healthz only) when there is
    none yet or no usable keyring: checking a tunnel must not depend on the keyring."""
    if not _may_have_keyring():
        return None
    try:
        token = get_token(alias)
    except (StepFailed, ImportError):
        return None
    if token:
        ctx.add_secret(token)
    return token


def _may_have_keyring() -> bool:
    """Cheap pre-check (importing keyring costs ~70 ms): off macOS, a Secret Service needs a
    D-Bus session bus, announced in DBUS_SESSION_BUS_ADDRESS or at its default socket."""
    if sys.platform == "darwin" or os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    return bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")) or os.path.exists(f"/run/user/{os.getuid()}/bus")
