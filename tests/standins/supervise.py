"""What launchd does for one loaded agent (role "job"), or for one running app (role "app").

    supervise.py job SPEC.json   started by ``launchctl bootstrap``
    supervise.py app SPEC.json   started by ``open``

job: starts the program at load (RunAtLoad, or KeepAlive true), restarts it when it exits if
KeepAlive says so, never more often than once per ThrottleInterval (measured start to start,
like launchd), and keeps "pid", "starts", "last_exit"/"last_signal" in the agent's record in
launchd-loaded.json up to date. As launchd does, when the main process exits the rest of its
process group is killed. Signals: SIGTERM = unload (stop the job: SIGTERM, SIGKILL after 1 s;
exit); SIGINT = unload at once (SIGKILL; the fixtures' cleanup); SIGUSR1 = kickstart -k (kill
and start again at once); SIGUSR2 = kickstart (start now if not running).

app: runs the fake app (a copy of sleep), records it in apps.json, reaps it when it is quit
(so no zombie named like the app lingers for ``pgrep``), and exits. SIGTERM quits the app
(SIGINT: SIGKILL at once).

Each started process is the leader of its own session. This process is the parent of the job
or app and reaps it; it is also a child subreaper, so the job's orphaned descendants are
reaped here rather than left as zombies for PID 1 (which, in some containers, reaps late).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _standin_lib as lib

EX_CONFIG = 78  # launchd's "last exit code" when the job cannot even be spawned
# Safety net for a StandIns never cleaned up: give up after this long, or when the state dir or
# our record in it is gone.
MAX_LIFETIME = float(os.environ.get("STANDIN_MAX_LIFETIME", "3600"))
BORN = time.monotonic()

flags = {"stop": False, "now": False, "restart": False, "start": False}
PR_SET_CHILD_SUBREAPER = 36


def _on(*names):
    def handler(signum, frame):
        for name in names:
            flags[name] = True
    return handler


def log(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} supervise[{os.getpid()}]: {message}\n")
    sys.stderr.flush()


def exited(pid: int) -> int | None:
    """The wait status if ``pid`` (our child) has exited, WITHOUT reaping it (the process group
    id stays reserved, so the group can still be killed safely)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return -1
    if info is None or info.si_pid == 0:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def become_subreaper() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def reap_strays(main_pid: int | None) -> None:
    """Reap exited orphans adopted from the job (never ``main_pid``: the loop handles it)."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid in (0, main_pid):
            return
        try:
            os.waitpid(info.si_pid, 0)
        except ChildProcessError:
            return


def children() -> list[int]:
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids += [int(pid) for pid in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def kill_adopted(timeout: float = 1.0) -> None:
    """Before exiting: SIGKILL and reap every adopted descendant still around."""
    deadline = time.monotonic() + timeout
    while (left := children()) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(lib.POLL / 2)
        reap_strays(None)


def reap(child) -> None:
    lib.signal_group(child.pid, signal.SIGKILL)  # what is left of the job's process group
    try:
        child.wait(timeout=2)
    except Exception:  # noqa: BLE001
        pass
    reap_strays(None)


def stop_child(child, grace: float = 1.0) -> int:
    """SIGTERM the group, SIGKILL after ``grace`` s (at once after SIGINT); reaps. Returns the
    status (see exited)."""
    if flags["now"]:
        grace = 0.0
    status = exited(child.pid)
    if status is None:
        lib.signal_group(child.pid, signal.SIGTERM if grace else signal.SIGKILL)
        deadline = time.monotonic() + grace
        while (status := exited(child.pid)) is None and time.monotonic() < deadline:
            time.sleep(lib.POLL)
        if status is None:
            lib.signal_group(child.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while (status := exited(child.pid)) is None and time.monotonic() < deadline:
                time.sleep(lib.POLL)
    reap(child)
    return -signal.SIGKILL if status is None else status


# --- job -----------------------------------------------------------------------------------------

class Job:
    def __init__(self, state: Path, spec: dict):
        self.state = state
        self.spec = spec
        self.label = spec["label"]
        self.child = None
        self.starts = 0
        self.last_start = None

    def update(self, **fields) -> bool:
        try:
            with lib.locked(self.state):
                loaded = lib.load_json(self.state, "launchd-loaded.json", {})
                record = loaded.get(self.label)
                if not record or record.get("supervisor_pid") != os.getpid():
                    return False
                record.update(fields)
                lib.save_json(self.state, "launchd-loaded.json", loaded)
                return True
        except (OSError, ValueError) as exc:  # the state dir was removed under us
            log(f"{self.label}: cannot update the record: {exc}")
            return False

    def orphaned(self) -> bool:
        if time.monotonic() - BORN > MAX_LIFETIME:
            return True
        try:
            record = lib.load_json(self.state, "launchd-loaded.json", {}).get(self.label)
        except (OSError, ValueError):
            return True
        return not record or record.get("supervisor_pid") != os.getpid()

    def env(self) -> dict:
        env = dict(self.spec["base_env"])
        env.update(lib.launchd_env(self.state))  # read at every start, as launchd does
        env.update(self.spec.get("environment") or {})
        return env

    def start(self) -> None:
        self.starts += 1
        self.last_start = time.monotonic()
        env = self.env()
        argv = self.spec["argv"]
        program = self.spec.get("program") or argv[0]
        if "/" not in program:
            program = shutil.which(program, path=env.get("PATH", lib.LAUNCHD_PATH)) or program
        handles = []
        try:
            out = self._open(self.spec.get("stdout"), handles)
            err = out if self.spec.get("stderr") == self.spec.get("stdout") else self._open(
                self.spec.get("stderr"), handles)
            self.child = lib.spawn_detached(self.state, argv, kind="job", name=self.label, env=env,
                                            cwd=self.spec.get("cwd") or "/", stdout=out, stderr=err,
                                            executable=program)
        except OSError as exc:
            log(f"{self.label}: cannot spawn {program}: {exc}")
            self.child = None
            self.update(pid=None, pid_start=None, starts=self.starts, last_exit=EX_CONFIG, last_signal=None,
                        spawn_error=str(exc))
            return
        finally:
            for handle in handles:
                handle.close()
        log(f"{self.label}: started pid {self.child.pid}")
        self.update(pid=self.child.pid, pid_start=lib.proc_start(self.child.pid), starts=self.starts,
                    spawn_error=None)

    @staticmethod
    def _open(path, handles: list):
        """StandardOutPath/StandardErrorPath: appended to, created if missing (not its folder)."""
        handle = open(path, "ab") if path else open(os.devnull, "wb")
        handles.append(handle)
        return handle

    def finished(self, status: int) -> None:
        reap(self.child)
        log(f"{self.label}: pid {self.child.pid} ended with {status}")
        self.child = None
        if status >= 0:
            self.update(pid=None, pid_start=None, last_exit=status, last_signal=None)
        else:
            self.update(pid=None, pid_start=None, last_exit=None, last_signal=-status)

    def wants_restart(self, status: int) -> bool:
        keepalive = self.spec.get("keepalive")
        if keepalive is True:
            return True
        if isinstance(keepalive, dict):
            if "SuccessfulExit" in keepalive:
                return (status == 0) == bool(keepalive["SuccessfulExit"])
            return True
        return False

    def run(self) -> None:
        if not self.update(supervisor_ready=True):
            log(f"{self.label}: not (or no longer) loaded; exiting")
            return
        next_start = time.monotonic() if self.spec.get("start_at_load") else None
        throttle = float(self.spec.get("throttle", 10))
        next_check = time.monotonic() + 1
        while True:
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 1
                if self.orphaned():
                    log(f"{self.label}: state gone, record gone or lifetime over: stopping")
                    flags["stop"] = True
            if flags["stop"]:
                if self.child is not None:
                    status = stop_child(self.child)
                    self.child = None
                    self.update(pid=None, pid_start=None, last_exit=status if status >= 0 else None,
                                last_signal=-status if status < 0 else None)
                kill_adopted()
                log(f"{self.label}: unloaded")
                return
            if flags["restart"]:
                flags["restart"] = False
                if self.child is not None:
                    status = stop_child(self.child)
                    self.child = None
                    self.update(pid=None, pid_start=None, last_exit=status if status >= 0 else None,
                                last_signal=-status if status < 0 else None)
                next_start = time.monotonic()  # kickstart ignores ThrottleInterval
            if flags["start"]:
                flags["start"] = False
                if self.child is None:
                    next_start = time.monotonic()
            if self.child is not None:
                status = exited(self.child.pid)
                if status is not None:
                    self.finished(status)
                    next_start = (max(time.monotonic(), self.last_start + throttle)
                                  if self.wants_restart(status) else None)
            elif self.starts and next_start is None and self.spec.get("keepalive") is True:
                # the spawn itself failed: launchd retries a KeepAlive job after the throttle
                next_start = self.last_start + throttle
            if self.child is None and next_start is not None and time.monotonic() >= next_start:
                next_start = None
                self.start()
            reap_strays(self.child.pid if self.child else None)
            time.sleep(lib.POLL)


# --- app -----------------------------------------------------------------------------------------

def run_app(state: Path, spec: dict) -> None:
    name = spec["name"]
    child = lib.spawn_detached(state, [spec["argv0"], "infinity"], kind="app", name=name, env=spec["env"],
                               executable=spec["binary"])
    with lib.locked(state):
        apps = lib.load_json(state, "apps.json", {})
        apps[name] = {"pid": child.pid, "start": lib.proc_start(child.pid), "app": spec["app"],
                      "keeper": os.getpid()}
        lib.save_json(state, "apps.json", apps)
    log(f"{name}: started pid {child.pid}")
    while not flags["stop"] and exited(child.pid) is None:
        reap_strays(child.pid)
        if time.monotonic() - BORN > MAX_LIFETIME or not state.is_dir():
            log(f"{name}: state gone or lifetime over: quitting the app")
            break
        time.sleep(lib.POLL)
    status = stop_child(child)
    kill_adopted()
    log(f"{name}: pid {child.pid} ended with {status}")
    try:
        with lib.locked(state):
            apps = lib.load_json(state, "apps.json", {})
            if apps.get(name, {}).get("pid") == child.pid:
                del apps[name]
                lib.save_json(state, "apps.json", apps)
    except (OSError, ValueError) as exc:
        log(f"{name}: cannot update apps.json: {exc}")


def main() -> int:
    role = sys.argv[1]
    with open(sys.argv[2], encoding="utf-8") as handle:
        spec = json.load(handle)
    state = lib.state_dir()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on("stop"))
    signal.signal(signal.SIGINT, _on("stop", "now"))
    become_subreaper()
    signal.signal(signal.SIGUSR1, _on("restart"))
    signal.signal(signal.SIGUSR2, _on("start"))
    if role == "job":
        Job(state, spec).run()
    elif role == "app":
        run_app(state, spec)
    else:
        log(f"unknown role {role!r}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
