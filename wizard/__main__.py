import sys

# Kept parseable by old Pythons: macOS's own /usr/bin/python3 is 3.9, and a clone run with it
# should get the fix, not a traceback (pip itself only says "requires a different Python").
if sys.version_info < (3, 10):
    from wizard.i18n import _

    sys.exit(_("openclaw-remote needs Python 3.10 or newer; this is {version}. On a Mac, /usr/bin/python3 is 3.9: "
               "install the tool with 'uv tool install .' (uv brings its own Python) or 'pipx install --python "
               "python3.12 .' (after 'brew install python@3.12')").format(version=sys.version.split()[0]))

from wizard.cli import console_main

raise SystemExit(console_main())
