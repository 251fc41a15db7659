"""Loaded (via PYTHONPATH) into a wizard under test: SIGKILL it at the Nth "event", where events
are the moments around every file operation and every command it starts.

OPENCLAW_TEST_KILL_AT=NAME#K  kill at the K-th event called NAME (e.g. "before os.replace#3")
OPENCLAW_TEST_EVENTS=FILE     append one line per event ("NAME#K"), to learn which there are

Each wrapped call is two events: just before it, and just after it returned. Events are named
by kind and counted per kind, so a polling loop that runs a few more times does not shift them.
"""

import os

# Taken out of the environment: the wizard's children (python stand-ins among them) must not count.
_AT = os.environ.pop("OPENCLAW_TEST_KILL_AT", "")
_LOG = os.environ.pop("OPENCLAW_TEST_EVENTS", None)
_seen = {}
_PID = os.getpid()


def _event(name):
    if os.getpid() != _PID:
        return  # a forked child (pty.fork) on its way to exec: not the wizard
    _seen[name] = _seen.get(name, 0) + 1
    event = f"{name}#{_seen[name]}"
    if _LOG:
        with open(_LOG, "a") as log:
            log.write(event + "\n")
    if event == _AT:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _wrap(owner, attr, name):
    original = getattr(owner, attr)

    def wrapper(*args, **kwargs):
        _event("before " + name)
        result = original(*args, **kwargs)
        _event("after " + name)
        return result

    setattr(owner, attr, wrapper)


if _LOG or _AT:
    import pty
    import shutil
    import subprocess

    for _attr in ("replace", "fsync", "unlink", "rename", "mkdir", "write", "fchmod"):
        _wrap(os, _attr, "os." + _attr)
    _wrap(shutil, "copy2", "shutil.copy2")
    _wrap(pty, "fork", "pty.fork")  # pexpect: ssh-copy-id, ssh-keygen with a passphrase
    _original_popen_init = subprocess.Popen.__init__

    def _popen_init(self, args, *rest, **kwargs):
        name = os.path.basename(str(args[0] if isinstance(args, (list, tuple)) else args))
        _event("before exec " + name)
        _original_popen_init(self, args, *rest, **kwargs)
        _event("after exec " + name)

    subprocess.Popen.__init__ = _popen_init
