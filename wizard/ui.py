"""Everything the wizard prints goes through here, with known secrets masked."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

MASK = "****"  # what a secret looks like in every line the wizard prints

# The spinner now turning, if any. Process-wide, because prompts (wizard.prompts) know no UI
# and must stop it before they draw: a spinner redrawn over a password prompt garbles it.
_spinner = None
_spinner_lock = threading.Lock()
_depth = 0  # waits under way (the outer one speaks)
_pauses = 0  # prompts and lines being shown over the spinner


# Control characters shown as \xNN, never sent raw: text from a config file, an answer or a
# server (an escape sequence, a lone carriage return) must not rewrite the terminal. Tabs and
# line ends stay; a CRLF line end prints as a line end.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0, 9), *range(11, 32), 127, *range(0x80, 0xA0))}


def printable(text: str) -> str:
    return text.replace("\r\n", "\n").translate(_CONTROL)


class UI:
    def __init__(self, secrets: set[str] | None = None, stdout_is_data: bool = False):
        self.secrets = secrets if secrets is not None else set()
        # --json: stdout carries the one JSON object, so every human line goes to stderr.
        self.stdout_is_data = stdout_is_data
        self._out = None
        self._err = None

    def mask(self, text: str) -> str:
        """``text`` as it may be shown: known secrets masked, control characters escaped."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, MASK)
        return printable(text)

    def _console(self, err: bool):
        # rich costs ~30 ms to import: only pay for it once something is printed.
        if self._out is None:
            from rich.console import Console

            self._out = Console(highlight=False, soft_wrap=True)
            self._err = Console(highlight=False, soft_wrap=True, stderr=True)
        return self._err if err else self._out

    def say(self, text: str = "", style: str | None = None, err: bool = False) -> None:
        err = err or self.stdout_is_data
        stream = sys.stderr if err else sys.stdout
        if not _is_terminal(stream):  # colours are all rich adds here: skip its import cost
            print(self.mask(text), file=stream, flush=True)
            return
        with spinner_paused():  # the line goes above the spinner, not through it
            self._console(err).print(self.mask(text), style=style, markup=False)

    @contextmanager
    def waiting(self, text: str):
        """Say what the block waits for, and its bound ("connecting to gw:22 (up to 15 s)…"), while
        it runs: a spinner on a terminal (stopped while a line or a prompt is shown), one plain
        line on stderr otherwise. Yields a ``Wait``; ``wait.update(text)`` says what comes next.
        A wait inside another one says nothing: the outer one already does."""
        global _depth, _spinner
        if _depth:
            yield Wait(self, None, quiet=True)
            return
        status = None
        if _is_terminal(sys.stderr) and not self._console(err=True).is_dumb_terminal:  # TERM=dumb: rich draws nothing
            status = self._console(err=True).status(self.mask(text), spinner="dots")
        _depth += 1
        try:
            wait = Wait(self, status)
            if status is None:
                wait.update(text)
            else:
                wait._text = text
                with _spinner_lock:
                    _spinner = status
                status.start()
            yield wait
        finally:
            _depth -= 1
            if status is not None:
                with _spinner_lock:
                    _spinner = None
                status.stop()

    def heading(self, text: str) -> None:
        self.say(text, style="bold")

    def ok(self, text: str) -> None:
        self.say("✓ " + text, style="green")

    def skip(self, text: str) -> None:
        self.say("- " + text, style="dim")

    def warn(self, text: str) -> None:
        self.say("! " + text, style="yellow", err=True)

    def error(self, text: str) -> None:
        self.say("✗ " + text, style="bold red", err=True)

    def block(self, text: str, err: bool = False) -> None:
        """A diff or command listing, coloured by line."""
        for line in self.mask(text).splitlines():
            style = None
            if line.startswith(("+++", "---", "@@")):
                style = "cyan"
            elif line.startswith("+"):
                style = "green"
            elif line.startswith("-"):
                style = "red"
            elif line.startswith("$ "):
                style = "bold"
            self.say("    " + line, style=style, err=err)


class Wait:
    """What ``UI.waiting`` yields: ``update`` changes the spinner's text, or prints a new plain line."""

    def __init__(self, ui: UI, status, quiet: bool = False):
        self._ui, self._status, self._quiet = ui, status, quiet
        self._text = None

    def update(self, text: str) -> None:
        if self._quiet or text == self._text:  # said already
            return
        self._text = text
        if self._status is not None:
            self._status.update(self._ui.mask(text))
        else:  # no terminal: one plain line per thing waited for
            print("  " + self._ui.mask(text), file=sys.stderr, flush=True)


@contextmanager
def spinner_paused():
    """Hide the spinner (if one turns) while the block prints or prompts; it turns again after
    (after the outermost pause: a line printed during a prompt must not bring it back)."""
    global _pauses
    with _spinner_lock:
        status = _spinner
        _pauses += 1
    if status is not None and _pauses == 1:
        status.stop()
    try:
        yield
    finally:
        with _spinner_lock:
            _pauses -= 1
            resume = status is not None and _pauses == 0 and _spinner is status  # still the same wait
        if resume:
            status.start()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:
        return False
