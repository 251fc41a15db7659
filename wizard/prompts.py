"""Interactive prompts (questionary, imported only when a prompt is really shown).

``unsafe_ask`` lets Ctrl-C raise KeyboardInterrupt (``ask`` would swallow it and
return None), so the host can stop cleanly with exit 130. Every prompt hides the spinner of a wait
under way (``UI.waiting``) while it is shown: ssh-copy-id asks for a password in the middle of one.
"""

from __future__ import annotations

from typing import Any

from wizard.step import Question
from wizard.ui import spinner_paused


def _validator(question: Question):
    def check(text: str):
        try:
            question.parse(text)
        except ValueError as exc:
            return str(exc)
        return True

    return check


def text(question: Question, default: str) -> Any:
    import questionary

    with spinner_paused():
        answer = questionary.text(question.prompt, default=default, validate=_validator(question),
                                  instruction=question.help or None).unsafe_ask()
    return question.parse(answer)


def secret(prompt: str, optional: bool = False, question: Question | None = None) -> str:
    import questionary

    check = _validator(question) if question is not None else (lambda text: True)
    with spinner_paused():
        return questionary.password(
            prompt, validate=lambda text: (optional and not text) or (bool(text) and check(text)) or "?"
        ).unsafe_ask()


def confirm(prompt: str, default: bool = False) -> bool:
    import questionary

    with spinner_paused():
        return bool(questionary.confirm(prompt, default=default).unsafe_ask())
