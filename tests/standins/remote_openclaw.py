"""Install the `openclaw` stand-in (tests/standins/remote/openclaw) for the test sshd's login user.

``RemoteOpenclaw(sshd).install(on_path=True)`` puts it in ``sshd.remote_bin`` (first on the PATH
of that user's non-interactive ssh sessions); ``on_path=False`` puts it elsewhere (``.path``), as
npm, nvm or Homebrew do, so that a bare ``openclaw`` exits 127 there. ``configure(**state)``
sets what it reports (see the script's docstring); ``state()`` reads it back.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "remote" / "openclaw"


class RemoteOpenclaw:
    def __init__(self, sshd, token: str, port: int):
        self.sshd = sshd
        self.elsewhere = Path(tempfile.mkdtemp(prefix="ocr-remote-opt-"))
        os.chmod(self.elsewhere, 0o755)
        self.dir: Path | None = None
        self.defaults = {"service": "running", "bind": "loopback", "port": port, "token": token,
                         "auth_mode": "token", "gateway_mode": "local", "redacted": False}

    @property
    def path(self) -> Path:
        return self.dir / "openclaw"

    def install(self, on_path: bool = True, **state) -> RemoteOpenclaw:
        self.remove()
        self.dir = Path(self.sshd.remote_bin) if on_path else self.elsewhere / "node" / "bin"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        shutil.copyfile(SCRIPT, self.path)
        os.chmod(self.path, 0o755)
        self.configure(**{**self.defaults, **state})
        return self

    def configure(self, **state) -> None:
        path = self.dir / "state.json"
        path.write_text(json.dumps({**(self.state() if path.exists() else {}), **state}))
        os.chmod(path, 0o666)  # `gateway start` (run as the login user) writes it

    def when_started(self, start) -> None:
        """Be the remote's service manager: call ``start()`` (say, the gateway stand-in's) once
        ``openclaw gateway start`` has marked the service running."""
        import threading

        def watch():
            while self.dir is not None:
                try:
                    if self.state().get("service") == "running":
                        start()
                        return
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()

    def state(self) -> dict:
        return json.loads((self.dir / "state.json").read_text())

    def remove(self) -> None:
        if self.dir is not None:
            for name in ("openclaw", "state.json"):
                (self.dir / name).unlink(missing_ok=True)
            self.dir = None

    def close(self) -> None:
        self.remove()
        shutil.rmtree(self.elsewhere, ignore_errors=True)
