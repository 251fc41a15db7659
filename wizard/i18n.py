"""gettext for every user-facing string (English source, French catalog in ``locale/``)."""

import gettext
from pathlib import Path

DOMAIN = "openclaw-remote"
LOCALE_DIR = Path(__file__).parent / "locale"

_translation = None


def _catalog():
    global _translation
    if _translation is None:
        # languages=None: gettext reads LANGUAGE, LC_ALL, LC_MESSAGES and LANG itself.
        _translation = gettext.translation(DOMAIN, LOCALE_DIR, fallback=True)
    return _translation


def _(message: str) -> str:
    return _catalog().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _catalog().ngettext(singular, plural, n)


def translate_argparse() -> None:
    """Route argparse's own strings ("usage:", "options") through our catalog too."""
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
