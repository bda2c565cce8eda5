"""How vis's compile policy serves whole programs: one-map scripts, loops over models, pauses, strategies.

Each candidate runs in its own fresh Python process (this script re-invokes
itself with `--child NAME`); rounds are interleaved and the parent prints
medians. Every candidate comes as `NAME_auto` (vis's default) and
`NAME_eager` (everything under `vis.engine.compiling.policy("eager")`, the
reference: no compile at all).

Candidates:
  one_map    - a one-map script: MobileNetV2 (random weights, 224x224), one
               `visualize_saliency`, exit. `exit` is the time from the end of
               the script to the end of the process (what a user waits for
               after the map is drawn); `total` the whole process.
  models50   - 50 times `model = build(); visualize_saliency(model, ...)`, a small
               CNN: time and CPU time of the loop.
  pause      - MobileNetV2: first saliency, a 3 s pause (a notebook user between
               cells), then a second saliency (another class): `second`.
  strategy   - MobileNetV2 inside a one-device `MirroredStrategy` scope: first,
               second and median warm saliency call, and the program's traces.
  loop       - the tutorial loop (7 saliency + 7 grad-CAM maps, MobileNetV2), with
               `second` the call that compiles.

Run from the repository root: `python benchmarks/bench_lifecycle.py [--rounds 3] [--only one_map ...]`.
Set `PYTHONPATH` to measure another checkout side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_common import report_child, spawn  # noqa: E402

KINDS = {
    "one_map": ("auto", "eager"),
    "models50": ("auto", "eager"),
    "pause": ("auto", "eager"),
    "strategy": ("auto", "eager"),
    "loop": ("auto", "eager"),
}
COLUMNS = ["total", "exit", "loop", "cpu", "first", "second", "warm", "traces"]


def _mobilenet():
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(224, 224, 3), classifier_activation=None
    )
    return model, np.random.default_rng(0).uniform(-1, 1, (224, 224, 3)).astype("float32")


def _small_cnn(seed: int):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(16, 3, activation="relu"),
            layers.Conv2D(32, 3, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu", name="last_conv"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10),
        ]
    )


def _timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def _programs(model) -> list:
    from vis import engine

    return list(engine._cache_of(model.inputs[0]._keras_history.operation).values())


def child(name: str) -> dict:
    """Runs one candidate in this fresh process; returns its figures (seconds)."""
    import numpy as np

    from vis.engine import compiling
    from vis.visualization import visualize_saliency

    kind, mode = name.rsplit("_", 1)
    scope = compiling.policy("eager") if mode == "eager" else contextlib.nullcontext()
    result = {"name": name}
    with scope:
        if kind == "models50":
            x = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype("float32")
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(50):
                visualize_saliency(_small_cnn(i), -1, i % 10, x)
            result.update(loop=time.perf_counter() - start, cpu=time.process_time() - cpu)
            return result
        model, x = _mobilenet()
        if kind == "one_map":
            result["first"] = _timed(visualize_saliency, model, -1, 7, x)
        elif kind == "pause":
            result["first"] = _timed(visualize_saliency, model, -1, 7, x)
            time.sleep(3.0)
            result["second"] = _timed(visualize_saliency, model, -1, 42, x)
        elif kind == "loop":
            from vis.visualization import visualize_cam

            start, times = time.perf_counter(), []
            for c in (7, 42, 100, 281, 500, 817, 999):
                times.append(_timed(visualize_saliency, model, -1, c, x))
                times.append(_timed(visualize_cam, model, -1, c, x))
            result.update(loop=time.perf_counter() - start, first=times[0], second=times[1])
        elif kind == "strategy":
            import tensorflow as tf

            with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
                times = [_timed(visualize_saliency, model, -1, c, x) for c in (7, 42, 100, 281, 500)]
            result.update(first=times[0], second=times[1], warm=statistics.median(times[2:]))
            result["traces"] = sum(p.compiled.experimental_get_tracing_count() for p in _programs(model))
    return result


def _run(name: str) -> dict:
    """Runs one candidate in a fresh process; `NAME@DIR` imports the vis of checkout DIR."""
    name, _, checkout = name.partition("@")
    saved = os.environ.get("PYTHONPATH")
    if checkout:
        os.environ["PYTHONPATH"] = checkout
    start = time.time()
    try:
        result = spawn(os.path.abspath(__file__), name)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    end = time.time()
    if "done_at" in result:
        result["exit"] = end - result.pop("done_at")
    result["total"] = end - start
    return result


def _fmt(value) -> str:
    return f"{value:8.3f}" if value is not None else "       -"


def report(results: dict, rounds: int) -> None:
    """Prints medians per candidate and the auto / eager ratios."""
    median = {
        name: {c: statistics.median(r[c] for r in runs) if c in runs[0] else None for c in COLUMNS}
        for name, runs in results.items()
    }
    print(f"\nmedians over {rounds} rounds, seconds (traces: count)")
    print(f"{'candidate':>40} " + " ".join(f"{c:>8}" for c in COLUMNS))
    for name, row in median.items():
        print(f"{name[-40:]:>40} " + " ".join(_fmt(row[c]) for c in COLUMNS))
    print()
    pairs = [(f"{k}_{m}", f"{k}_{r}", f"{k} {{}} {m} / {r}") for k, (m, r) in KINDS.items()]
    pairs += [
        (name.partition("@")[0], name, f"{name.partition('@')[0]} {{}} this / @checkout") for name in results
    ]
    for numerator, denominator, label in pairs:
        auto, eager = results.get(numerator), results.get(denominator)
        if not auto or not eager or numerator == denominator:
            continue
        for column in ("total", "loop", "cpu", "second", "warm"):
            if column in auto[0] and column in eager[0]:
                rounds_ = [a[column] / b[column] for a, b in zip(auto, eager)]
                print(
                    f"{label.format(column)}: median {statistics.median(rounds_):.2f}x "
                    f"({min(rounds_):.2f}-{max(rounds_):.2f})"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=list(KINDS), help="run only these candidates")
    parser.add_argument("--against", metavar="DIR", help="also run each candidate on the vis of checkout DIR")
    parser.add_argument("--save", metavar="FILE", help="also write every round's figures as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child(args.child)
        result["done_at"] = time.time()
        report_child(result)
        return
    names = [f"{kind}_{mode}" for kind in (args.only or KINDS) for mode in KINDS[kind]]
    if args.against:  # Side by side, round by round.
        names += [f"{n}@{args.against}" for n in names]
    results = {name: [] for name in names}
    for round_index in range(args.rounds):
        for name in names:
            results[name].append(_run(name))
        print(f"round {round_index + 1}/{args.rounds} done", flush=True)
    if args.save:
        with open(args.save, "w") as handle:
            json.dump(results, handle, indent=1)
    print("vis measured:", os.environ.get("PYTHONPATH") or "the installed vis", file=sys.stderr)
    report(results, args.rounds)


if __name__ == "__main__":
    main()
