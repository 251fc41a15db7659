"""What earlier runs answered and did, in ``~/.config/openclaw-remote/state.json``.

Never holds a secret: only answers whose Question is not secret are saved.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from wizard import files
from wizard.errors import UsageError
from wizard.i18n import _


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return _("nested too deeply")
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)


def config_dir(home: Path) -> Path:
    return home / ".config" / "openclaw-remote"


SCALAR = (str, int, float, bool, type(None))
FORMAT = 2  # 2: steps record their answers before acting


def is_text(value) -> bool:
    return isinstance(value, str)


def is_flag(value) -> bool:
    return isinstance(value, bool)


def is_pid(value) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


def is_text_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_scalar_map(value) -> bool:
    return isinstance(value, dict) and all(isinstance(item, SCALAR) for item in value.values())


# What the host itself keeps in each step's record; plugins declare theirs (Step.record_fields).
HOST_RECORD_FIELDS = {
    "status": is_text, "at": is_text, "why": is_text, "changed": is_text_list, "answers": _is_scalar_map,
    "earlier_answers": lambda v: isinstance(v, list) and all(map(_is_scalar_map, v)),
}


_declared: dict = {}  # field -> check, from every loaded step's ``record_fields``


def declare_record_fields(steps) -> None:
    """What the loaded steps keep in their records, so that ``load`` can check it too."""
    _declared.clear()
    for step in steps:
        _declared.update(getattr(step, "record_fields", {}) or {})


def check_shape(data, record_fields: dict | None = None) -> None:
    """Raise ValueError naming the first part of ``data`` that is not what the wizard writes."""
    if not isinstance(data, dict):
        raise ValueError(_("not a JSON object"))
    if not _is_scalar_map(data.get("answers", {})):
        raise ValueError(_("'answers' is not an object of plain values"))
    steps = data.get("steps", {})
    if not isinstance(steps, dict) or not all(isinstance(v, dict) for v in steps.values()):
        raise ValueError(_("'steps' is not an object of objects"))
    if type(data.get("format", 1)) is not int:
        raise ValueError(_("'format' is not a number"))
    for key in ("created", "touched"):
        if not is_text_list(data.get(key, [])):
            raise ValueError(_("'{key}' is not a list of paths").format(key=key))
    replaced = data.get("replaced", {})
    if not (isinstance(replaced, dict) and all(isinstance(v, str) for v in replaced.values())):
        raise ValueError(_("'replaced' is not an object of paths"))
    fields = {**_declared, **(record_fields or {}), **HOST_RECORD_FIELDS}
    for name, record in steps.items():
        for key, value in record.items():
            if key in fields and not fields[key](value):
                raise ValueError(
                    _("steps.{step}.{key} holds {value}").format(step=name, key=key, value=f"{value!r:.60}")
                )


def inside(path: Path, root: Path) -> bool:
    """Is ``path`` inside ``root``, as written and once symlinks are followed? Recorded paths are
    trusted only there: a hand-edited state must never point undo at a file elsewhere."""
    path = Path(path)
    if not path.is_absolute() or ".." in path.parts:
        return False
    try:
        return path.is_relative_to(root) and path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


class State:
    def __init__(self, path: Path, home: Path, data: dict | None = None):
        self.path = path
        self.home = home
        # A state this version started records every step before it acts (see wizard.undo.never_acted).
        self.data = data if data is not None else {"format": FORMAT}
        self.data.setdefault("answers", {})
        self.data.setdefault("steps", {})

    @classmethod
    def load(cls, home: Path) -> "State":
        """The state file, or an empty state when there is none. One that is not what the wizard
        writes (hand-edited, another program's, unreadable) is a UsageError naming the fix: the
        wizard never guesses what was set up, and never silently starts afresh over it."""
        path = config_dir(home) / "state.json"
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would hang the read, a device never end it
                raise ValueError(_("not a regular file"))
            data = json.loads(path.read_text(encoding="utf-8"))
            check_shape(data)
        except FileNotFoundError:
            return cls(path, home)
        except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise UsageError(_("the state file {path} cannot be used ({why}); it is not what openclaw-remote "
                               "writes: fix it or move it away (the wizard then forgets what it set up here)").format(
                path=path, why=_why(exc))) from None
        return cls(path, home, data)

    @property
    def answers(self) -> dict:
        return self.data["answers"]

    @property
    def created(self) -> list[str]:
        """Every file and directory the wizard created (never one that was there before), so
        that a full ``undo`` can leave the home as it found it."""
        return self.data.setdefault("created", [])

    def created_inside_home(self) -> list[Path]:
        return [Path(p) for p in self.created if inside(Path(p), self.home)]

    def note_created(self, paths) -> None:
        for path in map(str, paths):
            if path not in self.created:
                self.created.append(path)

    def step(self, name: str) -> dict:
        return self.data["steps"].get(name, {})

    def record(self, name: str, status: str, since: str | None = None, **details) -> None:
        """``since``: the time to record instead of now (a done step found still done keeps its own)."""
        entry = self.data["steps"].setdefault(name, {})
        entry.update(details, status=status, at=since or time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    @property
    def touched(self) -> list[str]:
        """Every file the wizard wrote (or was about to write): its temp files sit next to them."""
        return self.data.setdefault("touched", [])

    def note_touched(self, path: Path) -> bool:
        if str(path) in self.touched:
            return False
        self.touched.append(str(path))
        return True

    pending = False  # a record made since the last save (flow writes it with the next one)

    def save(self) -> None:
        self.pending = False
        missing = files.missing_parents(self.path)
        self.note_created(missing)
        text = json.dumps(self.data, indent=2, sort_keys=True) + "\n"
        owner = files.home_owner(self.home)
        if missing:  # the first record: it appears together with its directories, or not at all
            files.write_with_new_parents(self.path, text, missing, mode=0o600, dir_mode=0o700, owner=owner)
        else:
            files.write_atomic(self.path, text, mode=0o600, dir_mode=0o700, owner=owner)
