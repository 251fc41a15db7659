"""The token step in-process on an in-memory keyring: where the token goes, and where it does not."""

from __future__ import annotations

import json

import pytest

from wizard.cli import main

pytestmark = pytest.mark.real_mac  # no Mac tool at all: the macOS workflow runs it as it is


TOKEN = "unit-test-token-5f1c"


@pytest.fixture
def linux_token_env(monkeypatch, home, memory_keyring):
    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    monkeypatch.setenv("OPENCLAW_REMOTE_PLATFORM", "linux")
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", TOKEN)
    # An explicit choice: the step then uses the backend set in-process (keyring.set_keyring).
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.standins.memory_keyring.MemoryKeyring")
    return memory_keyring


def test_token_is_stored_per_alias_and_nowhere_else(linux_token_env, home, capsys):
    assert main(["run", "token", "--yes"]) == 0
    assert main(["run", "token", "--yes", "--alias", "second-gateway"], ) == 0
    keyring = linux_token_env
    assert keyring.get_password("openclaw-remote:remote-gateway", "gateway-token") == TOKEN
    assert keyring.get_password("openclaw-remote:second-gateway", "gateway-token") == TOKEN
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err
    assert all(TOKEN.encode() not in p.read_bytes() for p in home.rglob("*") if p.is_file())
    state = json.loads((home / ".config/openclaw-remote/state.json").read_text())
    assert "token" not in state["answers"] and state["steps"]["token"]["status"] == "done"


def test_second_run_changes_nothing(linux_token_env, capsys):
    assert main(["run", "token", "--yes"]) == 0
    capsys.readouterr()
    assert main(["run", "token", "--yes"]) == 0
    assert "already done, nothing to change" in capsys.readouterr().out


def test_a_new_token_replaces_the_stored_one(linux_token_env, monkeypatch):
    assert main(["run", "token", "--yes"]) == 0
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", "rotated-token-77")
    assert main(["run", "token", "--yes"]) == 0
    assert linux_token_env.get_password("openclaw-remote:remote-gateway", "gateway-token") == "rotated-token-77"


def test_dry_run_stores_nothing_and_masks_the_token(linux_token_env, capsys):
    assert main(["run", "token", "--yes", "--dry-run"]) == 0
    assert linux_token_env.get_password("openclaw-remote:remote-gateway", "gateway-token") is None
    out = capsys.readouterr().out
    assert "store the token in the keyring (service openclaw-remote:remote-gateway" in out
    assert TOKEN not in out


@pytest.mark.parametrize("bad", ["two words", "tab\there", "new\nline", ""])
def test_a_malformed_token_is_bad_input(linux_token_env, monkeypatch, bad, capsys):
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", bad)
    code = main(["run", "token", "--yes"])
    assert code == 2
    assert linux_token_env.get_password("openclaw-remote:remote-gateway", "gateway-token") is None
