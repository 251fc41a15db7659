"""The plugin API as a plugin author meets it: guarded commands, a broken plugin skipped whole,
`openclaw-remote plugins`, and the limit variable's typos."""

from __future__ import annotations

import json

import pytest

from tests.test_plugins import Marker, plugin_site  # noqa: F401  (plugin_site: a fixture used below)
from wizard import Check, Command, Health, StepFailed, UsageError, hookimpl
from wizard.cli import main


class Failing(Command):
    """A command that ends the way its ``--how`` says."""
    name, help = "failing", "fails on purpose"

    def add_arguments(self, parser):
        parser.add_argument("--how", choices=("step-failed", "usage", "crash"))

    def changes(self, args):
        return False

    def run(self, ctx, args):
        if args.how == "step-failed":
            raise StepFailed("the remote said no", kept="the tunnel was left running")
        if args.how == "usage":
            raise UsageError("--how usage: refused on purpose")
        raise ZeroDivisionError("division by zero in the plugin")


class FailingPlugin:
    @hookimpl
    def register_commands(self, register):
        register(Failing())


@pytest.fixture
def failing(monkeypatch, home, registered):
    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    with registered(("failing-plugin", FailingPlugin())):
        yield


@pytest.mark.parametrize("how, code, said", [
    ("step-failed", 1, "the remote said no"),
    ("usage", 2, "--how usage: refused on purpose"),
    ("crash", 1, "command failing (plugin failing-plugin) crashed: ZeroDivisionError: division by zero in the plugin"),
])
def test_a_plugin_command_that_raises_is_a_message_and_an_exit_code(failing, capsys, how, code, said):
    assert main(["failing", "--how", how]) == code
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err
    if how == "step-failed":
        assert "the tunnel was left running" in err


class Layer(Check):
    name, step, title = "marker-layer", "marker", "marker layer"

    def run(self, ctx):
        return Health("ok", "fine")


class HalfBroken:
    """Its steps cannot register; its command and check must then not register either."""

    @hookimpl
    def register_steps(self, register):
        register(Marker())
        raise RuntimeError("the step's configuration is missing")

    @hookimpl
    def register_commands(self, register):
        register(Failing())

    @hookimpl
    def register_checks(self, register):
        register(Layer())


def test_a_plugin_whose_register_steps_raises_registers_nothing_at_all(monkeypatch, home, capsys, registered):
    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    with registered(("half-broken", HalfBroken())):
        assert main(["plugins", "--json"]) == 0
        rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
        with pytest.raises(SystemExit) as usage:  # the command never registered: argparse refuses it
            main(["failing", "--how", "crash"])
    assert usage.value.code == 2
    row = rows["half-broken"]
    assert row["steps"] == row["commands"] == row["checks"] == []
    assert "the step's configuration is missing" in row["skipped"]
    assert "plugin half-broken failed to register and was skipped" in capsys.readouterr().err


def test_plugins_lists_each_plugin_what_it_registered_and_its_version(monkeypatch, home, capsys, registered):
    from importlib.metadata import version

    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    with registered(("failing-plugin", FailingPlugin())):
        assert main(["plugins", "--json"]) == 0
        rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
        assert main(["plugins"]) == 0
        text = capsys.readouterr().out
    assert rows["failing-plugin"]["commands"] == ["failing"] and rows["failing-plugin"]["distribution"] is None
    assert rows["token"]["steps"] == ["token"] and "token" in rows["token"]["commands"]
    assert rows["tunnel"]["distribution"] == "openclaw-remote-wizard"
    assert rows["tunnel"]["version"] == version("openclaw-remote-wizard")
    assert "failing-plugin  (registered in-process)" in text and "commands: failing" in text


def test_plugins_names_a_plugin_that_failed_to_load_and_the_version_of_an_installed_one(cli, plugin_site):
    result = cli("plugins", "--json", env={"PYTHONPATH": str(plugin_site)})
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["hello"]["distribution"] == "openclaw-remote-hello" and rows["hello"]["version"] == "0.1.0"
    assert rows["hello"]["steps"] == ["hello"] and rows["hello"]["skipped"] is None
    assert "this plugin is broken on purpose" in rows["broken"]["skipped"]
    assert rows["broken"]["steps"] == []


def test_a_limit_naming_no_installed_plugin_is_warned_about(cli, plugin_site):
    result = cli("steps", env={"PYTHONPATH": str(plugin_site), "OPENCLAW_REMOTE_PLUGINS": "hello,helo"})
    assert result.returncode == 0
    assert "OPENCLAW_REMOTE_PLUGINS names helo, which no installed plugin is; installed plugins: broken, hello" \
        in result.stderr  # the third-party ones, which the variable chooses from
    assert "hello" in result.stdout  # the name that matched still loads
    quiet = cli("steps", env={"PYTHONPATH": str(plugin_site), "OPENCLAW_REMOTE_PLUGINS": "hello"})
    assert "OPENCLAW_REMOTE_PLUGINS" not in quiet.stderr


def test_a_clone_that_is_not_installed_says_so_instead_of_listing_nothing(home, tmp_path):
    """Not installed: no packaging metadata, so no entry point at all (the built-ins' included).
    The entry points remembered from an installed run (wizard/plugin_index.py) are kept apart."""
    import subprocess
    import sys

    from tests.conftest import REPO, clean_env

    uninstalled = ("import importlib.metadata as metadata\n"
                   "metadata.entry_points = lambda **select: metadata.EntryPoints(())\n"
                   "import wizard.plugin_index\n"
                   f"wizard.plugin_index.CACHE = {str(tmp_path / 'entry-points.txt')!r}\n"
                   "from wizard.cli import main\n"
                   "raise SystemExit(main(['steps']))\n")
    result = subprocess.run([sys.executable, "-c", uninstalled], cwd=REPO, env=clean_env(home),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no steps found: install the package (pip install -e .)" in result.stderr
    assert result.stdout == ""


def test_the_testing_recipe_in_the_docs_passes_with_the_plugin_also_installed(tmp_path, plugin_site, home):
    """docs/plugins.md's recipe, as an author would paste it into their own tests, run by a real
    pytest where the example plugin is installed (and would load process-wide)."""
    import re
    import subprocess
    import sys

    from tests.conftest import ENTRY_POINTS_SITE, REPO, clean_env

    section = (REPO / "docs" / "plugins.md").read_text().split("## Testing your plugin")[1].split("\n## ")[0]
    recipe = "\n".join(re.findall(r"```python\n(.*?)```", section, flags=re.S))
    (tmp_path / "test_recipe.py").write_text(recipe)
    env = clean_env(home, PYTHONPATH=f"{plugin_site}:{ENTRY_POINTS_SITE}:{REPO}")
    env.pop("OPENCLAW_REMOTE_HOME")  # the recipe sets its own
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                             str(tmp_path), str(tmp_path / "test_recipe.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    probe = subprocess.run([sys.executable, "-m", "wizard", "steps"], env={**env, "OPENCLAW_REMOTE_HOME": str(home)},
                           capture_output=True, text=True, timeout=60, cwd=REPO)
    assert "hello" in probe.stdout  # the example really is installed there: the recipe did not dodge it


def test_fake_runner_refuses_what_the_real_runner_refuses():
    from wizard import runner
    from wizard.testing import FakeRunner

    real = runner.run
    with FakeRunner() as fake:
        with pytest.raises(TypeError):
            runner.run("ls -l")  # a shell string, never
        assert runner.run(["absent-program"]).returncode == 127
    assert runner.run is real and fake.calls == [["absent-program"]]


def test_a_plugin_ships_its_own_catalog_as_the_docs_say(tmp_path, monkeypatch, home, capsys, registered):
    import gettext
    import io

    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    catalog = Catalog(locale="fr", domain="openclaw-remote-hello")
    catalog.add("Leave a greeting note in the home directory", "Laisser un mot d'accueil dans le dossier personnel")
    folder = tmp_path / "locale" / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    (folder / "openclaw-remote-hello.mo").write_bytes(buffer.getvalue())
    from wizard import i18n

    monkeypatch.setattr(i18n, "_translation", i18n._catalog())  # the wizard's own catalog stays as it was
    monkeypatch.setenv("LANGUAGE", "fr")
    monkeypatch.setenv("OPENCLAW_REMOTE_HOME", str(home))
    _ = gettext.translation("openclaw-remote-hello", tmp_path / "locale", fallback=True).gettext  # as documented

    class Hello(Marker):
        name, title = "hello", _("Leave a greeting note in the home directory")

    class HelloPlugin:
        @hookimpl
        def register_steps(self, register):
            register(Hello())

    with registered(HelloPlugin()):
        assert main(["steps", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["hello"]["title"] == "Laisser un mot d'accueil dans le dossier personnel"
