"""A simulated restart of the Mac for the stand-ins' world (tests/standins): shut down, then log in.

An additive helper: it drives the stand-ins through their state files and their own commands
(``launchctl bootstrap``, ``open``), as launchd and the login window would; the stand-ins
themselves are unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.standins import StandIns
from tests.standins import _standin_lib as lib


def shut_down(world: StandIns, session_env: dict[str, str]) -> None:
    """Every process launchd or LaunchServices started is gone, no agent is loaded, and launchd's
    environment holds only what the new session itself provides (``session_env``): every
    ``launchctl setenv`` value is lost (launchctl(1): setenv lasts for the session)."""
    world.cleanup()
    with lib.locked(world.state):
        lib.save_json(world.state, "launchd-loaded.json", {})
        lib.save_json(world.state, "apps.json", {})
        lib.save_json(world.state, "launchd-env.json", dict(session_env))


def log_in(world: StandIns, home: Path, env: dict[str, str] | None = None) -> list[str]:
    """launchd loads every agent in ~/Library/LaunchAgents at login, and starts the RunAtLoad
    ones; returns the plists' names in the order loaded. ``env`` is the login session's (for
    ``STANDIN_LAUNCHD_PATH``, HOME). (Login items such as OpenClaw.app are opened by the test,
    before or after: launchd does not order the two.)"""
    loaded = []
    for plist in sorted((home / "Library" / "LaunchAgents").glob("*.plist")):
        done = world.run("launchctl", "bootstrap", f"gui/{os.getuid()}", str(plist), env=env)
        if done.returncode != 0:
            raise AssertionError(f"login: launchctl bootstrap {plist} failed: {done.stderr}")
        loaded.append(plist.name)
    return loaded
