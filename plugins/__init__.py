"""The built-in steps of openclaw-remote, one module per step, each registered through
the ``openclaw_remote`` entry-point group like any third-party plugin."""
