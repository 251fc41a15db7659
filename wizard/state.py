"""What earlier runs answered and did, in ``~/.config/openclaw-remote/state.json``.

Never holds a secret: only answers whose Question is not secret are saved.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from wizard import files


def config_dir(home: Path) -> Path:
    return home / ".config" / "openclaw-remote"


def _check_shape(data) -> None:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if not isinstance(data.get("answers", {}), dict):
        raise ValueError("'answers' is not an object")
    steps = data.get("steps", {})
    if not isinstance(steps, dict) or not all(isinstance(v, dict) for v in steps.values()):
        raise ValueError("'steps' is not an object of objects")


class State:
    def __init__(self, path: Path, data: dict | None = None, problem: str | None = None):
        self.path = path
        self.data = data or {}
        self.data.setdefault("answers", {})
        self.data.setdefault("steps", {})
        self.problem = problem  # why an unreadable file was ignored

    @classmethod
    def load(cls, home: Path) -> "State":
        path = config_dir(home) / "state.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            _check_shape(data)
        except FileNotFoundError:
            return cls(path)
        except (ValueError, UnicodeDecodeError) as exc:
            return cls(path, problem=f"{path}: {exc}")
        return cls(path, data)

    @property
    def answers(self) -> dict:
        return self.data["answers"]

    @property
    def created(self) -> list[str]:
        """Every file and directory the wizard created (never one that was there before), so
        that a full ``undo`` can leave the home as it found it."""
        return self.data.setdefault("created", [])

    def note_created(self, paths) -> None:
        for path in map(str, paths):
            if path not in self.created:
                self.created.append(path)

    def step(self, name: str) -> dict:
        return self.data["steps"].get(name, {})

    def record(self, name: str, status: str, **details) -> None:
        entry = self.data["steps"].setdefault(name, {})
        entry.update(details, status=status, at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def save(self) -> None:
        if self.problem and self.path.exists():  # about to replace a file we could not read: keep it
            files.backup(self.path, self.path.parent / "backups")
            self.problem = None
        self.note_created(files.missing_parents(self.path))
        files.write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n",
                           mode=0o600, dir_mode=0o700)
