"""Timing helpers: medians of repeated runs, ratios against a baseline measured in the same run."""

from __future__ import annotations

import statistics
import subprocess
import time


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


def command(argv, env=None, check=True):
    def run():
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if check and done.returncode != 0:
            raise SystemExit(f"benchmark command failed: {argv}: {done.stderr}")
    return run


def row(name: str, ours: float, baseline_name: str, baseline: float, target: float | None) -> dict:
    ratio = ours / baseline
    verdict = "" if target is None else ("ok" if ratio <= target else "OVER")
    return {"benchmark": name, "ours_ms": ours * 1000, "baseline": baseline_name,
            "baseline_ms": baseline * 1000, "ratio": ratio, "target": target, "verdict": verdict}


def print_table(rows: list[dict]) -> None:
    print(f"| {'benchmark':<38} | {'ours':>9} | {'baseline':<40} | {'baseline':>9} | {'ratio':>6} | target |")
    print(f"|{'-' * 40}|{'-' * 11}|{'-' * 42}|{'-' * 11}|{'-' * 8}|--------|")
    for r in rows:
        target = f"≤{r['target']:g}x {r['verdict']}" if r["target"] else ""
        print(f"| {r['benchmark']:<38} | {r['ours_ms']:>6.0f} ms | {r['baseline']:<40} | "
              f"{r['baseline_ms']:>6.0f} ms | {r['ratio']:>5.2f}x | {target} |")
