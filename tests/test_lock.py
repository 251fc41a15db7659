"""Two wizards on one home: the second refuses at once with a clear message (the first holds a
flock on the home directory), and the ssh config always ends valid with exactly one block."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pexpect

from tests.conftest import snapshot

FLAGS = ["--host", "gw.example", "--user", "alice"]


def blocks(home) -> int:
    return (home / ".ssh/config").read_text().count("# >>> openclaw-remote remote-gateway >>>")


def test_a_second_wizard_refuses_while_the_first_is_asking(cli, home):
    first = pexpect.spawn(sys.executable, ["-m", "wizard", "setup"], env=cli.env, encoding="utf-8", timeout=30)
    try:
        first.expect("Host alias")  # the first holds the lock and waits for its user
        before = snapshot(home)
        second = cli("run", "ssh-config", "--yes", *FLAGS)
        assert second.returncode == 2
        assert "another openclaw-remote is changing" in second.stderr and "nothing was changed" in second.stderr
        assert snapshot(home) == before
        assert cli("run", "ssh-config", "--dry-run", "--yes", *FLAGS).returncode == 0  # looking needs no lock
        assert cli("status").returncode in (0, 1)
    finally:
        first.sendcontrol("c")
        first.expect(pexpect.EOF)
        first.close()
    assert first.exitstatus == 130
    assert cli("run", "ssh-config", "--yes", *FLAGS).returncode == 0  # the lock went with the process
    assert blocks(home) == 1


def test_wizards_started_together_leave_one_valid_block(cli, home):
    (home / ".ssh/config").write_text("Host elsewhere\n    User me\n")

    def one(host):
        return cli("run", "ssh-config", "--yes", "--host", host, "--user", "alice").returncode

    for round_ in range(8):
        with ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(one, [f"gw{round_}a.example", f"gw{round_}b.example"]))
        assert codes in ([0, 0], [0, 2]), codes  # one after the other, or the second refused
        assert blocks(home) == 1
        check = subprocess.run(["ssh", "-G", "-F", str(home / ".ssh/config"), "remote-gateway"],
                               capture_output=True, text=True)
        assert check.returncode == 0 and f"hostname gw{round_}" in check.stdout
        assert (home / ".ssh/config").read_text().endswith("Host elsewhere\n    User me\n")
