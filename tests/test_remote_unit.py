"""What the remote prints, read defensively; words quoted for the remote's shell (a real sh)."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins import _openclaw_cli, _remote


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1))
def test_a_word_reaches_the_remote_shell_as_it_is(word):
    if word.startswith("~/"):
        word = "x" + word  # a leading ~/ is meant to expand: covered below
    line = "printf '%s' " + _remote.shell_word(word)
    assert subprocess.run(["sh", "-c", line], capture_output=True).stdout == word.encode("utf-8", "surrogateescape")


def test_a_leading_tilde_slash_still_expands_and_the_rest_stays_quoted():
    line = "printf '%s' " + _remote.shell_word("~/a b;$(id)")
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, env={"HOME": "/h"}).stdout
    assert out == "/h/a b;$(id)"


def test_the_token_is_the_last_non_empty_line_without_cr():
    assert _openclaw_cli.token_in("\U0001f99e OpenClaw 2026.9 banner\r\n\r\nabc-123\r\n\r\n") == "abc-123"


@pytest.mark.parametrize("output", ["", "\r\n\r\n", "banner\r\n__OPENCLAW_REDACTED__\r\n", "banner\r\ntwo words\r\n",
                                    "banner\r\ntok\x1b[0men\r\n"])
def test_what_cannot_be_a_token_is_refused(output):
    with pytest.raises(ValueError):
        _openclaw_cli.token_in(output)


def test_the_status_is_read_defensively():
    assert _openclaw_cli.parse_status("no json here") is None
    assert _openclaw_cli.parse_status("[1, 2]") is None
    odd = _openclaw_cli.parse_status('banner first\n{"service": "yes", "gateway": {"port": "18789", "bindMode": 7},'
                                 ' "rpc": {"ok": "true"}}')
    assert odd == _openclaw_cli.GatewayStatus()  # every field of the wrong type is "not said"
    older = _openclaw_cli.parse_status('{"port": {"port": 18789}, "service": {"runtime": {"status": "running"}}}')
    assert older.port == 18789 and older.running and older.loopback_only


@pytest.mark.parametrize("host, mode, loopback", [("127.0.0.1", None, True), ("::1", None, True),
                                                   ("0.0.0.0", None, False), ("127.0.0.1", "lan", False),
                                                   (None, "tailnet", False), (None, "loopback", True)])
def test_loopback_only(host, mode, loopback):
    assert _openclaw_cli.GatewayStatus(bind_host=host, bind_mode=mode).loopback_only is loopback
