"""An in-memory keyring backend for unit tests: ``keyring.set_keyring(MemoryKeyring())``.

Nothing is written anywhere; every instance has its own store. ``fail_with`` makes every call
raise (e.g. ``keyring.errors.KeyringLocked("locked")``) to test error paths; ``refuse_delete``
makes delete fail the way the macOS backend does (PasswordDeleteError, item kept).
"""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.credentials import SimpleCredential
from keyring.errors import PasswordDeleteError

__all__ = ["MemoryKeyring"]


class MemoryKeyring(KeyringBackend):
    # Defining the class registers it with keyring: in a process where keyring has not chosen
    # a backend yet and nothing better is viable, keyring may pick it on its own. Tests should
    # always choose explicitly (keyring.set_keyring / PYTHON_KEYRING_BACKEND).
    priority = 1

    def __init__(self, fail_with: BaseException | None = None, refuse_delete: bool = False):
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.fail_with = fail_with
        # As keyring's macOS backend does when the Keychain refuses (locked, access denied, a
        # binary it does not trust: keyring#619): delete_password wraps every Keychain error in
        # PasswordDeleteError ("Can't delete password in keychain"), the item stays
        # (keyring/backends/macOS/__init__.py, delete_password).
        self.refuse_delete = refuse_delete

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        if not isinstance(password, str):
            raise TypeError("password must be a str")
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        if self.refuse_delete:
            raise PasswordDeleteError("Can't delete password in keychain: (-25308, 'User interaction is not allowed.')")
        try:
            del self.store[(service, username)]
        except KeyError:
            raise PasswordDeleteError("Password not found") from None

    def get_credential(self, service: str, username: str | None):
        self._check()
        if username is not None:
            password = self.store.get((service, username))
            return SimpleCredential(username, password) if password is not None else None
        for (stored_service, stored_user), password in self.store.items():
            if stored_service == service:
                return SimpleCredential(stored_user, password)
        return None
