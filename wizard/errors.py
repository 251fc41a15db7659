"""The wizard's exceptions, importing nothing of the wizard: every module may raise them.

Re-exported where they were first defined (``wizard.answers.UsageError``, ``wizard.step.StepFailed``,
``wizard.host.PluginError``) and from ``wizard`` itself, so plugins' imports keep working."""

from __future__ import annotations


class UsageError(Exception):
    """Bad usage or bad input: exit 2, nothing changed. ``problems``: each one, when several
    were found at once (every bad flag of a command line), else just this message."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]

    @classmethod
    def of(cls, errors: list[UsageError]) -> UsageError:
        problems = [problem for error in errors for problem in error.problems]
        return cls("\n".join(problems), problems)


class StepFailed(Exception):
    """A step could not do its job. ``kept`` says what was left as it was."""

    def __init__(self, message: str, kept: str = ""):
        super().__init__(message)
        self.message = message
        self.kept = kept


class PluginError(Exception):
    """Plugins that cannot work together (a cycle, an unknown step name, a question declared twice differently)."""
