"""openclaw-remote: a wizard that connects OpenClaw.app to a remote Gateway through an SSH tunnel.

The public plugin API is re-exported here, imported lazily so that
``openclaw-remote --help`` does not pay for pluggy::

    from wizard import hookimpl, Step, Question, WriteFile, Run, StepFailed
"""

__version__ = "0.1.0"

_API = {
    "hookimpl": "wizard.hookspecs",
    "Step": "wizard.step",
    "Command": "wizard.step",
    "Check": "wizard.step",
    "Health": "wizard.step",
    "Question": "wizard.step",
    "Action": "wizard.step",
    "WriteFile": "wizard.step",
    "RemoveFile": "wizard.step",
    "Run": "wizard.step",
    "StepFailed": "wizard.errors",
    "Context": "wizard.context",
    "UsageError": "wizard.errors",
    "PluginError": "wizard.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(name)
