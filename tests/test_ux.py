"""Saying what is happening (issue 10): waits that say what and how long (a spinner in a real
terminal, a plain line without one), a home where nothing was set up, --help listing plugin
commands without loading them, --home before the command, saved answers offered once and every
bad flag at once, plugin commands under the home's lock, and the small things (headings,
messages in words, the README's step table, French typography of the lines the host composes)."""

from __future__ import annotations

import json
import os
import plistlib
import re
import subprocess
import sys

import pexpect
import pytest

from tests.conftest import REPO, clean_env, dist_info, snapshot
from tests.test_mac_side import mac  # noqa: F401  (the macOS stand-ins fixture)
from tests.test_remote import REMOTE_STEPS, needs_password, remote  # noqa: F401  (the real-sshd fixture)


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
    assert any(re.fullmatch(r"\[2/\d\] ssh-key: key login to the remote machine \(ssh-copy-id\)", line)
               for line in headings), headings
    assert not any(line.endswith(") (ssh-key)") or "))" in line for line in headings)


def test_label_prompt_names_both_service_managers(cli):
    help_text = cli("setup", "--help").stdout
    assert "launchd label on macOS, systemd unit on Linux" in help_text


def test_dns_hint_fits_a_host_typed_at_a_prompt_too():
    from plugins import _ssh

    kind, text = _ssh.explain("ssh: Could not resolve hostname nowhere.invalid: Name or service not known")
    assert kind == "dns" and "the host you gave" in text


def test_french_summary_and_status_lines_put_a_space_before_the_colon(monkeypatch):
    from wizard import i18n

    # The composed lines go through the catalog, so the translator can write " : ".
    fake = {"{label}: {names}": "{label} : {names}", "{title}: {reason}": "{title} : {reason}"}
    monkeypatch.setattr(i18n, "_catalog", lambda: type("T", (), {"gettext": staticmethod(lambda m: fake.get(m, m))}))
    from wizard.flow import Outcome

    outcome = Outcome()
    outcome.done.append("ssh-config")
    assert outcome.summary([]) == "changed : ssh-config"


# --home ------------------------------------------------------------------------------------

FLAGS = ["--yes", "--host", "gw.example", "--user", "alice"]


def test_home_before_the_command_is_the_home_used(cli, home, tmp_path):
    other = tmp_path / "other"
    (other / ".ssh").mkdir(parents=True)
    result = cli("--home", str(other), "run", "ssh-config", *FLAGS)  # OPENCLAW_REMOTE_HOME names `home`
    assert result.returncode == 0, result.stderr
    assert (other / ".ssh" / "config").exists() and not (home / ".ssh" / "config").exists()


def test_home_after_the_command_wins_over_one_before_it(cli, home, tmp_path):
    result = cli("--home", str(tmp_path / "missing"), "run", "ssh-config", "--home", str(home), *FLAGS)
    assert result.returncode == 0, result.stderr


def test_a_missing_home_is_named_with_the_fix_and_not_created(cli, tmp_path):
    missing = tmp_path / "no such"
    result = cli("--home", str(missing), "status")
    assert result.returncode == 2
    assert f"no such directory; create it first (mkdir -p '{missing}')" in result.stderr
    assert not missing.exists()


def test_an_empty_home_is_refused_never_the_current_directory(cli, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    for args, env in [(["--home", "", "run", "ssh-config", *FLAGS], {}),
                      (["run", "ssh-config", "--home", "", *FLAGS], {}),
                      (["run", "ssh-config", *FLAGS], {"OPENCLAW_REMOTE_HOME": ""})]:
        result = subprocess.run([sys.executable, "-m", "wizard", *args], cwd=cwd, capture_output=True, text=True,
                                env={**cli.env, **env, "PYTHONPATH": str(REPO)}, stdin=subprocess.DEVNULL)
        assert result.returncode == 2, (args, result.stderr)
        assert "empty" in result.stderr
        assert list(cwd.iterdir()) == []


def test_home_alone_is_no_command(cli, home):
    result = cli("--home", str(home))
    assert result.returncode == 2 and "COMMAND" in result.stdout
    assert not (home / ".config").exists()


# plugin commands and the home's lock --------------------------------------------------------

def test_plugin_commands_that_change_things_are_refused_while_another_wizard_holds_the_lock(cli, home):
    # An alias of our own: `tunnel stop` stops every tunnel for the alias, other test runs' too.
    assert cli("run", "ssh-config", *FLAGS, "--alias", f"ux-lock-{os.getpid()}").returncode == 0
    first = pexpect.spawn(sys.executable, ["-m", "wizard", "setup"], env=cli.env, encoding="utf-8", timeout=30)
    try:
        first.expect("Use these answers|Host alias")  # the first holds the lock and waits for its user
        before = snapshot(home)
        for command in (["tunnel", "stop"], ["tunnel", "start"], ["tunnel", "restart"], ["token", "push"]):
            refused = cli(*command)
            assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
            assert "another openclaw-remote is changing" in refused.stderr
        assert snapshot(home) == before
        assert cli("tunnel", "logs").returncode == 0  # only reads: no lock needed
    finally:
        first.sendcontrol("c")
        first.expect(pexpect.EOF)
        first.close()
    assert cli("tunnel", "stop").returncode == 0  # the lock went with the first wizard


# nothing set up ------------------------------------------------------------------------------

NOT_SET_UP = "nothing is set up in {home} yet: run 'openclaw-remote setup'"


def test_status_and_doctor_on_a_home_where_nothing_was_set_up_say_so_in_one_line(cli, home):
    before = snapshot(home)
    for command in (["status"], ["doctor"], ["doctor", "--fix", "--yes"]):
        result = cli(*command)
        assert result.returncode == 1, command
        assert result.stdout == "" and result.stderr.splitlines() == [
            f"✗ {NOT_SET_UP.format(home=home)} (or 'openclaw-remote setup --dry-run' to see what it would do)"]
    assert snapshot(home) == before


def test_status_json_on_a_home_where_nothing_was_set_up_keeps_schema_1(cli, home):
    result = cli("status", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["schema"] == 1 and report["ok"] is False
    assert [(check["name"], check["status"]) for check in report["checks"]] == [("setup", "fail")]
    assert NOT_SET_UP.format(home=home) in report["checks"][0]["reason"]


def test_status_checks_every_layer_once_something_was_set_up(cli, home):
    assert cli("run", "ssh-config", *FLAGS).returncode == 0
    result = cli("status", "--json")
    names = [check["name"] for check in json.loads(result.stdout)["checks"]]
    assert "ssh-config" in names and "setup" not in names
    ok = {check["name"]: check["status"] for check in json.loads(result.stdout)["checks"]}
    assert ok["ssh-config"] == "ok"


# waits say what they wait for, and for how long --------------------------------------------

SPINNER_SCRIPT = """
import questionary
from wizard import prompts, ui as ui_module

shown = []
real_confirm = questionary.confirm


def spying_confirm(*args, **kwargs):  # what the terminal shows at the moment the prompt is drawn
    shown.append(ui_module._spinner is not None and ui_module._spinner._live.is_started)
    return real_confirm(*args, **kwargs)


questionary.confirm = spying_confirm
ui = ui_module.UI({"hunter2-secret"})
with ui.waiting("waiting for the remote hunter2-secret (up to 15 s)…"):
    answer = prompts.confirm("Trust this host key?")
    turning_again = ui_module._spinner._live.is_started
print("SPINNER WHILE PROMPTING", shown, "TURNING AGAIN", turning_again, "ANSWER", answer)
"""


def test_a_prompt_stops_the_spinner_while_it_is_shown_then_the_spinner_goes_on(tmp_path):
    script = tmp_path / "spin.py"
    script.write_text(SPINNER_SCRIPT)
    child = pexpect.spawn(sys.executable, [str(script)], env=clean_env(tmp_path, PYTHONPATH=str(REPO)),
                          encoding="utf-8", timeout=15, dimensions=(40, 200))
    child.expect(r"waiting for the remote \*\*\*\* \(up to 15 s\)…")  # a spinner, the secret masked
    child.expect("Trust this host key")
    child.send("y")
    child.expect(pexpect.EOF)
    child.close()
    assert "SPINNER WHILE PROMPTING [False] TURNING AGAIN True ANSWER True" in child.before
    assert "hunter2-secret" not in child.before


def test_a_wait_without_a_terminal_is_one_plain_line_on_stderr(tmp_path):
    code = ("from wizard.ui import UI\nui = UI()\nwith ui.waiting('waiting for x (up to 5 s)…'):\n"
            "    with ui.waiting('inner'):\n        pass\nimport sys\nprint('out', 'rich' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          stdin=subprocess.DEVNULL)
    assert done.stderr == "  waiting for x (up to 5 s)…\n"  # the inner wait says nothing: the outer one does
    assert done.stdout == "out False\n"  # no spinner, so no rich to import


def test_key_login_probe_says_what_it_waits_for(cli, home):
    import socket
    import threading

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / ".ssh/id_ed25519")], check=True)
    # Something that takes the TCP connection (so the preflight passes) and hangs up: not an sshd.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def hang_up():
            for _ in range(4):
                try:
                    connection, _address = server.accept()
                except OSError:
                    return
                connection.close()

        threading.Thread(target=hang_up, daemon=True).start()
        result = cli("run", "ssh-config", "ssh-key", "--yes", "--host", "127.0.0.1",
                     "--port", str(server.getsockname()[1]), "--user", "alice")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "  checking that key login to remote-gateway works (up to 15 s)…\n" in result.stderr


def _bounds(text: str) -> list[str]:
    return re.findall(r"up to (\d+) s", text)


def test_ssh_copy_id_and_tunnel_waits_show_the_bounds_the_plan_shows(cli, home, remote):
    needs_password(remote.sshd)
    plan = cli(*REMOTE_STEPS, "--dry-run", "--yes", "--accept-host-key", *remote.flags)
    assert "-o ConnectTimeout=15 " in plan.stdout and "waits up to 15 s for each answer" in plan.stdout
    assert "then waits (up to 20 s) until port" in plan.stdout
    result = cli(*REMOTE_STEPS, "--yes", "--accept-host-key", *remote.flags)
    assert result.returncode == 0, result.stdout + result.stderr
    waits = [line for line in result.stderr.splitlines() if line.endswith("…")]
    assert waits == [
        f"  connecting to {remote.sshd.host}:{remote.sshd.port} (up to 15 s)…",
        "  logging in and copying the key (up to 15 s)…",
        "  checking that key login to remote-gateway works (up to 15 s)…",  # verify
        f"  waiting for the tunnel on 127.0.0.1:{remote.local_port} and the Gateway behind it (up to 20 s)…"]
    ready = next(line for line in result.stdout.splitlines() if "tunnel ready in" in line)
    assert ready.endswith(": the gateway answers /healthz")  # words, not HEALTHY / HELLO_OK
    assert remote.sshd.password not in result.stdout + result.stderr


def test_spinner_in_a_terminal_through_the_ssh_copy_id_dialog(home, remote):
    needs_password(remote.sshd)
    child = pexpect.spawn(sys.executable, ["-m", "wizard", *REMOTE_STEPS, "--alias", "remote-gateway",
                                           "--identity", str(home / ".ssh/id_ed25519"), *remote.flags],
                          env=clean_env(home), encoding="utf-8", timeout=30, dimensions=(40, 200))
    child.expect(
        "no ssh agent is running, so the new key gets no passphrase"
    )  # no agent in this terminal: no passphrase offered
    child.expect(re.escape(f"connecting to {remote.sshd.host}:{remote.sshd.port} (up to 15 s)…"))
    child.expect("fingerprint")
    child.expect("Trust this host key")
    child.send("y")
    child.expect("Password for your account")
    child.send(remote.sshd.password + "\r")
    child.expect(re.escape("logging in and copying the key (up to 15 s)…"))
    child.expect(re.escape(f"waiting for the tunnel on 127.0.0.1:{remote.local_port}"))
    child.expect("tunnel ready")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert remote.sshd.password not in child.before


def test_app_quit_and_open_waits_show_their_bounds(cli, home, mac):
    # Names of our own: other test runs on this machine have their OpenClaw and remote-gateway.
    name = f"OpenClaw{os.getpid()}"[:15]
    app = mac.standins.install_app(name)
    flags = [*mac.flags, "--app", str(app), "--alias", f"ux-gw-{os.getpid()}"]
    plan = cli("setup", "--dry-run", "--yes", *flags)
    assert f"$ open {app}    # then waits until it runs (up to 15 s)" in plan.stdout
    done = cli("setup", "--yes", *flags)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"  waiting for {name} to start (up to 15 s)…\n" in done.stderr
    mac.standins.setenv("OPENCLAW_GATEWAY_TOKEN", "another-token")  # the app must restart to read it
    again = cli("run", "app-restart", "--yes", *flags)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"  waiting for {name} to quit (up to 15 s)…\n" in again.stderr
    assert "another-token" not in again.stdout + again.stderr


# --help lists every command, loading no plugin ------------------------------------------------

def _dist_info(root, distribution: str, groups: dict[str, dict[str, str]]):
    """Packaging metadata as pip installs it, without installing anything: ``root``, which holds it."""
    dist_info(root, distribution, groups)
    return root


def _worktree_metadata(tmp_path):
    """This tree's pyproject entry points as a fresh install would have them (the installed copy
    may predate them: `pip install -e .` brings it up to date)."""
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return _dist_info(tmp_path / "meta", "openclaw-remote-wizard", project["entry-points"])


def _help(cli, pythonpath=None, **env):
    extra = {"PYTHONPATH": str(pythonpath)} if pythonpath else {}
    return cli("--help", env={**extra, **env})


def test_help_lists_every_command_the_plugins_register(cli, tmp_path):
    from wizard.host import collect_steps

    result = _help(cli, _worktree_metadata(tmp_path))
    assert result.returncode == 0
    listed = re.findall(r"^    (\S+) ", result.stdout, flags=re.M)
    assert set(collect_steps().commands) <= set(listed), listed  # token and tunnel, today
    assert "token     see 'openclaw-remote token --help'" in result.stdout


def test_help_with_the_installed_metadata_lists_the_plugin_commands(cli):
    from importlib.metadata import entry_points

    if not entry_points(group="openclaw_remote.commands"):
    
        pytest.skip("the installed metadata predates openclaw_remote.commands: run `pip install -e .`")
    listed = re.findall(r"^    (\S+) ", _help(cli).stdout, flags=re.M)
    assert "token" in listed and "tunnel" in listed


def test_help_lists_a_third_party_command_without_importing_its_plugin(cli, tmp_path):
    root = _dist_info(tmp_path / "meta", "openclaw-remote-greeter", {
        "openclaw_remote": {"greeter": "greeter_plugin"}, "openclaw_remote.commands": {"greet": "greeter_plugin"}})
    (root / "greeter_plugin.py").write_text("raise SystemExit('the plugin was imported')\n")
    result = _help(cli, root)
    assert result.returncode == 0, result.stderr
    assert "greet     from plugin openclaw-remote-greeter; see 'openclaw-remote greet --help'" in result.stdout
    assert "greet" not in _help(cli, root, OPENCLAW_REMOTE_PLUGINS="").stdout  # not allowed: not listed


def test_help_lists_plugin_commands_without_importing_a_plugin_or_the_plugin_host(tmp_path):
    # (importlib.metadata reads the entry points: ~10 ms, the well-kept way; bench/ keeps --help's ratio.)
    code = ("import sys\nfrom wizard.cli import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "print('LOADED', [m for m in ('pluggy', 'plugins', 'plugins.tunnel', 'rich', 'questionary')"
            " if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(_worktree_metadata(tmp_path)), "PATH": "/usr/bin:/bin"})
    assert "LOADED []" in done.stdout, done.stdout + done.stderr


# a re-run offers the saved answers; every bad flag at once -----------------------------------

def _terminal(home, *args, **env):
    return pexpect.spawn(sys.executable, ["-m", "wizard", *args], env=clean_env(home, **env), encoding="utf-8",
                         timeout=20, dimensions=(40, 200))


def test_a_rerun_in_a_terminal_offers_the_saved_answers_with_one_confirmation(cli, home):
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example.net", "--user", "alice").returncode == 0
    child = _terminal(home, "run", "ssh-config")
    child.expect("Answers from the last run:")
    child.expect(re.escape("Remote machine running the Gateway (host name or IP): gw.example.net"))
    child.expect(re.escape("Your user name on the remote machine: alice"))
    child.expect(r"Use these answers\?")
    child.send("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "already done" in child.before
    asked_after = [prompt for prompt in ("Host alias", "Remote machine", "user name", "ssh port", "ssh key to use",
                                         "Local port", "Gateway port") if prompt in child.before]
    assert asked_after == []  # child.before: everything after "Use these answers?"


def test_a_flag_given_on_a_rerun_is_not_offered_and_wins(cli, home):
    assert cli("run", "ssh-config", "--yes", "--host", "gw.example.net", "--user", "alice").returncode == 0
    child = _terminal(home, "run", "ssh-config", "--port", "2222")
    child.expect(r"Use these answers\?")
    assert "ssh port on the remote machine" not in child.before
    child.send("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "Port 2222" in (home / ".ssh/config").read_text()


def test_a_first_run_has_nothing_to_offer_and_asks(home):
    child = _terminal(home, "run", "ssh-config")
    child.expect("Host alias")
    assert "Use these answers" not in child.before
    child.sendintr()
    child.expect("interrupted")


def test_every_bad_flag_is_reported_at_once_and_nothing_is_written(cli, home):
    before = snapshot(home)
    result = cli("run", "ssh-config", "--yes", "--host", "gw example", "--user", "alice", "--port", "abc",
                 "--local-port", "0")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "✗ --host: host contains whitespace (it would split the ssh option)",
        "✗ --port: port 'abc' is not a number",
        "✗ --local-port: port 0 is outside 1-65535"]
    assert snapshot(home) == before and not (home / ".config").exists()


def test_every_missing_answer_is_reported_at_once_without_a_terminal(cli, home):
    result = cli("run", "ssh-config", "--yes")
    assert result.returncode == 2
    assert "pass --host" in result.stderr and "pass --user" in result.stderr
    assert len(result.stderr.splitlines()) == 2


def test_bad_flags_in_a_terminal_are_reported_before_any_prompt(home):
    child = _terminal(home, "run", "ssh-config", "--port", "abc", "--local-port", "0")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert "--port: port 'abc' is not a number" in child.before and "--local-port: port 0" in child.before
    assert "Host alias" not in child.before and not (home / ".config").exists()


def test_bootstrap_retries_say_what_they_wait_for(home, standins, capsys):
    """launchd answering 5 (the old job still going away) is retried within the bound it shows."""
    from plugins import _launchd
    from wizard import StepFailed
    from wizard.answers import Resolver
    from wizard.context import Context
    from wizard.state import State
    from wizard.ui import UI

    plist = home / "Library/LaunchAgents/ux.test.plist"
    plist.parent.mkdir(parents=True)
    plist.write_bytes(plistlib.dumps({"Label": "ux.test", "ProgramArguments": ["/bin/sleep", "300"]}))
    ctx = Context(home=home, platform="darwin", interactive=False, dry_run=False, ui=UI(), state=State.load(home),
                  resolver=Resolver(flags={}, env={}, file_answers={}, saved={}, interactive=False), questions={},
                  env={**os.environ, **standins.env})
    _launchd.bootstrap(plist).perform(ctx)  # loads it
    capsys.readouterr()
    with pytest.raises(StepFailed, match="exit 5"):
        _launchd.bootstrap(plist).perform(ctx)  # already loaded: 5 every time, until the bound
    assert capsys.readouterr().err == (
        f"  launchd is still unloading the old job; trying again (up to {_launchd.BOOTSTRAP_RETRY_SECONDS:g} s)…\n")
    assert len([call for call in standins.calls("launchctl") if call[0] == "bootstrap"]) > 2


def test_a_dumb_terminal_gets_the_plain_line(tmp_path):
    code = "from wizard.ui import UI\nwith UI().waiting('connecting to gw:22 (up to 15 s)…'):\n    pass\n"
    child = pexpect.spawn(sys.executable, ["-c", code], env=clean_env(tmp_path, PYTHONPATH=str(REPO), TERM="dumb"),
                          encoding="utf-8", timeout=15)
    child.expect(pexpect.EOF)
    assert "  connecting to gw:22 (up to 15 s)…" in child.before


def test_status_says_what_it_waits_for_and_its_bound(cli, home):
    from wizard.host import collect_steps

    checks = collect_steps().checks
    assert cli("run", "ssh-config", *FLAGS).returncode == 0
    result = cli("status", "--json")
    assert result.stderr == f"  checking {len(checks)} layers (up to {max(c.bound for c in checks):g} s)…\n"
    json.loads(result.stdout)  # stdout stays pure JSON


def test_a_line_printed_while_a_prompt_is_shown_does_not_bring_the_spinner_back(tmp_path):
    code = ("from wizard import ui as u\nui = u.UI()\nwith ui.waiting('w (up to 5 s)…'):\n"
            "    with u.spinner_paused():\n        ui.say('a line')\n"
            "        inner = u._spinner._live.is_started\n"
            "    outer = u._spinner._live.is_started\nprint('INNER', inner, 'AFTER', outer)\n")
    child = pexpect.spawn(sys.executable, ["-c", code], env=clean_env(tmp_path, PYTHONPATH=str(REPO)),
                          encoding="utf-8", timeout=15)
    child.expect(pexpect.EOF)
    assert "INNER False AFTER True" in child.before
