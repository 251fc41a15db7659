"""Everything the wizard prints goes through here, with known secrets masked."""

from __future__ import annotations

import sys

from wizard.step import MASK


class UI:
    def __init__(self, secrets: set[str] | None = None):
        self.secrets = secrets if secrets is not None else set()
        self._out = None
        self._err = None

    def mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, MASK)
        return text

    def _console(self, err: bool):
        # rich costs ~30 ms to import: only pay for it once something is printed.
        if self._out is None:
            from rich.console import Console

            self._out = Console(highlight=False, soft_wrap=True)
            self._err = Console(highlight=False, soft_wrap=True, stderr=True)
        return self._err if err else self._out

    def say(self, text: str = "", style: str | None = None, err: bool = False) -> None:
        stream = sys.stderr if err else sys.stdout
        if not _is_terminal(stream):  # colours are all rich adds here: skip its import cost
            print(self.mask(text), file=stream, flush=True)
            return
        self._console(err).print(self.mask(text), style=style, markup=False)

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
