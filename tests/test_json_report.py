"""``--json`` of setup, run, undo and doctor: one object on stdout, as docs/status.md documents
it, whatever way the command ends; human lines on stderr; no prompt; no secret."""

from __future__ import annotations

import json
import re
import sys

import pytest

from tests.conftest import REPO, snapshot
from wizard.cli import main

ANSWERS = ["--host", "127.0.0.1", "--port", "1", "--user", "u"]  # port 1: refused at once
TOKEN = "json-report-token-QQ\"\\x"  # a quote and a backslash: JSON escapes them


def documented() -> tuple[dict, set[str]]:
    """The run report's documented fields, and the statuses its table lists."""
    text = (REPO / "docs/status.md").read_text()
    section = text[text.index("## Run report"):]
    schema = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    table = section[section.index("| status | meaning |"):section.index("### Exit codes")]
    statuses = {name for row in re.findall(r"^\| (.*?) \|", table, re.M) for name in re.findall(r"`([a-z-]+)`", row)}
    return schema, statuses


def report_of(result) -> dict:
    """stdout is one JSON document and nothing else; it conforms to the documented schema."""
    report = json.loads(result.stdout)
    schema, statuses = documented()
    assert set(report) - {"checks", "repairs"} == set(schema)
    assert report["schema"] == 1 and report["exit_code"] == result.returncode
    assert isinstance(report["changed"], bool) and isinstance(report["errors"], list)
    for step in report["steps"]:
        assert set(step) == set(schema["steps"][0])
        assert step["status"] in statuses, step
        assert isinstance(step["changes"], list) and (step["reason"] is None or isinstance(step["reason"], str))
    assert report["changed"] == any(step["status"] == "changed" for step in report["steps"]) or "repairs" in report
    return report


def statuses(report: dict) -> dict[str, str]:
    return {step["name"]: step["status"] for step in report["steps"]}


def test_the_documented_statuses_are_the_ones_the_code_knows():
    from wizard.report import STATUSES

    assert documented()[1] == set(STATUSES)


def test_run_json_reports_changed_then_done_and_keeps_progress_on_stderr(cli, home):
    first = cli("run", "ssh-config", "--json", *ANSWERS)
    assert first.returncode == 0, first.stderr
    report = report_of(first)
    assert report["command"] == "run" and report["changed"] is True and report["dry_run"] is False
    assert report["steps"] == [{"name": "ssh-config", "status": "changed", "reason": None,
                                "changes": [f"write {home / '.ssh' / 'config'}"]}]
    assert "ssh-config: done" in first.stderr  # the human lines, unchanged, on stderr
    again = report_of(cli("run", "ssh-config", "--json", *ANSWERS))
    assert again["changed"] is False and statuses(again) == {"ssh-config": "done"}
    plain = cli("run", "ssh-config", *ANSWERS)  # without --json: stdout as it always was
    assert "already done, nothing to change" in plain.stdout and not plain.stdout.lstrip().startswith("{")


def test_setup_json_never_prompts_even_on_a_terminal_and_reports_what_does_not_apply(home):
    import pexpect

    from tests.conftest import clean_env

    child = pexpect.spawn(sys.executable, ["-m", "wizard", "setup", "--json", "--dry-run", *ANSWERS], cwd=str(REPO),
                          env={**clean_env(home), "OPENCLAW_REMOTE_PLATFORM": "linux"}, encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)  # a prompt would wait here until the timeout
    child.close()
    text = child.before.replace("\r\n", "\n")
    report = json.loads(text[text.index("\n{\n") + 1:])  # stdout and stderr share the terminal: JSON last
    assert report["dry_run"] is True and report["exit_code"] == child.exitstatus
    found = statuses(report)
    assert found["app-restart"] == "skipped" and found["ssh-config"] == "would-change"
    assert next(s for s in report["steps"] if s["name"] == "app-restart")["reason"]


def test_a_bad_answer_gives_exit_2_an_error_in_the_report_and_changes_nothing(cli, home):
    before = snapshot(home)
    result = cli("run", "ssh-config", "--json", "--host", "bad host", "--user", "u")
    report = report_of(result)
    assert result.returncode == 2 and report["errors"] and "whitespace" in report["errors"][0]
    assert statuses(report) == {"ssh-config": "not-run"} and report["changed"] is False
    assert snapshot(home) == before


def test_undo_json_wants_yes_then_reports_last_step_first(cli, home):
    assert cli("run", "ssh-config", "--json", *ANSWERS).returncode == 0
    refused = cli("undo", "--json")
    report = report_of(refused)
    assert refused.returncode == 2 and "--yes" in report["errors"][0]
    assert (home / ".ssh" / "config").read_text()  # nothing was taken away
    dry = report_of(cli("undo", "--json", "--yes", "--dry-run"))
    assert statuses(dry)["ssh-config"] == "would-change" and dry["changed"] is False
    names = [step["name"] for step in dry["steps"]]
    assert names == ["autostart", "app-restart", "token", "tunnel", "local-gateway", "ssh-key", "ssh-config"]
    undone = report_of(cli("undo", "--json", "--yes"))
    assert undone["exit_code"] == 0 and undone["changed"] is True and statuses(undone)["ssh-config"] == "changed"
    assert statuses(undone)["tunnel"] == "done"  # never set up here: already as undo leaves it
    again = report_of(cli("undo", "--json", "--yes"))
    assert again["changed"] is False and set(statuses(again).values()) == {"done"}


def test_doctor_json_adds_the_checks_of_status_and_what_each_repair_came_to(cli, home):
    assert cli("run", "ssh-config", "--json", *ANSWERS).returncode == 0
    looked = cli("doctor", "--json")
    report = report_of(looked)
    assert looked.returncode == 1 and report["repairs"] == [] and report["steps"] == []
    status_schema = json.loads(re.search(r"```json\n(.*?)```", (REPO / "docs/status.md").read_text(), re.S).group(1))
    for check in report["checks"]:
        assert set(check) == set(status_schema["checks"][0])
    by_name = {check["name"]: check["status"] for check in report["checks"]}
    assert by_name["ssh-config"] == "ok" and by_name["key-login"] == "fail"
    unasked = report_of(cli("doctor", "--fix", "--json"))  # --json gives no consent
    assert unasked["repairs"][0]["status"] == "skipped" and unasked["changed"] is False
    assert unasked["exit_code"] == 1


def test_the_report_masks_the_token_however_json_escapes_it(home, monkeypatch, capsys, memory_keyring):
    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    monkeypatch.setenv("OPENCLAW_REMOTE_PLATFORM", "linux")
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", TOKEN)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.standins.memory_keyring.MemoryKeyring")
    assert main(["run", "token", "--yes", "--json"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert statuses(report) == {"token": "changed"}
    assert memory_keyring.get_password("openclaw-remote:remote-gateway", "gateway-token") == TOKEN
    escaped = json.dumps(TOKEN)[1:-1]  # as JSON would write it in a string
    assert TOKEN not in out.out + out.err and escaped not in out.out
    assert all(TOKEN.encode() not in p.read_bytes() for p in home.rglob("*") if p.is_file())


@pytest.mark.parametrize("command", ["setup", "run ssh-config", "undo", "doctor"])
def test_every_reporting_command_offers_json(cli, command):
    result = cli(*command.split(), "--help")
    assert "--json" in result.stdout


def test_an_interrupted_run_still_prints_its_report_naming_the_step_cut_short(home):
    import signal
    import socket
    import subprocess

    from tests.conftest import clean_env

    silent = socket.socket()  # accepts, never speaks: ssh-key waits there for its bound
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    with silent:
        child = subprocess.Popen(
            [sys.executable, "-m", "wizard", "run", "ssh-config", "ssh-key", "--json", "--yes", "--host", "127.0.0.1",
             "--port", str(silent.getsockname()[1]), "--user", "u", "--accept-host-key"],
            cwd=REPO, env={**clean_env(home), "OPENCLAW_REMOTE_PLATFORM": "linux",
                           "OPENCLAW_REMOTE_SSH_PASSWORD": "a-password-nobody-uses"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        for line in child.stderr:
            if "connecting to" in line:  # inside ssh-key, after ssh-config is done
                child.send_signal(signal.SIGINT)
                break
        out, _err = child.communicate(timeout=30)
    report = json.loads(out)
    assert child.returncode == 130 == report["exit_code"] and report["errors"] == ["interrupted"]
    assert statuses(report) == {"ssh-config": "changed", "ssh-key": "failed"}
    assert report["steps"][1]["reason"] == "interrupted" and report["changed"] is True
