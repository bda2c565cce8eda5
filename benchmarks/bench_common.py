"""What the benchmark scripts share: interleaved warm timing, and candidates run in fresh processes."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

MARK = "BENCH_RESULT "  # A child prints its JSON result on one line after this mark.


def interleaved_medians(candidates: dict, seed, rounds: int, unit: str = "map") -> dict:
    """Warms each candidate (two calls), then times one call of each per round, in turn; prints medians.

    Interleaving the candidates round by round makes machine drift hit all alike.

    Returns:
        `{name: median seconds per call}`.
    """
    for run in candidates.values():
        run(seed), run(seed)
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            start = time.perf_counter()
            run(seed)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    for name, value in median.items():
        print(f"  {name:>22}: {value * 1000:9.1f} ms per {unit} (median of {rounds})")
    return median


def spawn(script: str, name: str, *arguments: str) -> dict:
    """Runs `script --child name arguments...` in a fresh interpreter; returns the JSON it printed after MARK.

    Raises:
        RuntimeError: If the child fails or prints no result (its stderr's tail is shown).
    """
    command = [sys.executable, script, "--child", name, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-3000:])
        raise RuntimeError(f"child {name!r} failed with exit code {done.returncode}")
    return json.loads(lines[-1][len(MARK) :])


def report_child(result: dict) -> None:
    """Prints a child's result for `spawn` to read."""
    print(MARK + json.dumps(result), flush=True)
