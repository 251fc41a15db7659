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
