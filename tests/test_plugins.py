"""Plugins: in-process registration, a real third-party package, broken plugins, the limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from wizard import Question, Step, WriteFile, hookimpl
from wizard.cli import main

EXAMPLE = REPO / "docs" / "examples" / "openclaw-remote-hello"


class Marker(Step):
    name = "marker"
    title = "Write a marker file"
    before = ("ssh-config",)
    questions = (Question("marker_text", "Marker text", default="hi"),)

    def plan(self, ctx):
        path = ctx.path("marker.txt")
        text = ctx.answer("marker_text") + "\n"
        return [] if path.exists() and path.read_text() == text else [WriteFile(path, text)]


class MarkerPlugin:
    @hookimpl
    def register_steps(self, register):
        register(Marker())


@pytest.fixture
def marker_plugin(monkeypatch, home, registered):
    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    with registered(("marker-plugin", MarkerPlugin())):
        yield


def test_register_steps_in_process_plugin_is_listed_in_its_declared_place(marker_plugin, capsys):
    assert main(["steps", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows][:2] == ["marker", "ssh-config"]
    assert rows[0]["plugin"] == "marker-plugin"


def test_in_process_plugin_runs_and_its_question_becomes_a_flag(marker_plugin, home, capsys):
    assert main(["run", "marker", "--yes", "--marker-text", "hello there"]) == 0
    assert (home / "marker.txt").read_text() == "hello there\n"
    assert main(["run", "marker", "--yes"]) == 0  # saved answer reused, nothing to do
    assert "already done" in capsys.readouterr().out
    state = json.loads((home / ".config/openclaw-remote/state.json").read_text())
    assert state["answers"]["marker_text"] == "hello there"


def test_a_step_without_undo_is_named_and_kept_by_undo(marker_plugin, home, capsys):
    assert main(["run", "marker", "--yes", "--marker-text", "kept"]) == 0
    capsys.readouterr()
    assert main(["undo", "marker", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "marker: cannot be undone (its plugin offers no undo)" in out
    assert (home / "marker.txt").read_text() == "kept\n"
    state = json.loads((home / ".config/openclaw-remote/state.json").read_text())
    assert state["steps"]["marker"]["status"] == "done"  # still recorded: it was not undone


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """The example package really installed (pip --target), plus a plugin that cannot import."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(EXAMPLE)], check=True, capture_output=True)
    dist = site / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[openclaw_remote]\nbroken = broken_plugin_module\n")
    (site / "broken_plugin_module.py").write_text("raise RuntimeError('this plugin is broken on purpose')\n")
    return site


def test_example_third_party_package_shows_up_in_place_and_runs(cli, home, plugin_site):
    env = {"PYTHONPATH": str(plugin_site)}
    listed = cli("steps", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    names = [row["name"] for row in json.loads(listed.stdout)]
    assert names.index("hello") == names.index("ssh-config") + 1
    done = cli("run", "hello", "--yes", "--greeting", "Bonjour", env=env)
    assert done.returncode == 0, done.stderr
    assert (home / "openclaw-remote-hello.txt").read_text() == "Bonjour\n"
    undone = cli("undo", "hello", "--yes", env=env)
    assert undone.returncode == 0 and "hello: undone" in undone.stdout, undone.stderr
    assert sorted(p.name for p in home.iterdir()) == [".ssh"]  # the note, the state, .config: all gone


def test_a_broken_plugin_is_named_and_skipped_and_the_rest_runs(cli, plugin_site):
    result = cli("steps", env={"PYTHONPATH": str(plugin_site)})
    assert result.returncode == 0
    assert "plugin broken failed to load" in result.stderr
    assert "this plugin is broken on purpose" in result.stderr
    assert "ssh-config" in result.stdout and "hello" in result.stdout


def test_the_limit_variable_chooses_which_external_plugins_load(cli, plugin_site):
    env = {"PYTHONPATH": str(plugin_site), "OPENCLAW_REMOTE_PLUGINS": "hello"}
    result = cli("steps", env=env)
    assert "hello" in result.stdout and "broken" not in result.stderr
    result = cli("steps", env={**env, "OPENCLAW_REMOTE_PLUGINS": ""})
    assert "hello" not in result.stdout and "broken" not in result.stderr
    assert "ssh-config" in result.stdout  # built-ins always load


def test_a_plugin_whose_hook_raises_is_named_and_skipped(monkeypatch, home, capsys, registered):
    class Exploding:
        @hookimpl
        def register_steps(self, register):
            raise ValueError("kaboom")

    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    with registered(("exploding", Exploding())):
        assert main(["steps"]) == 0
    captured = capsys.readouterr()
    assert "exploding" in captured.err and "kaboom" in captured.err
    assert "ssh-config" in captured.out


def test_a_cycle_between_plugins_is_a_clear_error_exit_2(monkeypatch, home, capsys, registered):
    class Loop(Step):
        name, title, after, before = "loop", "Loop", ("ssh-config",), ("ssh-config",)

        def plan(self, ctx):
            return []

    class LoopPlugin:
        @hookimpl
        def register_steps(self, register):
            register(Loop())

    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    with registered(("loop-plugin", LoopPlugin())):
        assert main(["steps"]) == 2
    err = capsys.readouterr().err
    assert "cycle" in err and "loop-plugin" in err and "ssh-config" in err


def test_register_commands_adds_a_top_level_command(monkeypatch, home, capsys, registered):
    from wizard import Command

    class Greet(Command):
        name = "greet"
        help = "say hello"

        def add_arguments(self, parser):
            parser.add_argument("--to", default="world")

        def run(self, ctx, args):
            ctx.ui.say(f"hello, {args.to} from {ctx.home.name}")
            return 7

    class Clash(Command):
        name = "setup"  # a host command: must be refused

    class GreetPlugin:
        @hookimpl
        def register_commands(self, register):
            register(Greet())
            register(Clash())

    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    with registered(("greet-plugin", GreetPlugin())):
        assert main(["greet", "--to", "Ada"]) == 7
    captured = capsys.readouterr()
    assert "hello, Ada from home" in captured.out
    assert "setup from plugin greet-plugin was skipped" in captured.err


def test_register_steps_with_something_that_is_not_a_step_is_named_and_skipped(monkeypatch, home, capsys, registered):
    class Confused:
        @hookimpl
        def register_steps(self, register):
            register("not a step")

    class CrashingStep(Step):
        name, title = "crashing", "Crash in plan"

        def plan(self, ctx):
            raise ZeroDivisionError("oops")

    class CrashingApplies(Step):
        name, title = "crashing-applies", "Crash in applies"

        def applies(self, ctx):
            raise KeyError("boom")

    class CrashPlugin:
        @hookimpl
        def register_steps(self, register):
            register(CrashingStep())
            register(CrashingApplies())

    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    with registered(("confused", Confused()), ("crash-plugin", CrashPlugin())):
        assert main(["steps"]) == 0
        listed = capsys.readouterr()
        assert "plugin confused registered 'not a step'" in listed.err
        assert "step crashing-applies crashed: KeyError" in listed.out  # listed, the crash as its reason
        assert main(["run", "crashing", "--yes"]) == 1
    assert "step crashing crashed: ZeroDivisionError: oops" in capsys.readouterr().err


def test_a_plugin_cannot_turn_a_secret_answer_into_a_flag(monkeypatch, home, capsys, registered):
    class Sneaky(Step):
        name, title, before = "sneaky", "Asks for the token in the clear", ("ssh-config",)
        questions = (Question("token", "Token?"),)

        def plan(self, ctx):
            return []

    class SneakyPlugin:
        @hookimpl
        def register_steps(self, register):
            register(Sneaky())

    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    with registered(("sneaky-plugin", SneakyPlugin())):
        assert main(["setup", "--dry-run", "--yes"]) == 2
    assert "sneaky and token declare the answer token differently" in capsys.readouterr().err


def test_register_checks_adds_a_layer_to_status_in_step_order(monkeypatch, home, capsys, registered):
    from wizard import Check, Health

    class MarkerCheck(Check):
        name, step, title = "marker-file", "marker", "marker file"

        def run(self, ctx):
            return Health("ok", "there") if ctx.path("marker.txt").exists() else Health("fail", "missing")

    class Broken(Check):
        name, step, title = "broken-check", "marker", "broken"

        def run(self, ctx):
            raise RuntimeError("cannot look")

    class CheckPlugin:
        @hookimpl
        def register_steps(self, register):
            register(Marker())

        @hookimpl
        def register_checks(self, register):
            register(MarkerCheck())
            register(Broken())

    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    (home / ".config/openclaw-remote").mkdir(parents=True)  # set up once: else status says only that
    (home / ".config/openclaw-remote/state.json").write_text('{"answers": {"alias": "remote-gateway"}}')
    with registered(("check-plugin", CheckPlugin())):
        assert main(["status", "--json"]) == 1
        report = json.loads(capsys.readouterr().out)
        (home / "marker.txt").write_text("x")
        assert main(["status", "--json"]) == 1  # the other layers are not set up here
        again = json.loads(capsys.readouterr().out)
    names = [check["name"] for check in report["checks"]]
    assert names[:2] == ["marker-file", "broken-check"]  # the marker step runs before ssh-config
    assert report["checks"][0]["status"] == "fail" and again["checks"][0]["status"] == "ok"
    assert report["checks"][1]["status"] == "fail" and "cannot look" in report["checks"][1]["reason"]
