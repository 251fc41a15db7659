"""Dead link: the remote machine lives in a network namespace joined by a veth pair (field notes),
with its own sshd and Gateway stand-in. The link is cut silently (the far end of the veth goes
down: no RST, no ICMP, packets just vanish, as on a sleeping laptop or a dropped Wi-Fi).

The agent's tunnel, from the block the wizard writes (ServerAliveInterval 15, CountMax 3) and run
by the launchd stand-in, must exit within 15 x (3 + 1) s plus a margin (see DETECT_BOUND) and come
back by itself once the link returns. The guide's plain config (no keepalive) is measured beside it:
its ssh usually stays up, forwarding nothing. Both figures are printed; only ours is asserted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugins import _gateway
from plugins.ssh_config import KEEPALIVE
from tests.conftest import REPO, Cli
from tests.harness import ports
from tests.standins import BIN_DIR, StandIns, wait_until

pytestmark = pytest.mark.timeout(300)
LABEL = "bot.molt.ssh-tunnel"
INTERVAL, COUNT = int(KEEPALIVE["ServerAliveInterval"]), int(KEEPALIVE["ServerAliveCountMax"])
# OpenSSH sends a probe each INTERVAL without news from the server and gives up at the timeout
# after COUNT unanswered probes: (COUNT + 1) x INTERVAL after the last answer, which, with traffic
# just before the cut, is that long after the cut (measured: 59 s for 15 x 3).
DETECT_BOUND = INTERVAL * (COUNT + 1)
MARGIN = 5.0
GUIDE_WATCH = DETECT_BOUND + MARGIN  # how long the guide's ssh is watched after the cut
REMOTE_GATEWAY_PORT = 18789  # private to the namespace: no clash with this machine's ports
TOKEN = "dead-link-token"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


class RemoteHost:
    """A namespace with an address, an sshd for the current user, and a Gateway stand-in."""

    def __init__(self, workdir: Path):
        tag = f"{os.getpid() % 100000}"
        self.ns, self.here, self.there = f"ocr{tag}", f"ocrh{tag}", f"ocrr{tag}"
        net = os.getpid() % 250
        self.host_ip, self.ip = f"10.213.{net}.1", f"10.213.{net}.2"
        self.dir = workdir
        self.processes: list[subprocess.Popen] = []

    def inside(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def create(self) -> None:
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.here, "type", "veth", "peer", "name", self.there)
        sh("ip", "link", "set", self.there, "netns", self.ns)
        sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.here)
        sh("ip", "link", "set", self.here, "up")
        sh(*self.inside("ip", "addr", "add", f"{self.ip}/30", "dev", self.there))
        sh(*self.inside("ip", "link", "set", self.there, "up"))
        sh(*self.inside("ip", "link", "set", "lo", "up"))

    def start_sshd(self, public_key: str) -> str:
        host_key = self.dir / "host_key"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key))
        (self.dir / "authorized_keys").write_text(public_key)
        config = self.dir / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {self.ip}", "Port 22", f"HostKey {host_key}", f"PidFile {self.dir / 'sshd.pid'}",
            "UsePAM no", "PermitRootLogin prohibit-password", "PasswordAuthentication no", "StrictModes no",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}", "AllowTcpForwarding yes", "UseDNS no",
            "PrintMotd no", "ClientAliveInterval 0", ""]))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.processes.append(subprocess.Popen(self.inside("/usr/sbin/sshd", "-D", "-e", "-f", str(config)),
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if not wait_until(lambda: _accepts(self.ip, 22), timeout=10):
            raise RuntimeError("sshd in the namespace did not start")
        return f"{self.ip} " + " ".join(Path(f"{host_key}.pub").read_text().split()[:2]) + "\n"

    def start_gateway(self) -> None:
        code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from tests.harness.gateway import GatewayStandIn; "
                f"g = GatewayStandIn(token={TOKEN!r}); g.port = {REMOTE_GATEWAY_PORT}; g.start(); "
                "print('ready', flush=True); time.sleep(600)")
        gateway = subprocess.Popen(
            self.inside(sys.executable, "-c", code, str(REPO)), stdout=subprocess.PIPE, text=True
        )
        self.processes.append(gateway)
        assert gateway.stdout.readline() == "ready\n"

    def link(self, up: bool) -> None:
        sh(*self.inside("ip", "link", "set", self.there, "up" if up else "down"))

    def destroy(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()
        sh("ip", "netns", "del", self.ns, check=False)  # takes the veth pair with it


def _accepts(host: str, port: int) -> bool:
    from plugins import _ports

    return _ports.accepting(port, host=host, timeout=0.5)


def _forwards(port: int) -> bool:
    return _gateway.probe(port, TOKEN, timeout=1.0).kind == _gateway.HELLO_OK


def _namespaces_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if not shutil.which("ip"):
        return "iproute2 ('ip') is not installed"
    probe = sh("ip", "netns", "add", f"ocrprobe{os.getpid()}", check=False)
    if probe.returncode != 0:
        return f"cannot create a network namespace here: {probe.stderr.strip()}"
    sh("ip", "netns", "del", f"ocrprobe{os.getpid()}", check=False)
    return None


@pytest.fixture
def remote(tmp_path):
    reason = _namespaces_unavailable()
    if reason:
        pytest.skip(reason)
    host = RemoteHost(tmp_path / "remote")
    host.dir.mkdir()
    try:
        host.create()
        yield host
    finally:
        host.destroy()


def test_a_silently_dead_link_is_noticed_and_the_tunnel_comes_back(tmp_path, home, remote):
    key = home / ".ssh" / "id_ed25519"
    (home / "Library" / "Logs").mkdir(parents=True)  # as on every Mac: launchd writes the agent's log there
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
    (home / ".ssh" / "known_hosts").write_text(remote.start_sshd(Path(f"{key}.pub").read_text()))
    remote.start_gateway()
    standins = StandIns(tmp_path / "standins")
    guide = None
    try:
        cli = Cli(home)
        cli.env.update({**standins.env, "OPENCLAW_REMOTE_PLATFORM": "darwin",
                        "STANDIN_LAUNCHD_PATH": f"{BIN_DIR}:/usr/bin:/bin"})
        standins.setenv("OPENCLAW_REMOTE_PLATFORM", "darwin")
        ours_port, guide_port = ports.free_port(), ports.free_port()
        done = cli("run", "ssh-config", "ssh-key", "autostart", "--yes", "--host", remote.ip,
                   "--user", os.environ.get("USER", "root"), "--local-port", str(ours_port),
                   "--remote-port", str(REMOTE_GATEWAY_PORT))
        log = home / "Library" / "Logs" / f"{LABEL}.log"
        assert done.returncode == 0, done.stdout + done.stderr + (log.read_text() if log.exists() else "")
        ours = standins.job_pid(LABEL)
        # The guide's config, step 1, as written by hand: no keepalive, no ExitOnForwardFailure.
        guide_config = tmp_path / "guide_config"
        guide_config.write_text(f"Host remote-gateway\n    HostName {remote.ip}\n    User root\n"
                                f"    LocalForward {guide_port} 127.0.0.1:{REMOTE_GATEWAY_PORT}\n"
                                f"    IdentityFile {key}\n    UserKnownHostsFile {home / '.ssh/known_hosts'}\n")
        guide = subprocess.Popen(["ssh", "-F", str(guide_config), "-N", "-o", "BatchMode=yes", "remote-gateway"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(lambda: _forwards(ours_port) and _forwards(guide_port), timeout=15)

        remote.link(up=False)
        cut = time.monotonic()
        noticed = wait_until(lambda: standins.job_pid(LABEL) != ours, timeout=DETECT_BOUND + MARGIN, interval=0.2)
        ours_exit = time.monotonic() - cut
        guide_exited = wait_until(lambda: guide.poll() is not None, timeout=max(0.0, GUIDE_WATCH - ours_exit))
        guide_figure = (f"exited after {time.monotonic() - cut:.0f} s" if guide_exited
                        else f"still running after {GUIDE_WATCH:.0f} s, forwarding nothing")
        print(f"dead link: our tunnel's ssh exited after {ours_exit:.1f} s (ServerAliveInterval {INTERVAL} x "
              f"(ServerAliveCountMax {COUNT} + 1) = {DETECT_BOUND} s); the guide's plain config: {guide_figure}")
        # The guide's ssh is a baseline, measured and printed, never asserted: whether it exits
        # depends on what TCP had in flight at the cut (a timing accident of a loaded machine).
        assert noticed, f"our tunnel was still up {DETECT_BOUND + MARGIN:g} s after the link died"

        remote.link(up=True)
        back = time.monotonic()
        recovered = wait_until(lambda: _forwards(ours_port), timeout=90, interval=0.5)
        print(f"link back: our tunnel forwarded again after {time.monotonic() - back:.1f} s, by itself")
        assert recovered
    finally:
        if guide is not None:
            guide.kill()
            guide.wait()
        standins.cleanup()
