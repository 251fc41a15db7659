"""The gateway token in the OS keyring (Keychain on macOS, Secret Service on Linux).

Never a plaintext file: keyring's plaintext backends (keyrings.alt) are only used when the
user names one explicitly with PYTHON_KEYRING_BACKEND.

On macOS the login Keychain is reached through Apple's ``/usr/bin/security``, not through
keyring's macOS backend: a Keychain item trusts the program that created it (keyring#282:
"only the executable that created the credential can read it without a prompt"; keyring#144:
an item created by the ``security`` command trusts ``security``), and keyring's creator is this
Python, which a Python upgrade or a rebuilt uv/pipx environment replaces (the
Keychain then asks for the login password, keyring#619, #282). An item created by
``security add-generic-password -T /usr/bin/security`` trusts ``/usr/bin/security`` alone,
which ships with macOS: the wizard and the login agent (plain ``/bin/sh`` running
``security`` and ``launchctl``, see plugins/token.py) read it without a dialog.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

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
    elif _platform() == "darwin":
        return Keychain()
    else:
        if sys.platform == "darwin":
            from keyring.backends.macOS import Keyring
        else:
            from keyring.backends.SecretService import Keyring
        try:
            usable = Keyring.priority > 0  # raises when the backend cannot work here
        except Exception:  # noqa: BLE001  (keyring's backends raise anything when they cannot work here)
            usable = False
        if not usable:
            raise StepFailed(_no_keyring())
        backend = Keyring()
    if isinstance(backend, fail.Keyring):
        raise StepFailed(_no_keyring())
    return backend


def _platform() -> str:
    from wizard.context import current_platform

    return current_platform()


SECURITY = "security"  # /usr/bin/security: on launchd's and every login shell's PATH
TRUSTED_APP = "/usr/bin/security"  # the one program the item's access list names
NOT_FOUND = 44  # errSecItemNotFound (-25300) as security's exit code
PROMPTED_MAX = 127  # security reads a prompted -w into a 128-byte buffer (readpassphrase)


@dataclass(eq=False)
class Keychain:
    """keyring's backend interface over ``security`` (argument lists, no shell). The token is
    never an argument: ``-w`` as the last option makes security prompt for it on its terminal
    (twice), which pexpect answers; it comes back on security's stdout."""

    def get_password(self, service: str, account: str) -> str | None:
        from keyring.errors import KeyringError
        from wizard import runner

        result = runner.run([SECURITY, "find-generic-password", "-s", service, "-a", account, "-w"], timeout=10)
        if result.returncode == NOT_FOUND:
            return None
        if not result.ok:
            raise KeyringError(_security_error(result.returncode, result.stderr))
        return result.stdout.rstrip("\n") or None

    def set_password(self, service: str, account: str, password: str) -> None:
        from keyring.errors import KeyringError

        if len(password.encode("utf-8")) > PROMPTED_MAX:
            raise KeyringError(_("the macOS Keychain tool takes at most {n} bytes typed at its prompt; this token "
                                 "is longer").format(n=PROMPTED_MAX))
        previous = self.get_password(service, account)
        # Delete first: -U would keep an older item's access list (one that trusts a Python).
        self._delete(service, account)
        try:
            self._add(service, account, password)
            # security exits 0 even when its two prompts got different answers: read it back.
            if self.get_password(service, account) != password:
                raise KeyringError(_("the Keychain did not keep the token (security add-generic-password)"))
        except KeyringError:
            if previous:  # put the token that worked back, rather than leave none
                self._delete(service, account)
                self._add(service, account, previous)
            raise

    @staticmethod
    def _add(service: str, account: str, password: str) -> None:
        import pexpect
        from keyring.errors import KeyringError

        argv = [SECURITY, "add-generic-password", "-s", service, "-a", account,
                "-l", service, "-T", TRUSTED_APP, "-w"]
        try:
            child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", timeout=10, echo=False)
        except pexpect.ExceptionPexpect as exc:
            raise KeyringError(_("security could not be started: {why}").format(why=exc)) from None
        try:
            for prompt in ("password data for new item:", "retype password for new item:"):
                child.expect_exact([prompt])
                child.sendline(password)
            child.expect(pexpect.EOF)
        except pexpect.ExceptionPexpect:
            raise KeyringError(_("security add-generic-password did not ask for the token as expected")) from None
        finally:
            child.close()
        if child.exitstatus != 0:
            raise KeyringError(_security_error(child.exitstatus, ""))

    def delete_password(self, service: str, account: str) -> None:
        from keyring.errors import PasswordDeleteError

        if not self._delete(service, account):
            raise PasswordDeleteError("not found")

    @staticmethod
    def _delete(service: str, account: str) -> bool:
        from keyring.errors import KeyringError
        from wizard import runner

        result = runner.run([SECURITY, "delete-generic-password", "-s", service, "-a", account], timeout=10)
        if result.returncode == NOT_FOUND:
            return False
        if not result.ok:
            raise KeyringError(_security_error(result.returncode, result.stderr))
        return True


def _security_error(code: int | None, stderr: str) -> str:
    if code == 36:  # errSecInteractionNotAllowed: locked Keychain and no way to ask (ssh, no GUI)
        return _("the login Keychain is locked and cannot ask for its password here (over ssh?); "
                 "unlock it with 'security unlock-keychain' or run this in the Mac's own session")
    if (
        code == 51
    ):  # errSecAuthFailed: the item's access list does not name /usr/bin/security, and the dialog was refused
        return _("the Keychain refused to give the token to /usr/bin/security: the item was made by an earlier "
                 "version (it trusts a Python); run 'openclaw-remote run token' in the Mac's own session, allow "
                 "the Keychain's question once, and replace the token")
    return _("security failed (exit {code}): {why}").format(code=code, why=stderr.strip() or "-")


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
    """Delete the token, then check it is really gone: keyring's own macOS backend (chosen with
    PYTHON_KEYRING_BACKEND) turns every Keychain error on delete (locked, access denied) into the
    same PasswordDeleteError as "not found", so whatever the backend, a read-back tells."""
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
    if _platform() == "darwin" or os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    return bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")) or os.path.exists(f"/run/user/{os.getuid()}/bus")
