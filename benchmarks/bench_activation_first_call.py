"""First-call seconds of `visualize_activation` for 20 and 200 steps, fresh processes, on a small CNN.

A 20-step `visualize_activation` should not pay for a 200-step compile. Each
candidate runs in its own fresh Python process (this script re-invokes
itself with `--child NAME`); imports and the model construction are not
timed. The child times the first call and the second call (same arguments);
first minus second is the one-off cost (tracing, graph optimisation, first
execution). Rounds are interleaved and the parent prints medians.

Candidates (the CNN and seed of `bench_activation_maximization.py`, class 3 of layer "preds"):
  vis_20, vis_200            - `visualize_activation(model, "preds", 3, seed_input=seed, max_iter=N)`;
  eager_20                   - a hand-written eager loop of 20 steps (same losses, same RMSProp step);
  compiled_20, compiled_200  - the hand-written `tf.function` loop of `bench_activation_maximization.py`.

Run from the repository root: `python benchmarks/bench_activation_first_call.py [--rounds 3] [--size 64]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_common import report_child, spawn  # noqa: E402

CLASS = 3
CANDIDATES = ["eager_20", "vis_20", "vis_200", "compiled_20", "compiled_200"]


def eager_loop(model, class_index: int, steps: int):
    """`bench_activation_maximization.optimize`, run eagerly step by step."""
    import tensorflow as tf
    from bench_activation_maximization import optimize

    run = optimize(model, class_index, steps)
    return lambda seed: run(tf.constant(seed, tf.float32)).numpy()


def child(name: str, size: int) -> dict:
    """Times the first and second call of one candidate in this fresh process (seconds)."""
    import numpy as np
    from bench_activation_maximization import build_model, hand_written

    from vis.visualization import visualize_activation

    kind, steps = name.rsplit("_", 1)
    steps = int(steps)
    model = build_model(size)
    seed = np.random.default_rng(0).uniform(100, 150, (size, size, 3)).astype("float32")
    times = []
    start = time.perf_counter()
    if kind == "vis":

        def run(s):
            return visualize_activation(model, "preds", CLASS, seed_input=s, max_iter=steps)

    else:
        run = (eager_loop if kind == "eager" else hand_written)(model, CLASS, steps)
        seed = seed[None]
    for _ in range(2):
        run(seed)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return {"name": name, "steps": steps, "first": times[0], "second": times[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report_child(child(args.child, args.size))
        return
    results = {name: [] for name in CANDIDATES}
    start = time.perf_counter()
    for round_index in range(args.rounds):
        for name in CANDIDATES:
            results[name].append(spawn(os.path.abspath(__file__), name, "--size", str(args.size)))
        print(f"round {round_index + 1}/{args.rounds} done ({time.perf_counter() - start:.0f} s)", flush=True)
    med = {
        n: {k: statistics.median(r[k] for r in runs) for k in ("first", "second")}
        for n, runs in results.items()
    }
    print(f"\nmedians over {args.rounds} rounds, seconds (each candidate in a fresh process per round)")
    print(f"{'candidate':>14} {'first':>8} {'second':>8} {'one-off':>8} {'ms/step':>8}")
    for name, row in med.items():
        steps = int(name.rsplit("_", 1)[1])
        one_off, per_step = row["first"] - row["second"], 1000 * row["second"] / steps
        print(f"{name:>14} {row['first']:8.3f} {row['second']:8.3f} {one_off:8.3f} {per_step:8.2f}")
    print("\nratios of medians")
    ratio = med["vis_20"]["first"] / med["eager_20"]["first"]
    print(f"  vis_20 first / eager_20 first: {ratio:.2f}x")
    print(f"  vis_200 first / vis_20 first: {med['vis_200']['first'] / med['vis_20']['first']:.2f}x")
    one_off_20 = med["vis_20"]["first"] - med["vis_20"]["second"]
    one_off_200 = med["vis_200"]["first"] - med["vis_200"]["second"]
    print(
        f"  vis one-off cost, 20 vs 200 steps: {one_off_20:.3f} s vs {one_off_200:.3f} s "
        "(equal if the compile does not depend on max_iter)"
    )


if __name__ == "__main__":
    main()
