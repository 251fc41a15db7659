"""Setup against a real loopback sshd (key already authorized) vs the guide's commands by hand.

- non-interactive `run ssh-config ssh-key tunnel` vs a shell script doing the same by hand:
  write the block, `ssh -o BatchMode=yes true`, `ssh -N` + wait for the port + one Gateway
  check; once with the host key already in known_hosts, once with it unknown (the wizard with
  --accept-host-key, the script's first login with StrictHostKeyChecking=accept-new);
- a re-run with everything in place vs one `ssh -o BatchMode=yes true`.

Beside each time: the ssh logins each side made, counted in the test sshd's log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import command, logins, median_seconds, row, tool
from tests.harness.gateway import GatewayStandIn
from tests.harness.ports import free_port, wait_port_free
from tests.harness.sshd import TestSshd, client_env

RUNS = 7
BY_HAND = r"""
set -eu
home=$1 alias=$2 port=$3
printf '%s\n' "Host $alias" "    HostName $4" "    Port $5" "    User $6" \
    "    IdentityFile $home/.ssh/id_ed25519" "    IdentitiesOnly yes" \
    "    LocalForward 127.0.0.1:$port 127.0.0.1:$7" "    ExitOnForwardFailure yes" > "$home/.ssh/config"
ssh -F "$home/.ssh/config" -o UserKnownHostsFile="$home/.ssh/known_hosts" -o StrictHostKeyChecking="$8" \
    -o BatchMode=yes -o ClearAllForwardings=yes "$alias" true
ssh -F "$home/.ssh/config" -o UserKnownHostsFile="$home/.ssh/known_hosts" -o BatchMode=yes -N "$alias" \
    >/dev/null 2>"$home/tunnel.log" &
echo $! > "$home/tunnel.pid"
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.02; done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
"""


class Bench:
    def __init__(self, sshd: TestSshd, gateway: GatewayStandIn, workdir: Path):
        self.sshd, self.gateway, self.workdir = sshd, gateway, workdir
        self.key = workdir / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)], check=True)
        sshd.authorize(self.key.with_suffix(".pub").read_text())
        self.local_port = free_port()
        self.home = workdir / "home"

    def fresh_home(self, host_key_known: bool = True) -> None:
        self.stop_tunnel()
        shutil.rmtree(self.home, ignore_errors=True)
        (self.home / ".ssh").mkdir(parents=True, mode=0o700)
        shutil.copy(self.key, self.home / ".ssh" / "id_ed25519")
        shutil.copy(self.key.with_suffix(".pub"), self.home / ".ssh" / "id_ed25519.pub")
        if host_key_known:
            (self.home / ".ssh" / "known_hosts").write_text(self.sshd.known_hosts_line() + "\n")

    def unknown_host_home(self) -> None:
        self.fresh_home(host_key_known=False)

    def stop_tunnel(self) -> None:
        pids = []
        state = self.home / ".config/openclaw-remote/state.json"
        if state.exists():
            pids.append(json.loads(state.read_text())["steps"].get("tunnel", {}).get("pid"))
        if (self.home / "tunnel.pid").exists():
            pids.append(int((self.home / "tunnel.pid").read_text()))
        for pid in filter(None, pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_port_free(self.local_port)

    def env(self) -> dict:
        return client_env(HOME=str(self.home), OPENCLAW_REMOTE_HOME=str(self.home))

    def wizard(self, *extra: str):
        # The three steps this compares with the by-hand script (no keyring or launchd here).
        return command(tool("run", "ssh-config", "ssh-key", "tunnel", "--yes",
                        "--host", self.sshd.host,
                        "--port", str(self.sshd.port), "--user", self.sshd.user,
                            "--local-port", str(self.local_port), "--remote-port", str(self.gateway.port), *extra),
                       self.env())

    def by_hand(self, host_key_checking: str = "ask"):
        """``host_key_checking``: "ask" (in BatchMode: a known key only) or "accept-new"."""
        return command(["bash", "-c", BY_HAND, "by-hand", str(self.home), "remote-gateway", str(self.local_port),
                        self.sshd.host, str(self.sshd.port), self.sshd.user, str(self.gateway.port),
                        host_key_checking], self.env())

    def tunnel_start(self):
        return command(tool("tunnel", "start"), self.env())

    def raw_tunnel(self):
        script = (f'ssh -F "$1/.ssh/config" -o UserKnownHostsFile="$1/.ssh/known_hosts" -o BatchMode=yes -N '
                  f'remote-gateway >/dev/null 2>&1 & echo $! > "$1/tunnel.pid"; '
                  f'until (exec 3<>/dev/tcp/127.0.0.1/{self.local_port}) 2>/dev/null; do sleep 0.02; done')
        return command(["bash", "-c", script, "raw", str(self.home)], self.env())

    def one_login(self):
        return command(["ssh", "-F", str(self.home / ".ssh/config"), "-o",
                        f"UserKnownHostsFile={self.home}/.ssh/known_hosts", "-o", "BatchMode=yes",
                        "-o", "ClearAllForwardings=yes", "remote-gateway", "true"], self.env())


def run() -> list[dict]:
    if not shutil.which("curl"):
        sys.exit("the by-hand baseline needs curl")
    workdir = Path(tempfile.mkdtemp())
    with TestSshd() as sshd, GatewayStandIn() as gateway:
        bench = Bench(sshd, gateway, workdir)
        trusting, trusting_by_hand = bench.wizard("--accept-host-key"), bench.by_hand("accept-new")
        try:
            setup = median_seconds(bench.wizard(), RUNS, setup=bench.fresh_home)
            by_hand = median_seconds(bench.by_hand(), RUNS, setup=bench.fresh_home)
            setup_logins = (logins(sshd, bench.wizard(), bench.fresh_home),
                            logins(sshd, bench.by_hand(), bench.fresh_home))
            unknown = median_seconds(trusting, RUNS, setup=bench.unknown_host_home)
            unknown_by_hand = median_seconds(trusting_by_hand, RUNS, setup=bench.unknown_host_home)
            unknown_logins = (logins(sshd, trusting, bench.unknown_host_home),
                              logins(sshd, trusting_by_hand, bench.unknown_host_home))
            bench.fresh_home()
            bench.wizard()()
            rerun = median_seconds(bench.wizard(), RUNS)
            login = median_seconds(bench.one_login(), RUNS)
            rerun_logins = (logins(sshd, bench.wizard()), logins(sshd, bench.one_login()))
            ready = median_seconds(bench.tunnel_start(), RUNS, setup=bench.stop_tunnel)
            raw = median_seconds(bench.raw_tunnel(), RUNS, setup=bench.stop_tunnel)
            tunnel_logins = (logins(sshd, bench.tunnel_start(), bench.stop_tunnel),
                             logins(sshd, bench.raw_tunnel(), bench.stop_tunnel))
        finally:
            bench.stop_tunnel()
    shutil.rmtree(workdir, ignore_errors=True)
    return [row("ssh-config+ssh-key+tunnel, key authorized", setup, "the same commands by hand (bash)", by_hand, 1.2,
                setup_logins),
            row("the same, host key unknown (--accept-host-key)", unknown, "the same by hand (accept-new)",
                unknown_by_hand, 1.2, unknown_logins),
            row("re-run, everything in place", rerun, "one ssh -o BatchMode=yes true", login, 1.2, rerun_logins),
            row("tunnel start: port open + handshake", ready, "raw ssh -N & + port poll (bash)", raw, 2.0,
                tunnel_logins)]
