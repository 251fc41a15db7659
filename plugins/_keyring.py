"""The gateway token in the OS keyring (Keychain on macOS, Secret Service on Linux).

Never a plaintext file: keyring's plaintext backends (keyrings.alt) are refused unless the
user chose one explicitly with PYTHON_KEYRING_BACKEND.
"""

from __future__ import annotations

import os

from wizard import StepFailed
from wizard.i18n import _

ACCOUNT = "gateway-token"


def service(alias: str) -> str:
    """One entry per alias, so that two gateways can coexist."""
    return f"openclaw-remote:{alias}"


def _backend():
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    chosen = bool(os.environ.get("PYTHON_KEYRING_BACKEND"))
    names = [type(b).__module__ + "." + type(b).__name__ for b in getattr(backend, "backends", [backend])]
    if isinstance(backend, fail.Keyring) or not names:
        raise StepFailed(_no_keyring())
    if not chosen and any("keyrings.alt" in name or "Plaintext" in name for name in names):
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


def token_for_probe(ctx, alias: str) -> str | None:
    """The stored token for a Gateway handshake, or None (HTTP /healthz only) when there is
    none yet or no usable keyring: checking a tunnel must not depend on the keyring."""
    try:
        token = get_token(alias)
    except (StepFailed, ImportError):
        return None
    if token:
        ctx.add_secret(token)
    return token
