"""launchd as a real Mac has it (issue 12): ``print`` output read defensively, ``bootout`` that
answers 36 and finishes later, ``bootstrap`` that answers 37 meanwhile, a disabled label (5, as in a GUI domain),
no gui/UID domain over ssh (125), plists that must be 0644. The stand-in models each behaviour
(tests/standins/bin/launchctl); the wizard's setup, doctor and undo run against it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from plugins import _launchd
from tests.conftest import snapshot
from tests.harness.fixtures import GATEWAY_TOKEN
from tests.test_mac_side import LABEL, launchctl_changes, mac, plist, status_json  # noqa: F401  (fixtures)
from tests.test_remote import ssh_processes_for
from tests.test_standins import DOMAIN, run, write_plist

pytestmark = pytest.mark.timeout(120)
UID = os.getuid()
CAPTURES = Path(__file__).resolve().parent / "data" / "launchctl-print"


# --- the parser, on output in the shape of a real Mac's ------------------------------------------

@pytest.mark.real_mac
@pytest.mark.parametrize("name, state, pid, last_exit", [("running.txt", "running", 48213, 255),
                                                         ("throttled.txt", "spawn scheduled", None, 255),
                                                         ("exited.txt", "not running", None, 0)])
def test_print_parser_reads_the_service_level_only(name, state, pid, last_exit):
    # running.txt's nested coalitions have a "state = active" of their own
    assert _launchd.parse_print((CAPTURES / name).read_text()) == _launchd.Service(state, pid, last_exit)


@pytest.mark.real_mac
@pytest.mark.parametrize("text", ["", "garbage\n{{{\n", "}\n}\n\tpid = 12\n", "pid = twelve\nstate\n",
                                  "\tpid = -3\n", "gui/501/x = {\n\tstate = running\n"])
def test_print_parser_never_fails_on_output_it_does_not_know(text):
    found = _launchd.parse_print(text)
    assert found.pid in (None, 12) and (found.state is None or isinstance(found.state, str))


@pytest.mark.real_mac
def test_print_parser_reads_blockless_output_line_by_line():
    assert _launchd.parse_print("state = running\npid = 77\n") == _launchd.Service("running", 77)
    assert _launchd.parse_print("\tlast exit code = (never exited)\n").last_exit is None


# --- the stand-in behaves as launchd does ----------------------------------------------------------

def test_strict_bootout_answers_36_and_bootstrap_37_until_the_job_is_gone(standins, tmp_path):
    agent = write_plist(tmp_path / "test.slow.plist", Label="test.slow", ProgramArguments=["sleep", "60"],
                        RunAtLoad=True)
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(agent)).returncode == 0
    out = run(standins, "launchctl", "bootout", f"{DOMAIN}/test.slow", **standins.strict_env)
    assert out.returncode == 36 and "36: Operation now in progress" in out.stderr
    assert run(standins, "launchctl", "print", f"{DOMAIN}/test.slow").returncode == 0  # still there
    again = run(standins, "launchctl", "bootstrap", DOMAIN, str(agent))
    assert again.returncode == 37 and "37: Operation already in progress" in again.stderr
    from tests.standins import wait_until

    assert wait_until(lambda: run(standins, "launchctl", "print", f"{DOMAIN}/test.slow").returncode == 113, 5)
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(agent)).returncode == 0


def test_a_disabled_label_does_not_bootstrap_until_enabled(standins, tmp_path):
    agent = write_plist(tmp_path / "test.off.plist", Label="test.off", ProgramArguments=["sleep", "60"])
    assert run(standins, "launchctl", "disable", f"{DOMAIN}/test.off").returncode == 0
    assert '\t"test.off" => disabled\n' in run(standins, "launchctl", "print-disabled", DOMAIN).stdout
    refused = run(standins, "launchctl", "bootstrap", DOMAIN, str(agent))
    # A user's GUI domain says 5, as for a job still unloading, not "disabled" (see the stand-in)
    assert refused.returncode == 5 and "5: Input/output error" in refused.stderr
    assert run(standins, "launchctl", "enable", f"{DOMAIN}/test.off").returncode == 0
    assert '"test.off" => disabled' not in run(standins, "launchctl", "print-disabled", DOMAIN).stdout
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(agent)).returncode == 0


def test_an_ssh_session_has_no_gui_domain(standins, tmp_path):
    agent = write_plist(tmp_path / "test.ssh.plist", Label="test.ssh", ProgramArguments=["sleep", "60"])
    assert run(standins, "launchctl", "managername").stdout == "Aqua\n"
    assert run(standins, "launchctl", "print", DOMAIN).returncode == 0
    standins.set_session("Background")
    assert run(standins, "launchctl", "managername").stdout == "Background\n"
    assert run(standins, "launchctl", "print", DOMAIN).returncode == 113
    done = run(standins, "launchctl", "bootstrap", DOMAIN, str(agent))
    assert done.returncode == 125 and "125: Domain does not support specified action" in done.stderr


def test_print_has_nested_blocks_that_fool_a_flat_reader(standins, tmp_path):
    agent = write_plist(tmp_path / "test.p.plist", Label="test.p", ProgramArguments=["sleep", "60"], RunAtLoad=True)
    assert run(standins, "launchctl", "bootstrap", DOMAIN, str(agent)).returncode == 0
    printed = run(standins, "launchctl", "print", f"{DOMAIN}/test.p").stdout
    assert "\t\tstate = active" in printed and "\tstate = running" in printed
    assert _launchd.parse_print(printed) == _launchd.Service("running", standins.job_pid("test.p"))  # never exited


# --- the wizard survives them ----------------------------------------------------------------------

@pytest.mark.real_mac
def test_setup_then_a_changed_agent_meets_bootout_36_and_waits_for_it(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    agent = plist(home, mac.label)
    agent.write_text(agent.read_text().replace("<integer>30</integer>", "<integer>1</integer>"))
    old_pid = mac.backend.job_pid(mac.label)
    mac.backend.clear_calls()
    done = cli("run", "autostart", "--yes", *mac.flags)
    assert done.returncode == 0, done.stderr
    launchctl = mac.backend.calls("launchctl")
    if launchctl is not None:  # the strict stand-in always answers 36; a real Mac may, or may finish at once
        assert "launchd is unloading" in done.stderr  # it met 36 and said so
        assert ["bootstrap", f"gui/{UID}", str(agent)] in launchctl
    new_pid = mac.backend.job_pid(mac.label)
    assert new_pid and new_pid != old_pid and mac.backend.ssh_tunnels(home) == [new_pid]
    assert "<integer>30</integer>" in agent.read_text()


@pytest.mark.real_mac
def test_a_disabled_tunnel_label_is_enabled_before_it_is_bootstrapped(cli, home, mac):
    """Bootstrap of a disabled label answers 5 in a GUI domain, like a job still unloading: the
    wizard enables its own label before every bootstrap, so retrying 5 never has to guess."""
    mac.backend.disable(mac.label)  # `launchctl disable`, as the user may have run it
    done = cli("setup", "--yes", *mac.flags)
    assert done.returncode == 0, done.stderr
    assert mac.backend.enabled(mac.label) and mac.backend.loaded(mac.label)
    assert "still unloading" not in done.stderr  # no 5 met, no retries
    launchctl = mac.backend.calls("launchctl")
    if launchctl is not None:  # the stand-in's call log: enable, then bootstrap of that plist
        enable = launchctl.index(["enable", f"gui/{UID}/{mac.label}"])
        assert ["bootstrap", f"gui/{UID}", str(plist(home, mac.label))] in launchctl[enable + 1:]


@pytest.mark.real_mac
def test_our_plists_are_0644_even_when_the_old_file_was_group_writable(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    agent = plist(home, mac.label)
    agent.chmod(0o664)  # same content, a mode launchd refuses
    mac.backend.bootout(mac.label)
    done = cli("run", "autostart", "--yes", *mac.flags)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(agent.stat().st_mode) == 0o644
    assert mac.backend.loaded(mac.label)
    assert mac.backend.ssh_tunnels(home) == [mac.backend.job_pid(mac.label)]


def test_the_dry_run_shows_a_mode_it_would_fix(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    agent = plist(home, LABEL)
    agent.chmod(0o664)
    plan = cli("run", "autostart", "--dry-run", "--yes", *mac.flags)
    assert plan.returncode == 0, plan.stderr
    assert f"chmod 664 -> 644 {agent}" in plan.stdout
    assert stat.S_IMODE(agent.stat().st_mode) == 0o664  # a dry run changes nothing


@pytest.mark.real_mac
def test_setup_status_doctor_fix_and_undo(cli, home, mac):
    """The whole life of a setup on the Mac (the strict stand-in on Linux: bootout answers 36)."""
    item = f"openclaw-remote:{mac.alias}"
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    assert cli("status").returncode == 0
    mac.backend.bootout(mac.label)  # the tunnel's agent gone: status says so, doctor --fix loads it again
    code, report = status_json(cli)
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert code == 1 and statuses["autostart-agent"] == statuses["tunnel-process"] == "fail", statuses
    fixed = cli("doctor", "--fix", "--yes", *mac.flags)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert mac.backend.loaded(mac.label) and mac.backend.ssh_tunnels(home) == [mac.backend.job_pid(mac.label)]
    assert cli("status").returncode == 0
    undone = cli("undo", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert not mac.backend.loaded(mac.label) and not mac.backend.loaded("openclaw-remote.token-push")
    assert mac.backend.ssh_tunnels(home) == []
    assert not plist(home, mac.label).exists() and not plist(home, "openclaw-remote.token-push").exists()
    assert mac.backend.keychain_item(item) is None  # undo checks the item is really gone (issue 12)
    assert mac.backend.getenv("OPENCLAW_GATEWAY_TOKEN") is None


@pytest.mark.real_mac
def test_the_mac_backends_teardown_leaves_nothing_of_a_setup(cli, home, mac):
    """What the real backend does after every test on a Mac, proven wherever it runs."""
    mac.backend.start_app(mac.app)
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    assert mac.backend.loaded(mac.label) and mac.backend.app_pid(mac.app)
    mac.backend.forget()
    assert not mac.backend.loaded(mac.label) and not mac.backend.loaded("openclaw-remote.token-push")
    assert mac.backend.enabled(mac.label) and mac.backend.getenv("OPENCLAW_GATEWAY_TOKEN") is None
    assert mac.backend.keychain_item(f"openclaw-remote:{mac.alias}") is None
    assert mac.backend.app_pid(mac.app) is None and mac.backend.ssh_tunnels(home) == []


@pytest.mark.real_mac
def test_undo_of_a_token_deleted_by_hand_from_the_keychain_is_fine(cli, home, mac):
    item = f"openclaw-remote:{mac.alias}"
    assert cli("run", "ssh-config", "ssh-key", "token", "--yes", *mac.flags).returncode == 0
    assert mac.backend.keychain_item(item) == GATEWAY_TOKEN
    mac.backend.delete_keychain_item(item)  # security delete-generic-password, by hand
    undone = cli("undo", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert mac.backend.keychain_item(item) is None


def test_outside_the_gui_session_setup_stops_before_any_change(cli, home, mac):
    mac.standins.set_session("Background")  # as over ssh
    before = snapshot(home)
    refused = cli("setup", "--yes", *mac.flags)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "'Background', not 'Aqua'" in refused.stderr and "macOS notes" in refused.stderr
    assert snapshot(home) == before and launchctl_changes(mac.standins) == []
    assert ssh_processes_for(home) == []


def test_a_bootout_that_never_finishes_is_waited_for_a_bounded_time(cli, home, mac):
    assert cli("setup", "--yes", *mac.flags).returncode == 0
    agent = plist(home, LABEL)
    agent.write_text(agent.read_text().replace("<integer>30</integer>", "<integer>1</integer>"))
    done = cli("run", "autostart", "--yes", *mac.flags, env={"STANDIN_LAUNCHD_BOOTOUT_LAG": "60"})
    assert done.returncode == 1, done.stdout + done.stderr
    bound = f"{_launchd.BOOTOUT_WAIT_SECONDS:g} s after 'launchctl bootout' answered 36"
    assert bound in done.stderr and f"launchctl print gui/{UID}/{LABEL}" in done.stderr
