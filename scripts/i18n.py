"""Refresh the French catalog: extract every _() string, merge into the .po, compile the .mo.

    python scripts/i18n.py          # after adding or changing user-facing strings
    python scripts/i18n.py --check  # exit 1 if a string is untranslated or the .mo is stale

Needs Babel (in the test extras).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "wizard" / "locale" / "fr" / "LC_MESSAGES" / "openclaw-remote.po"
MO = PO.with_suffix(".mo")

# argparse's own strings, routed through our domain by wizard.i18n.translate_argparse().
ARGPARSE = [
    "usage: ", "positional arguments", "options", "show this help message and exit",
    "show program's version number and exit", "the following arguments are required: %s",
    "unrecognized arguments: %s", "%(prog)s: error: %(message)s\n", "expected one argument",
    "invalid choice: %(value)r (choose from %(choices)s)", "argument %(argument_name)s: %(message)s",
    "expected at least one argument",
]


def extracted() -> list[str]:
    ids = []
    for folder in ("wizard", "plugins"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords={"_": None, "ngettext": (1, 2)}
        ):
            ids.append(message)
    return ids + ARGPARSE


def load() -> Catalog:
    with open(PO, "rb") as handle:
        return read_po(handle, locale="fr")


def merged() -> Catalog:
    old = load() if PO.exists() else Catalog(locale="fr")
    new = Catalog(locale="fr", project="openclaw-remote", domain="openclaw-remote", fuzzy=False)
    for message_id in extracted():
        key = message_id if isinstance(message_id, str) else message_id[0]
        previous = old.get(key)
        new.add(message_id, previous.string if previous else ("", "") if not isinstance(message_id, str) else "")
    return new


def mo_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def po_messages(catalog: Catalog) -> dict:
    """msgid -> translation, as gettext would look them up (the header left out)."""
    found = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, str):
            found[message.id] = message.string
        else:  # plural forms: gettext keys them (singular, n)
            for n, string in enumerate(message.string):
                found[(message.id[0], n)] = string
    return found


def compiled_messages() -> dict:
    """What the compiled .mo holds, read back by gettext itself. Compared with the .po by
    meaning, never by bytes: each Babel release writes its own version into the header."""
    import gettext

    if not MO.exists():
        return {}
    with open(MO, "rb") as handle:
        translations = gettext.GNUTranslations(handle)
    return {key: value for key, value in translations._catalog.items() if key != ""}


def untranslated(catalog: Catalog) -> list[str]:
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def main(argv: list[str]) -> int:
    catalog = merged()
    if "--check" in argv:
        problems = [f"untranslated: {m!r}" for m in untranslated(catalog)]
        current = load()
        if sorted(str(m.id) for m in current if m.id) != sorted(str(m.id) for m in catalog if m.id):
            problems.append("the .po is out of date: run python scripts/i18n.py")
        if compiled_messages() != po_messages(current):
            problems.append("the .mo is stale: run python scripts/i18n.py")
        print("\n".join(problems) or "catalog complete")
        return 1 if problems else 0
    PO.parent.mkdir(parents=True, exist_ok=True)
    with open(PO, "wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, sort_output=False)
    MO.write_bytes(mo_bytes(load()))
    print(f"{PO}: {len(untranslated(catalog))} untranslated of {len([m for m in catalog if m.id])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
