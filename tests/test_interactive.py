"""The guided run through a real terminal: pexpect types into the questionary prompts."""

from __future__ import annotations

import sys

import pexpect

from tests.conftest import clean_env, snapshot

ENTER = "\r"


def spawn(home, *args, env=None):
    child = pexpect.spawn(sys.executable, ["-m", "wizard", *args], env=clean_env(home, **(env or {})),
                          encoding="utf-8", timeout=15, dimensions=(40, 200))
    return child


def answer(child, prompt, text=None):
    """Wait for a prompt; clear the proposed default and type ``text`` (None keeps the default)."""
    child.expect(prompt)
    if text is not None:
        child.send("\x15")  # Ctrl-U: clear the line (the default is pre-filled)
        child.send(text)
    child.send(ENTER)


def test_guided_setup_typed_in_a_real_terminal(home):
    child = spawn(home, "run", "ssh-config")
    answer(child, "Host alias")
    answer(child, "Remote machine", "gw.example.net")
    answer(child, "user name", "alice")
    answer(child, "ssh port", "2222")
    answer(child, "ssh key to use")
    answer(child, "Local port", "abc")
    child.expect("not a number")  # questionary refuses the answer in place
    child.send("\x15" + "28789" + ENTER)
    answer(child, "Gateway port")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    text = (home / ".ssh" / "config").read_text()
    assert "HostName gw.example.net" in text and "User alice" in text and "Port 2222" in text
    assert "LocalForward 127.0.0.1:28789 127.0.0.1:18789" in text


def test_rerun_of_one_step_offers_saved_answers_as_defaults(home):
    child = spawn(home, "run", "ssh-config", "--yes", "--host", "gw.example.net", "--user", "alice")
    child.expect(pexpect.EOF)
    child = spawn(home, "run", "ssh-config")
    child.expect("Use these answers")
    child.send("n")  # then each is asked, the saved value proposed
    for prompt in ("Host alias", "Remote machine", "user name", "ssh port", "ssh key", "Local port", "Gateway port"):
        answer(child, prompt)  # Enter keeps every saved default
    child.expect("already done")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_hand_written_block_is_shown_and_replaced_only_after_asking(home):
    cfg = home / ".ssh" / "config"
    cfg.write_text("Host remote-gateway\n    HostName old.example\n    LocalForward 18789 127.0.0.1:18789\n")
    child = spawn(home, "run", "ssh-config", "--yes", "--host", "gw.example", "--user", "alice")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2 and "HostName old.example" in cfg.read_text().splitlines()[1]

    child = spawn(home, "run", "ssh-config", "--host", "gw.example", "--user", "alice")
    for prompt in ("Host alias", "ssh port", "ssh key", "Local port", "Gateway port"):
        answer(child, prompt)
    child.expect("HostName old.example")  # the user sees their block before deciding
    child.expect(r"Disable it")
    child.send("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    text = cfg.read_text()
    assert "#openclaw-remote-disabled# Host remote-gateway" in text
    assert "#openclaw-remote-disabled#     HostName old.example" in text
    assert "HostName gw.example" in text


def test_ctrl_c_at_a_prompt_changes_nothing_and_exits_130(home):
    (home / ".ssh" / "config").write_text("Host mine\n")
    before = snapshot(home)
    child = spawn(home, "setup")
    child.expect("Host alias")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "interrupted" in child.before
    assert snapshot(home) == before


def test_ctrl_d_at_a_prompt_is_an_interruption_not_a_traceback(home):
    child = spawn(home, "run", "ssh-config")
    answer(child, "Host alias")
    child.expect("Remote machine")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "Traceback" not in child.before
