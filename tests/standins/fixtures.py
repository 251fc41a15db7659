"""pytest fixtures for the macOS stand-ins and a real Secret Service (load with
``pytest_plugins = ["tests.standins.fixtures"]``).

standins            a StandIns world in tmp_path/"standins"; every process it started is killed
                    at teardown, pass or fail
secret_service      a private D-Bus + unlocked gnome-keyring for this test; yields the env dict
                    (SecretServiceEnv) for subprocesses; skipped when the packages are missing
secret_service_session   the same, shared by the whole session (faster; entries persist)
memory_keyring      keyring.set_keyring(MemoryKeyring()) for this test, previous backend restored
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standins import StandIns
from tests.standins.secret_service import SecretService, SecretServiceEnv, missing_tools


@pytest.fixture
def standins(tmp_path: Path) -> Iterator[StandIns]:
    world = StandIns(tmp_path / "standins")
    try:
        yield world
    finally:
        world.cleanup()


def _secret_service() -> Iterator[SecretServiceEnv]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (apt-get install -y gnome-keyring dbus)")
    service = SecretService()
    try:
        yield service.start()
    finally:
        service.stop()


@pytest.fixture
def secret_service() -> Iterator[SecretServiceEnv]:
    yield from _secret_service()


@pytest.fixture(scope="session")
def secret_service_session() -> Iterator[SecretServiceEnv]:
    yield from _secret_service()


@pytest.fixture
def memory_keyring():
    import keyring
    import keyring.core

    from tests.standins.memory_keyring import MemoryKeyring

    # Read the private slot rather than get_keyring(): that would run backend detection.
    previous = getattr(keyring.core, "_keyring_backend", None)
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.core._keyring_backend = previous
