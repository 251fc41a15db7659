"""``openclaw-remote status`` against what the guide's troubleshooting does by hand.

The home is set up for real first (ssh-config, ssh-key, token in a real Secret Service, tunnel)
against a loopback sshd and a gateway stand-in. Baseline: the guide's `ps`, `lsof -i :PORT`,
plus one Gateway handshake with the token (a minimal Python websockets client), in the same run.
Then the same with the remote unreachable (its sshd stopped and the tunnel gone).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import command, logins, median_seconds, row, tool
from bench.remote import Bench
from tests.harness.gateway import GatewayStandIn
from tests.harness.sshd import TestSshd
from tests.standins.remote_openclaw import RemoteOpenclaw
from tests.standins.secret_service import SecretService, missing_tools

RUNS = 7
TARGET = 3.0  # ten layers, two of them network round trips, against three bare commands
TOKEN = "bench-gateway-token"
HANDSHAKE = """
import json, sys
from websockets.sync.client import connect
with connect(f"ws://127.0.0.1:{sys.argv[1]}", open_timeout=2) as ws:
    json.loads(ws.recv())  # connect.challenge
    ws.send(json.dumps({"type": "req", "id": "1", "method": "connect", "params": {
        "minProtocol": 3, "maxProtocol": 4, "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": ["operator.read"], "auth": {"token": sys.argv[2]}}}))
    json.loads(ws.recv())
"""


def by_hand(port: int, env: dict):
    ps = command(["ps", "-ww", "-U", str(os.getuid()), "-o", "pid=,args="], env)
    lsof = command(["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN"], env, check=False)
    handshake = command([sys.executable, "-c", HANDSHAKE, str(port), TOKEN], env, check=False)

    def run():
        ps(), lsof(), handshake()
    return run


def run() -> list[dict]:
    missing = missing_tools() + [name for name in ("lsof",) if not shutil.which(name)]
    if missing:
        sys.exit(f"the status benchmark needs: {', '.join(missing)}")
    workdir = Path(tempfile.mkdtemp())
    service = SecretService()
    keyring_env = service.start()
    try:
        with TestSshd() as sshd, GatewayStandIn(token=TOKEN) as gateway:
            bench = Bench(sshd, gateway, workdir)
            bench.fresh_home()
            # OpenClaw's CLI on the remote, as on a real Gateway host: status asks it (remote-gateway)
            remote_cli = RemoteOpenclaw(sshd, TOKEN, gateway.port).install()
            env = {**bench.env(), **keyring_env, "OPENCLAW_GATEWAY_TOKEN": TOKEN, "OPENCLAW_REMOTE_PLATFORM": "linux"}
            setup = tool("run", "ssh-config", "ssh-key", "token", "tunnel", "--yes",
                         "--host", sshd.host, "--port", str(sshd.port), "--user", sshd.user,
                         "--local-port", str(bench.local_port), "--remote-port", str(gateway.port))
            command(setup, env)()
            status = command(tool("status"), env, check=False)
            try:
                up = median_seconds(status, RUNS)
                up_by_hand = median_seconds(by_hand(bench.local_port, env), RUNS)
                up_logins = (logins(sshd, status), logins(sshd, by_hand(bench.local_port, env)))
                sshd.stop()
                bench.stop_tunnel()
                down = median_seconds(status, RUNS)
                down_by_hand = median_seconds(by_hand(bench.local_port, env), RUNS)
            finally:
                sshd.start()
                bench.stop_tunnel()
                remote_cli.close()
    finally:
        service.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    baseline = "ps + lsof -i :PORT + one handshake"
    return [row("status, everything up", up, baseline, up_by_hand, TARGET, up_logins),
            row("status, remote unreachable", down, baseline, down_by_hand, TARGET)]
