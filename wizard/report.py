"""What ``--json`` prints at the end of ``setup``, ``run``, ``undo`` and ``doctor``: one object
saying, for each step, whether it changed something, was already done, was skipped or failed, and
the command's exit code (schema 1, documented in docs/status.md beside ``status --json``).

    {"schema": 1, "command", "dry_run", "exit_code", "changed", "steps": [{"name", "status",
     "reason", "changes"}], "errors": [...]}  (doctor adds "checks" and "repairs")

The flow (wizard/flow.py, wizard/undo.py, wizard/doctor.py) notes each step's outcome here as it
happens; the command line prints it once the command has returned, whatever way it ended.
"""

from __future__ import annotations

import json

from wizard.ui import printable

SCHEMA = 1

# What a step's "status" may be. A tool decides "changed" from "changed" alone; the dry-run ones
# say what a real run would do.
CHANGED, DONE, SKIPPED, FAILED, NOT_RUN = "changed", "done", "skipped", "failed", "not-run"
WOULD_CHANGE, WOULD_STOP = "would-change", "would-stop"
STATUSES = (CHANGED, DONE, SKIPPED, FAILED, NOT_RUN, WOULD_CHANGE, WOULD_STOP)


class Report:
    def __init__(self, command: str, dry_run: bool = False):
        self.command = command
        self.mask = printable  # the run's UI puts its own (known secrets masked) once it has one
        self.dry_run = dry_run
        self.steps: dict[str, dict] = {}  # in the order the command meant to take them
        self.errors: list[str] = []
        self.extra: dict = {}  # doctor's checks and repairs

    def expect(self, names) -> None:
        """The steps this command means to run, each ``not-run`` until it is reached."""
        for name in names:
            self.steps.setdefault(name, _row(name, NOT_RUN, None, []))

    def note(self, name: str, status: str, reason: str | None = None, changes: list[str] | None = None) -> None:
        assert status in STATUSES, status
        self.steps[name] = _row(name, status, reason, changes or [])

    def error(self, message: str) -> None:
        self.errors.append(message)

    def as_dict(self, exit_code: int) -> dict:
        steps = list(self.steps.values())
        return {"schema": SCHEMA, "command": self.command, "dry_run": self.dry_run, "exit_code": exit_code,
                "changed": any(step["status"] == CHANGED for step in steps) or bool(self.extra.get("changed")),
                "steps": steps, "errors": self.errors,
                **{key: value for key, value in self.extra.items() if key != "changed"}}

    def dumps(self, exit_code: int) -> str:
        """The whole object as one JSON document, every string masked (known secrets hidden,
        control characters escaped) before it is encoded, so that a secret is found whatever
        JSON would make of its quotes or backslashes."""
        return json.dumps(_masked(self.as_dict(exit_code), self.mask), indent=2)


def _masked(value, mask):
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: _masked(item, mask) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, mask) for item in value]
    return value


def _row(name: str, status: str, reason: str | None, changes: list[str]) -> dict:
    return {"name": name, "status": status, "reason": reason, "changes": changes}
