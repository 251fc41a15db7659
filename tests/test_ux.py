"""Saying what is happening: headings, messages in plain words, the README's step table, French
typography of the lines the host composes."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO


def _readme_table_rows() -> list[str]:
    lines = (REPO / "README.md").read_text().splitlines()
    start = lines.index("| step | what it does |")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break  # the table ends at its first non-row line: a blank line would cut it in two
        rows.append(line)
    return rows


def test_readme_step_table_is_one_table_of_every_step(cli):
    steps = [row["name"] for row in json.loads(cli("steps", "--json").stdout)]
    listed = [re.match(r"\| `([\w-]+)` \|", row).group(1) for row in _readme_table_rows()]
    assert sorted(listed) == sorted(steps)


def test_readme_step_table_is_in_run_order(cli):
    steps = [row["name"] for row in json.loads(cli("steps", "--json").stdout)]
    listed = [re.match(r"\| `([\w-]+)` \|", row).group(1) for row in _readme_table_rows()]
    assert listed == steps


def test_step_heading_names_the_step_once_without_doubled_parentheses(cli):
    result = cli("setup", "--dry-run", "--yes", "--host", "gw.example", "--user", "alice",
                 env={"OPENCLAW_GATEWAY_TOKEN": "t0k3n"})
    headings = [line for line in result.stdout.splitlines() if re.match(r"\[\d+/\d+\] ", line)]
    assert "[2/5] ssh-key: key login to the remote machine (ssh-copy-id)" in headings
    assert not any(line.endswith(") (ssh-key)") or "))" in line for line in headings)


def test_label_prompt_names_both_service_managers(cli):
    help_text = cli("setup", "--help").stdout
    assert "launchd label on macOS, systemd unit on Linux" in help_text


def test_dns_hint_fits_a_host_typed_at_a_prompt_too():
    from plugins import _ssh

    kind, text = _ssh.explain("ssh: Could not resolve hostname nowhere.invalid: Name or service not known")
    assert kind == "dns" and "the host you gave" in text


def test_french_summary_and_status_lines_put_a_space_before_the_colon(cli, monkeypatch):
    from wizard import i18n

    # The composed lines go through the catalog, so the translator can write " : ".
    fake = {"{label}: {names}": "{label} : {names}", "{title}: {reason}": "{title} : {reason}"}
    monkeypatch.setattr(i18n, "_catalog", lambda: type("T", (), {"gettext": staticmethod(lambda m: fake.get(m, m))}))
    from wizard.flow import Outcome

    outcome = Outcome()
    outcome.done.append("ssh-config")
    assert outcome.summary([]) == "changed : ssh-config"
