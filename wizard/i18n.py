"""gettext for every user-facing string (English source, French catalog in ``locale/``)."""

import gettext
import os

DOMAIN = "openclaw-remote"
LOCALE_DIR = os.path.join(os.path.dirname(__file__), "locale")  # os.path: --help need not import pathlib

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
    """Route argparse's own strings ("usage:", "options") through our catalog too.

    argparse looks them up with ``gettext.gettext``, which searches the file system for the
    catalog again at every call (~40 µs each, ~120 in French, and a parser makes dozens), so its
    module names for the two functions point at our catalog instead, as i18nparse does. Should
    an argparse have no such names, the process's default text domain becomes ours."""
    import argparse

    if hasattr(argparse, "_") and hasattr(argparse, "ngettext"):
        argparse._ = _
        argparse.ngettext = ngettext
        return
    gettext.bindtextdomain(DOMAIN, LOCALE_DIR)
    gettext.textdomain(DOMAIN)
