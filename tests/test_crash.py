"""Crash safety: ``setup`` is SIGKILLed at 50 points spread over every file operation and every
command it starts (tests/crash/sitecustomize.py counts them). After each kill every file is the
old or the new version, never a torn one; the user's ssh config keeps all its lines; ``undo --yes``
gives back the home as it was before setup (the same files, byte for byte, plus only the ssh key
when its generation had completed, which undo names and keeps; no backup is left, since the files
are back as they were; nothing loaded, running or stored); and, killed at the same point again, a
plain re-run completes with exactly one tunnel."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import REPO, Cli
from tests.harness import ports
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.standins import BIN_DIR, StandIns, wait_until
from tests.test_remote import ssh_processes_for

pytestmark = pytest.mark.timeout(600)
KILLS = 50
# Commands that wait loops run a varying number of times: their Nth call is not a fixed point.
POLLED = ("launchctl", "pgrep", "lsof", "ps", "python3", "systemctl")
WORKERS = 2
CRASH_SITE = str(REPO / "tests" / "crash")  # sitecustomize.py: the kill switch, inert without its variables
LABEL = "bot.molt.ssh-tunnel"
USER_CONFIG = "# my settings\nHost *\n    ServerAliveInterval 60\n\nHost work\n    HostName work.example\n"


class Worker:
    """One home and one port, set up again and again; its own launchd world for every run."""

    def __init__(self, root: Path, sshd, gateway, keyring_env: dict):
        self.root, self.sshd, self.gateway, self.keyring_env = root, sshd, gateway, keyring_env
        self.home = root / "home"  # root's name is also the ssh alias: tunnels of two workers never mix
        self.local_port = ports.free_port()
        self.runs = 0
        self.standins: StandIns | None = None

    def fresh(self) -> None:
        # The last run's tunnel was just killed: its port may take a moment to come free, and
        # setup's checks would rightly refuse a port still held.
        from plugins import _ports

        assert wait_until(lambda: _ports.bindable(self.local_port), timeout=10), f"port {self.local_port} stays held"
        self.runs += 1
        self.standins = StandIns(self.root / f"standins-{self.runs}")
        shutil.rmtree(self.home, ignore_errors=True)
        self.forget_token()
        (self.home / ".ssh").mkdir(parents=True, mode=0o700)
        (self.home / "Library" / "Logs").mkdir(parents=True)
        (self.home / ".ssh" / "config").write_text(USER_CONFIG)
        # process names are machine-wide (pgrep -x): each worker's app has its own
        app = self.standins.install_app(f"OCrash{self.root.name}{os.getpid() % 10000}"[:15])
        self.app = app
        for name, value in {**self.keychain_env, "OPENCLAW_REMOTE_PLATFORM": "darwin"}.items():
            self.standins.setenv(name, value)

    @property
    def keychain_env(self) -> dict:
        """The Keychain is the security stand-in over this Secret Service, as on a Mac where no
        PYTHON_KEYRING_BACKEND is set (the login agent reads it with security, never a Python)."""
        return {name: value for name, value in self.keyring_env.items() if name != "PYTHON_KEYRING_BACKEND"}

    def cli(self) -> Cli:
        cli = Cli(self.home)
        # Every run of this test with one sys.path: a run with another one rewrites the entry-point
        # cache, which would add events to the next.
        cli.env["PYTHONPATH"] = CRASH_SITE
        cli.env.update({**self.standins.env, **self.keychain_env, "OPENCLAW_REMOTE_PLATFORM": "darwin",
                        "STANDIN_LAUNCHD_PATH": f"{BIN_DIR}:/usr/bin:/bin",
                        "OPENCLAW_REMOTE_SSH_PASSWORD": self.sshd.password, "OPENCLAW_GATEWAY_TOKEN": GATEWAY_TOKEN})
        return cli

    def setup(self, kill_at: str = "", events: Path | None = None):
        flags = [
            "--alias",
            self.root.name,
            "--host",
            self.sshd.host,
            "--port",
            str(self.sshd.port),
            "--user",
            self.sshd.user,
            "--local-port",
            str(self.local_port),
            "--remote-port",
            str(self.gateway.port),
            "--app",
            str(self.app),
            "--accept-host-key",
        ]
        env = {"OPENCLAW_TEST_KILL_AT": kill_at}
        if events:
            env["OPENCLAW_TEST_EVENTS"] = str(events)
        return self.cli()("setup", "--yes", *flags, env=env, timeout=120)

    def files(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.home)): p.read_bytes() for p in self.home.rglob("*") if p.is_file()}

    def dirs(self) -> list[str]:
        return sorted(str(p.relative_to(self.home)) for p in self.home.rglob("*") if p.is_dir())

    def undo(self):
        return self.cli()("undo", "--yes", timeout=120)

    def _keyring(self, method: str) -> str:
        code = ("import contextlib; from keyring.backends.SecretService import Keyring; "
                "from keyring.errors import PasswordDeleteError\n"
                "with contextlib.suppress(PasswordDeleteError):\n"
                f"    print(Keyring().{method}_password('openclaw-remote:{self.root.name}', 'gateway-token') or '')")
        done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **self.keyring_env},
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def stored_token(self) -> str:
        return self._keyring("get")

    def forget_token(self) -> None:
        """The keyring outlives the home: each run starts without the token an earlier run stored."""
        self._keyring("delete")

    def tear_down(self) -> None:
        if self.standins:
            self.standins.cleanup()
        for pid in ssh_processes_for(self.home):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def same_run_neutral(content: bytes) -> bytes:
    return re.sub(rb"standins-\d+", b"standins-N", content)


def check_after_kill(worker: Worker, reference: dict[str, bytes], point: str) -> None:
    """Every file we manage is the old or the new version; the key is whole; the state is JSON."""
    files = worker.files()
    where = f"killed at {point}"
    assert files[".ssh/config"] in (USER_CONFIG.encode(), reference[".ssh/config"]), where
    for name in (f"Library/LaunchAgents/{LABEL}.plist", "Library/LaunchAgents/openclaw-remote.token-push.plist"):
        # whole or absent; the push agent names the app, which each run installs in its own folder
        assert same_run_neutral(files.get(name, reference[name])) == same_run_neutral(reference[name]), (where, name)
    if ".config/openclaw-remote/state.json" in files:
        json.loads(files[".config/openclaw-remote/state.json"])
    if ".ssh/id_ed25519" in files:
        derived = subprocess.run(["ssh-keygen", "-y", "-f", str(worker.home / ".ssh/id_ed25519")],
                                 capture_output=True, text=True)
        assert derived.returncode == 0, (where, derived.stderr)
        assert files[".ssh/id_ed25519.pub"].split()[:2] == derived.stdout.encode().split()[:2], where


KEY_FILES = {".ssh/id_ed25519", ".ssh/id_ed25519.pub"}


def check_undo_restores(worker: Worker, before: dict[str, bytes], dirs_before: list[str], point: str) -> None:
    undone = worker.undo()
    where = f"undo after a kill at {point}"
    assert undone.returncode == 0, (where, undone.stdout, undone.stderr)
    files = worker.files()
    extra = set(files) - set(before)
    assert extra in (set(), KEY_FILES), (where, sorted(extra))  # never a lone half of the key, never a backup
    if extra:
        assert f"kept the key setup generated: {worker.home / '.ssh/id_ed25519'}" in undone.stdout, where
    assert {name: files[name] for name in before} == before, where  # the user's config byte for byte
    assert worker.dirs() == dirs_before, where
    assert "backup(s) of files that differ now" not in undone.stdout, (where, undone.stdout)
    assert wait_until(lambda: ssh_processes_for(worker.home) == [], timeout=10), where
    assert worker.standins.loaded() == {}, where
    assert "OPENCLAW_GATEWAY_TOKEN" not in worker.standins.launchd_env(), where
    assert worker.stored_token() == "", where


def test_setup_killed_at_50_points_keeps_every_file_whole_undo_restores_the_home_and_a_rerun_completes(
        tmp_path, sshd, gateway, secret_service):
    if not sshd.supports_password:
        pytest.skip("needs root for the password user (CI runs as root)")
    # The root's name is the alias: one no other test session on the machine uses at the same time.
    workers = [Worker(tmp_path / f"c{os.getpid()}w{n}", sshd, gateway, dict(secret_service)) for n in range(WORKERS)]
    # The entry-point cache (wizard/__pycache__/entry-points.txt) is written by the first run whose
    # sys.path differs from the last one's, such as the first run here after the rest of the suite:
    # that run's os.mkdir and os.replace would shift every later event's number. Written now, once.
    (tmp_path / "warm-home").mkdir()
    warm = Cli(tmp_path / "warm-home")("steps", env={"PYTHONPATH": CRASH_SITE})
    assert warm.returncode == 0, warm.stdout + warm.stderr

    def reference_run(worker: Worker):
        worker.fresh()
        events = worker.root / "events"
        done = worker.setup(events=events)
        assert done.returncode == 0, done.stdout + done.stderr
        reference = worker.files()
        worker.tear_down()
        return events.read_text().splitlines(), reference

    with ThreadPoolExecutor(WORKERS) as pool:
        references = list(pool.map(reference_run, workers))
    # Only events both reference runs had (polling loops may run a different number of times),
    # in the order they happened; 50 of them, spread evenly from the first to the last.
    from collections import Counter

    kinds = [Counter(event.rsplit("#", 1)[0] for event in events) for events, _ref in references]
    steady = {kind for kind, n in kinds[0].items() if kinds[1][kind] == n and not kind.endswith(POLLED)}
    common = [event for event in references[0][0] if event.rsplit("#", 1)[0] in steady]
    total = len(common)
    assert total >= KILLS, total
    points = [common[i * total // KILLS] for i in range(KILLS)]
    assert len(set(points)) == KILLS

    not_restored: list[str] = []  # every kill point whose undo failed, not only the first

    def crash_and_recover(worker: Worker, reference: dict, mine: list[str]) -> list[str]:
        survived = []
        for point in mine:
            worker.fresh()
            try:
                before, dirs_before = worker.files(), worker.dirs()
                killed = worker.setup(kill_at=point)
                assert killed.returncode == -signal.SIGKILL, (point, killed.stdout, killed.stderr)
                check_after_kill(worker, reference, point)
                try:
                    check_undo_restores(worker, before, dirs_before, point)
                except AssertionError as failure:
                    not_restored.append(str(failure))
            finally:
                worker.tear_down()
            worker.fresh()
            try:
                killed = worker.setup(kill_at=point)
                assert killed.returncode == -signal.SIGKILL, (point, killed.stdout, killed.stderr)
                again = worker.setup()
                assert again.returncode == 0, (point, again.stdout, again.stderr)
                files = worker.files()
                assert files[".ssh/config"] == reference[".ssh/config"], point
                assert files[".ssh/config"].endswith(USER_CONFIG.encode()), point
                assert not [name for name in files if name.endswith(".tmp") or ".openclaw-new" in name], point
                assert ssh_processes_for(worker.home) == [worker.standins.job_pid(LABEL)], point
                survived.append(point)
            finally:
                worker.tear_down()
        return survived

    with ThreadPoolExecutor(WORKERS) as pool:
        done = list(pool.map(crash_and_recover, workers, [ref for _count, ref in references],
                             [points[n::WORKERS] for n in range(WORKERS)]))
    assert not not_restored, "\n".join(not_restored)
    assert sorted(p for part in done for p in part) == sorted(points)
    print(f"setup killed at {len(points)} of its {total} steady events; every file whole, every undo restored "
          "the home, every re-run completed")
