"""The same setup and re-run as bench/remote.py, with the ssh connection crossing a link of
20 ms round trip instead of loopback (~0.05 ms): the figure a user on a LAN or a tailnet feels.

There is no netem on the machines this runs on, so the delay comes from a small TCP relay in front
of the test sshd that holds every chunk for half the round trip, each way, in order. Only the ssh
connection is delayed, as in the field: the Gateway sits on the remote machine's loopback, behind
the tunnel. What a login costs then grows with its round trips (~10 of them), while what the
wizard adds on top (its start, its checks) does not.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from pathlib import Path

from bench.common import median_seconds, row
from bench.remote import RUNS, Bench
from tests.harness.gateway import GatewayStandIn
from tests.harness.sshd import TestSshd

ROUND_TRIP = 0.020


class DelayRelay:
    """127.0.0.1:PORT -> the sshd, each direction ``round_trip / 2`` late, in a thread of its own."""

    def __init__(self, target_host: str, target_port: int, round_trip: float = ROUND_TRIP):
        self.target = (target_host, target_port)
        self.delay = round_trip / 2
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._relay, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _relay(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(self._pump(client_reader, server_writer), self._pump(server_reader, client_writer))
        except asyncio.CancelledError:
            pass  # close() ends what is still open: a normal end, or asyncio reports the task at exit
        for writer in (client_writer, server_writer):
            writer.close()

    async def _pump(self, reader, writer) -> None:
        """Copy one direction, each chunk written ``delay`` after it was read (EOF too)."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()

        async def read() -> None:
            while True:
                try:
                    data = await reader.read(65536)
                except OSError:
                    data = b""
                chunks.put_nowait((loop.time() + self.delay, data))
                if not data:
                    return

        async def write() -> None:
            while True:
                due, data = await chunks.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                try:
                    if not data:
                        writer.write_eof()
                        return
                    writer.write(data)
                    await writer.drain()
                except OSError:
                    return

        await asyncio.gather(read(), write())

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._cancel_relays(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    @staticmethod
    async def _cancel_relays() -> None:
        """Connections still open (a tunnel the bench stopped lets go a little later) end here."""
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


class DelayedSshd:
    """The test sshd as the bench sees it, reached through a DelayRelay: another port, and a
    known_hosts line for that port (ssh looks the host key up as ``[127.0.0.1]:PORT``)."""

    def __init__(self, sshd: TestSshd, relay: DelayRelay):
        self.sshd, self.relay = sshd, relay
        self.host, self.port, self.user = sshd.host, relay.port, sshd.user

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.sshd.host_key_pub}"

    def __getattr__(self, name):  # authorize, log_mark, logins_since: the real sshd's
        return getattr(self.sshd, name)


def run() -> list[dict]:
    workdir = Path(tempfile.mkdtemp())
    with TestSshd() as sshd, GatewayStandIn() as gateway:
        relay = DelayRelay(sshd.host, sshd.port)
        bench = Bench(DelayedSshd(sshd, relay), gateway, workdir)
        try:
            setup = median_seconds(bench.wizard(), RUNS, setup=bench.fresh_home)
            by_hand = median_seconds(bench.by_hand(), RUNS, setup=bench.fresh_home)
            bench.fresh_home()
            bench.wizard()()
            rerun = median_seconds(bench.wizard(), RUNS)
            login = median_seconds(bench.one_login(), RUNS)
        finally:
            bench.stop_tunnel()
            relay.close()
    shutil.rmtree(workdir, ignore_errors=True)
    ms = round(ROUND_TRIP * 1000)
    return [row(f"ssh-config+ssh-key+tunnel, key authorized, {ms} ms round trip", setup,
                "the same commands by hand (bash)", by_hand, 1.2),
            row(f"re-run, everything in place, {ms} ms round trip", rerun, "one ssh -o BatchMode=yes true", login,
                1.2)]
