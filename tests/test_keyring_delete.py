"""Undo deletes the token and then checks it is gone: keyring's macOS backend reports every
Keychain error on delete as PasswordDeleteError, the same error as "not found"
(tests/standins/memory_keyring.py, ``refuse_delete``)."""

from __future__ import annotations

import pytest

from tests.test_token_unit import TOKEN, linux_token_env  # noqa: F401  (fixture)
from wizard.cli import main

pytestmark = pytest.mark.real_mac  # no Mac tool at all: the macOS workflow runs it as it is


ENTRY = ("openclaw-remote:remote-gateway", "gateway-token")


def test_a_refused_delete_is_reported_with_what_to_run(linux_token_env, capsys):
    assert main(["run", "token", "--yes"]) == 0
    linux_token_env.refuse_delete = True
    assert main(["undo", "--yes"]) != 0
    err = capsys.readouterr().err
    assert "still in the keyring" in err and "security delete-generic-password -s openclaw-remote:remote-gateway" in err
    assert TOKEN not in err
    assert linux_token_env.store[ENTRY] == TOKEN  # it really is still there: the report is true


def test_a_token_already_gone_is_fine(linux_token_env, capsys):
    assert main(["run", "token", "--yes"]) == 0
    del linux_token_env.store[ENTRY]  # deleted by hand meanwhile
    assert main(["undo", "--yes"]) == 0
