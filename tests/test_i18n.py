"""French: the catalog is complete and compiled, and LANG=fr_FR.UTF-8 really speaks French."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_catalog_is_complete_and_compiled():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "i18n.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_french_help_and_messages(cli):
    french = {"LANG": "fr_FR.UTF-8"}
    help_text = cli("--help", env=french).stdout
    assert "utilisation" in help_text and "Connecter OpenClaw.app" in help_text
    setup_help = cli("setup", "--help", env=french).stdout
    assert "simulation" in setup_help.lower() or "modifier" in setup_help
    missing = cli("run", "ssh-config", "--yes", env=french)
    assert missing.returncode == 2 and "--host" in missing.stderr
    assert "pas de réponse" in missing.stderr.lower() or "aucune réponse" in missing.stderr.lower()


def test_english_by_default(cli):
    missing = cli("run", "ssh-config", "--yes")
    assert "no answer" in missing.stderr


def test_the_catalog_check_compares_translations_not_babels_bytes():
    """A stale .mo is caught by what it says, so a newer Babel (which writes its own version
    into the .mo header) cannot fail the check, while a changed translation does."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("i18n_script", REPO / "scripts" / "i18n.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    catalog = script.load()
    assert script.compiled_messages() == script.po_messages(catalog)
    message = next(m for m in catalog if m.id and isinstance(m.id, str))
    message.string = message.string + " (changed)"
    assert script.compiled_messages() != script.po_messages(catalog)
