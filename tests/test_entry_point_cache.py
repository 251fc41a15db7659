"""The installed plugins are remembered between runs (wizard/plugin_index.py), so that --help and
every command start without importing importlib.metadata; a change pip makes is seen at the next
run, and a cache that cannot be trusted or written is read past, never obeyed."""

from __future__ import annotations

import os
import site as site_module
import subprocess
import sys

import pytest

from tests.conftest import ENTRY_POINTS_SITE, REPO, clean_env, dist_info
from wizard import plugin_index


def _dist_info(site, distribution: str, groups: dict[str, dict[str, str]]):
    return dist_info(site, distribution, groups, version="1.0")


GREETER = {"openclaw_remote": {"greeter": "greeter_plugin"}, "openclaw_remote.commands": {"greet": "greeter_plugin"}}

# The wizard run as the installed command is, with its cache in a file of the test's own (the
# checkout's is shared by every test run on the machine) and the same sys.path at every run.
RUN = ("import sys\n"
       "before = set(sys.modules)\n"  # what the interpreter's own start imported (site, .pth files)
       "sys.path[0] = sys.argv.pop(1)\n"  # as a console script's own bin directory would be
       "import wizard.plugin_index as index\n"
       "index.CACHE = sys.argv.pop(1)\n"
       "read = index._read_metadata\n"
       "def reading():\n"
       "    print('read the metadata', file=sys.stderr)\n"
       "    return read()\n"
       "index._read_metadata = reading\n"
       "from wizard.cli import main\n"
       "try:\n"
       "    raise SystemExit(main(sys.argv[1:]))\n"
       "finally:\n"  # --help exits from inside argparse
       "    print('imported:', *sorted(m for m in ('importlib.metadata', 'pathlib', 'typing', 'json', 'dataclasses',\n"
       "                                          'pluggy', 'shutil')\n"
       "                               if m in sys.modules and m not in before), file=sys.stderr)\n")


# Without the site module (-S), so that no .pth file (an editable install's finder imports pathlib
# and typing) has imported what the test looks for; the tree under test first, then the
# dependencies where this interpreter has them.
SITE_PACKAGES = [*site_module.getsitepackages(), site_module.getusersitepackages()]


@pytest.fixture
def run(tmp_path, home):
    """``run(site, *args)``: the wizard with ``site`` on PYTHONPATH and the cache in tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cache = tmp_path / "cache" / "entry-points.txt"

    def run(site, *args):
        path = os.pathsep.join([str(REPO), str(ENTRY_POINTS_SITE), str(site), *SITE_PACKAGES])
        result = subprocess.run([sys.executable, "-S", "-c", RUN, str(bin_dir), str(cache), *args], cwd=REPO,
                                env=clean_env(home, PYTHONPATH=path), capture_output=True, text=True, timeout=60)
        result.metadata_read = "read the metadata" in result.stderr
        return result

    run.cache = cache
    return run


def test_a_second_start_reads_the_cache_and_imports_no_metadata(run, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    first = run(site, "--help")
    assert first.returncode == 0, first.stderr
    assert first.metadata_read  # nothing remembered yet: the packaging metadata is read
    assert run.cache.exists()
    again = run(site, "--help")
    assert again.stdout == first.stdout
    assert not again.metadata_read
    assert "imported:\n" in again.stderr  # nor importlib.metadata, pathlib, typing, json, dataclasses, pluggy, shutil
    steps = run(site, "steps")
    assert steps.returncode == 0 and "ssh-config" in steps.stdout, steps.stderr
    assert not steps.metadata_read  # the plugins themselves are loaded from it too


def test_a_plugin_installed_or_removed_after_the_cache_is_seen_at_the_next_run(run, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    assert "greet" not in run(site, "--help").stdout
    (site / "greeter_plugin.py").write_text(
        "from wizard import hookimpl\n\n@hookimpl\ndef register_steps(register):\n    pass\n")
    folder = _dist_info(site, "openclaw-remote-greeter", GREETER)  # pip adds a .dist-info directory
    installed = run(site, "--help")
    assert installed.metadata_read  # the directory changed: read again
    assert "greet " in installed.stdout and "from plugin openclaw-remote-greeter" in installed.stdout
    plugins = run(site, "plugins")
    assert "greeter  (openclaw-remote-greeter 1.0)" in plugins.stdout, plugins.stderr
    subprocess.run(["rm", "-r", str(folder)], check=True)  # pip uninstall removes it
    removed = run(site, "--help")
    assert "greet " not in removed.stdout


def test_a_cached_plugin_that_no_longer_imports_is_looked_up_again_before_it_is_called_broken(run, tmp_path):
    """A cache older than its files (a .dist-info edited in place, which changes no directory):
    the plugin it names fails to import, so the metadata is read again, and a plugin that is not
    there any more is not reported as broken."""
    site = tmp_path / "site"
    site.mkdir()
    assert run(site, "steps").returncode == 0
    lines = run.cache.read_text().split("\n")
    stale = "\t".join([plugin_index.ENTRY_POINT_GROUP, "vanished", "vanished_plugin_module", "gone-dist", "1.0"])
    run.cache.write_text("\n".join([*lines[:2], stale, *lines[2:]]))
    result = run(site, "steps")
    assert result.returncode == 0, result.stderr
    assert "vanished" not in result.stderr
    assert result.metadata_read
    assert "vanished" not in run.cache.read_text()  # and the cache says what is installed again


def test_a_broken_plugin_is_still_reported_when_the_cache_is_right(run, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _dist_info(site, "broken-plugin", {"openclaw_remote": {"broken": "broken_plugin_module"}})
    (site / "broken_plugin_module.py").write_text("raise RuntimeError('broken on purpose')\n")
    first = run(site, "steps")
    assert "plugin broken failed to load and was skipped: RuntimeError: broken on purpose" in first.stderr
    again = run(site, "steps")  # from the cache: a plugin that raises is broken, not a stale cache
    assert "plugin broken failed to load and was skipped: RuntimeError: broken on purpose" in again.stderr
    assert not again.metadata_read


def _header(good: str) -> str:
    return "".join(good.splitlines(keepends=True)[:2])


DAMAGE = {
    "empty": lambda good: b"",
    "cut short": lambda good: good.encode()[:len(good) // 2],
    "header only, cut": lambda good: _header(good).encode()[:-1],
    "a row of two fields": lambda good: (_header(good) + "openclaw_remote\tonly-two\n").encode(),
    "another format": lambda good: good.replace("entry points 1", "entry points 0", 1).encode(),
    "not UTF-8": lambda good: b"\xff\xfe" + good.encode(),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_cache_is_read_past_and_written_again(run, tmp_path, damage):
    site = tmp_path / "site"
    site.mkdir()
    expected = run(site, "--help").stdout
    good = run.cache.read_text()
    run.cache.write_bytes(DAMAGE[damage](good))
    result = run(site, "--help")
    assert result.returncode == 0 and result.stdout == expected, result.stderr
    assert result.metadata_read
    assert run.cache.read_text() == good


def test_where_the_cache_cannot_be_written_every_run_reads_the_metadata(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache's folder would be\n")
    monkeypatch.setattr(plugin_index, "CACHE", str(blocker / "__pycache__" / "entry-points.txt"))
    found, cached = plugin_index.entries()
    assert not cached and any(entry.name == "ssh-config" for entry in found)
    assert plugin_index.entries() == (found, False)
    assert blocker.read_text() == "a file where the cache's folder would be\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no temp file left behind


def test_a_name_a_tab_separated_line_cannot_hold_is_never_cached(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _dist_info(site, "odd-plugin", {"openclaw_remote.commands": {"odd\tname": "odd_module"}})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugin_index, "CACHE", str(tmp_path / "cache" / "entry-points.txt"))
    found, cached = plugin_index.entries()
    assert any(entry.name == "odd\tname" for entry in found)
    assert not (tmp_path / "cache" / "entry-points.txt").exists()
    assert plugin_index.entries()[1] is False


def test_the_cache_is_keyed_on_every_sys_path_entry_and_its_state(tmp_path, monkeypatch):
    monkeypatch.setattr(plugin_index, "CACHE", str(tmp_path / "cache" / "entry-points.txt"))
    plugin_index.entries()
    assert plugin_index.entries()[1] is True
    extra = tmp_path / "extra"
    extra.mkdir()
    monkeypatch.syspath_prepend(str(extra))  # another sys.path: another answer
    assert plugin_index.entries()[1] is False
    assert plugin_index.entries()[1] is True
    (extra / "anything").mkdir()  # a directory added where a distribution could have been
    assert plugin_index.entries()[1] is False


def test_an_entry_point_with_an_attribute_and_extras_loads_as_importlib_would(tmp_path, monkeypatch):
    (tmp_path / "attr_plugin.py").write_text("class Holder:\n    class plugin:\n        name = 'inner'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = plugin_index.Entry("openclaw_remote", "attr", "attr_plugin:Holder.plugin [extra]", "d", "1")
    assert plugin_index.load(entry).name == "inner"
    from importlib.metadata import EntryPoint

    assert EntryPoint("attr", "attr_plugin:Holder.plugin [extra]", "openclaw_remote").load() is plugin_index.load(entry)
