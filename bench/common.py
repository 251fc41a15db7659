"""Timing helpers: medians of repeated runs, ratios against a baseline measured in the same run."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_seconds(action, runs: int, setup=None) -> float:
    """Median wall time of ``action()`` over ``runs`` runs (``setup()`` before each, not timed)."""
    times = []
    for _ in range(runs):
        if setup:
            setup()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


REPO = Path(__file__).resolve().parent.parent


# The ``openclaw-remote`` of this checkout ``pip install``ed into a fresh venv (bench/startup.py
# builds it), as a user runs it; None until then, or where pip could not install it.
installed: str | None = None


def tool(*args: str) -> list[str]:
    """``openclaw-remote ARGS`` as a user runs it: the installed copy of this checkout, else (no
    copy could be installed) ``checkout_tool``."""
    return [installed, *args] if installed else checkout_tool(*args)


def checkout_tool(*args: str) -> list[str]:
    """``openclaw-remote ARGS`` from this checkout, with the interpreter running the bench:
    ``python -m wizard`` run in the checkout imports its code, where an installed script would
    import whatever copy was installed."""
    return [sys.executable, "-m", "wizard", *args]


def command(argv, env=None, check=True):
    def run():
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              cwd=REPO)
        if check and done.returncode != 0:
            raise SystemExit(f"benchmark command failed: {argv}: {done.stderr}")
    return run


def logins(sshd, action, setup=None) -> int:
    """ssh logins one run of ``action()`` makes, counted in the test sshd's log."""
    if setup:
        setup()
    mark = sshd.log_mark()
    action()
    return sshd.logins_since(mark)


def row(name: str, ours: float, baseline_name: str, baseline: float, target: float | None,
        logins: tuple[int, int] | None = None) -> dict:
    """``logins``: (ours, the baseline's) ssh logins, for the benchmarks that reach an sshd."""
    ratio = ours / baseline
    verdict = "" if target is None else ("ok" if ratio <= target else "OVER")
    return {"benchmark": name, "ours_ms": ours * 1000, "baseline": baseline_name,
            "baseline_ms": baseline * 1000, "ratio": ratio, "target": target, "verdict": verdict,
            "logins": logins}


def print_table(rows: list[dict]) -> None:
    print(f"| {'benchmark':<44} | {'ours':>9} | {'baseline':<44} | {'baseline':>9} | {'ratio':>6} | "
          f"ssh logins | target |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 46}|{'-' * 11}|{'-' * 8}|------------|--------|")
    for r in rows:
        target = f"≤{r['target']:g}× {r['verdict']}" if r["target"] else ""
        logins = f"{r['logins'][0]} vs {r['logins'][1]}" if r["logins"] else "—"
        print(f"| {r['benchmark']:<44} | {r['ours_ms']:>6.0f} ms | {r['baseline']:<44} | "
              f"{r['baseline_ms']:>6.0f} ms | {r['ratio']:>5.2f}× | {logins:>10} | {target} |")
