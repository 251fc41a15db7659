"""pytest fixtures for the real-sshd / gateway harness (loaded via `pytest_plugins`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.harness import ports
from tests.harness.gateway import GatewayStandIn, NotAGateway
from tests.harness.sshd import SSHD, SshClientFiles, SshTunnel, TestSshd

GATEWAY_TOKEN = "test-gateway-token-XYZ"


@pytest.fixture(scope="session")
def sshd() -> Iterator[TestSshd]:
    """One real sshd for the whole run. Shared state: call `revoke_all_keys()` when a test
    needs an account with no authorized key; a test that stops it must start it again."""
    if not os.path.exists(SSHD):
        pytest.skip(f"OpenSSH server not installed ({SSHD}): apt-get install -y openssh-server")
    server = TestSshd()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def gateway() -> Iterator[GatewayStandIn]:
    """A fresh gateway stand-in, token GATEWAY_TOKEN, protocols (3, 4), mode "ok"."""
    with GatewayStandIn(token=GATEWAY_TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
def not_a_gateway() -> Iterator[NotAGateway]:
    with NotAGateway() as server:
        yield server


@pytest.fixture
def free_port() -> int:
    return ports.free_port()


@pytest.fixture
def ssh_client(tmp_path, sshd: TestSshd) -> SshClientFiles:
    """A fresh client key (not yet authorized) and a known_hosts pinning `sshd`."""
    return SshClientFiles.create(tmp_path / "ssh-client", sshd)


@pytest.fixture
def tunnel(sshd: TestSshd, ssh_client: SshClientFiles) -> Iterator[Callable[[int], SshTunnel]]:
    """Factory: `tunnel(remote_port)` opens a real `ssh -N -L` and returns it (started);
    the client key is authorized first. Every tunnel is closed after the test."""
    opened: list[SshTunnel] = []

    def open_tunnel(remote_port: int, local_port: int | None = None) -> SshTunnel:
        if ssh_client.public_key not in sshd.authorized_keys():
            sshd.authorize(ssh_client.public_key)
        opened.append(SshTunnel(sshd, ssh_client, remote_port, local_port))
        return opened[-1].start()

    yield open_tunnel
    for each in opened:
        each.close()


@pytest.fixture
def ssh_agent(tmp_path) -> Iterator[Callable[..., str]]:
    """Factory: ``ssh_agent(socket=None)`` starts a real ``ssh-agent -D`` bound to ``socket`` (a
    path relative to a short scratch directory, default "agent.sock") and returns the socket's
    path; every agent is stopped after the test. The directory is short because a Unix socket's
    path has at most 107 bytes, which pytest's tmp_path of a long test name exceeds."""
    import shutil
    import subprocess
    import tempfile
    import time

    if shutil.which("ssh-agent") is None:
        pytest.skip("ssh-agent is not installed (apt-get install -y openssh-client)")
    started: list[subprocess.Popen] = []
    base = tempfile.mkdtemp(prefix="agent-", dir="/tmp")

    def start(socket=None) -> str:
        path = os.path.join(base, socket or "agent.sock")
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        started.append(subprocess.Popen(["ssh-agent", "-D", "-a", path], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + 5
        while not os.path.exists(path):
            if time.monotonic() > deadline or started[-1].poll() is not None:
                raise RuntimeError(f"ssh-agent did not bind {path}")
            time.sleep(0.01)
        return path

    yield start
    for agent in started:
        agent.terminate()
        agent.wait(5)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def remote_openclaw(sshd: TestSshd, gateway: GatewayStandIn):
    """OpenClaw's `openclaw` CLI stand-in, on the PATH of the sshd user's ssh sessions, reporting a
    running Gateway on `gateway.port` whose token is GATEWAY_TOKEN (reconfigure or reinstall it)."""
    from tests.standins.remote_openclaw import RemoteOpenclaw

    stand_in = RemoteOpenclaw(sshd, GATEWAY_TOKEN, gateway.port).install()
    try:
        yield stand_in
    finally:
        stand_in.close()


@pytest.fixture
def mac_backend(request, tmp_path) -> Iterator:
    """The Mac of tests/harness/mac.py: the real one on macOS (a throwaway runner only), else the
    stand-ins (with a real Secret Service as their Keychain). Torn down pass or fail."""
    from tests.harness.mac import REAL, Mac, link_login_keychain, real_mac_problem

    if REAL:
        problem = real_mac_problem()
        if problem:
            pytest.fail(problem)  # not a skip: on the macOS workflow these tests are the point
        backend = Mac(tmp_path / "mac")
        link_login_keychain(request.getfixturevalue("home"))
    else:
        standins = request.getfixturevalue("standins")
        keychain = request.getfixturevalue("secret_service")
        backend = Mac(tmp_path / "mac", standins,
                      {name: value for name, value in keychain.items() if name != "PYTHON_KEYRING_BACKEND"})
    try:
        yield backend
    finally:
        backend.cleanup()
