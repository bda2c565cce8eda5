"""First-call latency of saliency and grad-CAM on MobileNetV2 (random weights, 224x224), fresh processes.

A notebook user runs a cell once: what counts is the first call in a fresh
process, not the warm one. Each candidate runs in its own fresh Python
process (this script re-invokes itself with `--child NAME`); inside the
child, the imports and `keras.applications.MobileNetV2(weights=None)` are
not timed; then it times the first call (including building whatever helper
object the user would write in that cell), the second call (another class),
and a few warm calls (median). Rounds are interleaved (A B C ... A B C ...)
so machine drift hits all candidates alike; the parent prints medians.

Candidates:
  eager_floor          - hand-written eager `tf.GradientTape` saliency (abs, max over channels).
  compiled_floor       - the same inside a `tf.function` (first call includes tracing).
  vis_saliency         - `vis.visualization.visualize_saliency(model, -1, CLASS, x)`.
  eager_cam_floor      - hand-written eager grad-CAM (gradient w.r.t. the last conv layer's output).
  compiled_cam_floor   - the same inside a `tf.function`.
  vis_cam              - `vis.visualization.visualize_cam(model, -1, CLASS, x)`.
  tf_keras_vis_saliency, tf_keras_vis_cam
                       - tf-keras-vis 0.8.7 `Saliency` / `Gradcam` (`CategoricalScore`,
                         `clone=False`), when importable (`pip install ".[bench]"`).
  loop_eager_floor, loop_vis, loop_tf_keras_vis
                       - the tutorial loop: 7 saliency + 7 grad-CAM maps of different classes
                         on one model, in a fresh process (only the loop is timed).

Run from the repository root: `python benchmarks/bench_first_call.py [--rounds 2] [--only vis_cam ...]`.
The child imports whichever `vis` Python finds: the parent prints its path.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_common import report_child, spawn  # noqa: E402

SIZE = 224
CLASSES = [7, 42, 100, 281, 500, 817, 999]  # first call, second call, then the warm calls
SINGLE = [
    "eager_floor",
    "compiled_floor",
    "vis_saliency",
    "tf_keras_vis_saliency",
    "eager_cam_floor",
    "compiled_cam_floor",
    "vis_cam",
    "tf_keras_vis_cam",
]
LOOPS = ["loop_eager_floor", "loop_vis", "loop_tf_keras_vis"]
TARGETS = [  # (numerator, denominator, column, target ratio or None for information)
    ("vis_saliency", "eager_floor", "first", 1.3),
    ("vis_cam", "eager_cam_floor", "first", 1.3),
    ("vis_saliency", "compiled_floor", "warm", 1.2),
    ("vis_cam", "compiled_cam_floor", "warm", 1.2),
    ("loop_vis", "loop_tf_keras_vis", "loop", 0.5),
    ("compiled_floor", "eager_floor", "first", None),
    ("compiled_cam_floor", "eager_cam_floor", "first", None),
    ("tf_keras_vis_saliency", "eager_floor", "first", None),
    ("tf_keras_vis_cam", "eager_cam_floor", "first", None),
    ("loop_vis", "loop_eager_floor", "loop", None),
]


# ---------------------------------------------------------------------------------------------------------
# Child side: one candidate, one fresh process.


def _normalize(maps):
    import numpy as np

    low, high = maps.min(), maps.max()
    return (maps - low) / (high - low) if high > low else np.zeros_like(maps)


def _last_conv(model):
    import keras

    return next(layer for layer in reversed(model.layers) if isinstance(layer, keras.layers.Conv2D))


def saliency_floor(model, x, compiled: bool):
    """Returns `run(class_index)`: gradient of one class w.r.t. the input, abs, max over channels."""
    import numpy as np
    import tensorflow as tf

    def gradient(batch, index):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(batch)
            score = tf.gather(model(batch, training=False), index, axis=1)
        return tape.gradient(score, batch)

    if compiled:
        spec = [tf.TensorSpec((None, SIZE, SIZE, 3)), tf.TensorSpec((), tf.int32)]
        gradient = tf.function(gradient, input_signature=spec)

    def run(class_index):
        grads = gradient(tf.convert_to_tensor(x[None]), tf.constant(class_index)).numpy()
        return _normalize(np.abs(grads).max(axis=-1)[0])

    return run


def cam_floor(model, x, compiled: bool):
    """Returns `run(class_index)`: grad-CAM from the gradient w.r.t. the last conv layer's output."""
    import keras
    import numpy as np
    import tensorflow as tf
    from scipy import ndimage

    both = keras.Model(model.inputs, [_last_conv(model).output, model.outputs[0]])

    def gradient(batch, index):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(batch)  # so the ops after `features` are recorded; no weight gradients
            features, preds = both(batch, training=False)
            score = tf.gather(preds, index, axis=1)
        return features, tape.gradient(score, features)

    if compiled:
        spec = [tf.TensorSpec((None, SIZE, SIZE, 3)), tf.TensorSpec((), tf.int32)]
        gradient = tf.function(gradient, input_signature=spec)

    def run(class_index):
        features, grads = gradient(tf.convert_to_tensor(x[None]), tf.constant(class_index))
        features, grads = features.numpy()[0], grads.numpy()[0]
        cam = np.maximum((features * grads.mean(axis=(0, 1))).sum(axis=-1), 0.0)
        cam = ndimage.zoom(cam, (SIZE / cam.shape[0], SIZE / cam.shape[1]), order=1)
        return _normalize(cam)

    return run


def vis_runner(model, x, kind: str):
    from vis.visualization import visualize_cam, visualize_saliency

    function = visualize_saliency if kind == "saliency" else visualize_cam
    return lambda class_index: function(model, -1, class_index, x)


def tf_keras_vis_runner(model, x, kind: str):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    explainer = (Saliency if kind == "saliency" else Gradcam)(model, clone=False)
    return lambda class_index: explainer(CategoricalScore(class_index), x[None])[0]


FACTORIES = {  # name -> make(model, x) -> run(class_index)
    "eager_floor": lambda m, x: saliency_floor(m, x, compiled=False),
    "compiled_floor": lambda m, x: saliency_floor(m, x, compiled=True),
    "vis_saliency": lambda m, x: vis_runner(m, x, "saliency"),
    "tf_keras_vis_saliency": lambda m, x: tf_keras_vis_runner(m, x, "saliency"),
    "eager_cam_floor": lambda m, x: cam_floor(m, x, compiled=False),
    "compiled_cam_floor": lambda m, x: cam_floor(m, x, compiled=True),
    "vis_cam": lambda m, x: vis_runner(m, x, "cam"),
    "tf_keras_vis_cam": lambda m, x: tf_keras_vis_runner(m, x, "cam"),
}
LOOP_PARTS = {  # loop name -> (saliency factory, grad-CAM factory)
    "loop_eager_floor": ("eager_floor", "eager_cam_floor"),
    "loop_vis": ("vis_saliency", "vis_cam"),
    "loop_tf_keras_vis": ("tf_keras_vis_saliency", "tf_keras_vis_cam"),
}


def _preload(name: str) -> None:
    """Imports what the candidate needs before the clock starts (a notebook imports in an earlier cell)."""
    import keras  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import tensorflow  # noqa: F401

    if "vis" in name and "tf_keras_vis" not in name:
        import vis.visualization  # noqa: F401
    if "tf_keras_vis" in name:
        import tf_keras_vis.gradcam  # noqa: F401
        import tf_keras_vis.saliency  # noqa: F401


def child(name: str, warm_calls: int) -> dict:
    """Runs one candidate in this (fresh) process and returns its timings in seconds."""
    import warnings

    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
    start = time.perf_counter()
    _preload(name)
    imported = time.perf_counter()
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None
    )
    x = np.random.default_rng(0).uniform(-1, 1, (SIZE, SIZE, 3)).astype("float32")
    built = time.perf_counter()
    result = {"name": name, "import": imported - start, "build": built - imported}
    if "vis" in sys.modules:
        result["vis"] = os.path.dirname(sys.modules["vis"].__file__)
    if name in LOOP_PARTS:
        saliency_name, cam_name = LOOP_PARTS[name]
        start = time.perf_counter()
        saliency, cam = FACTORIES[saliency_name](model, x), FACTORIES[cam_name](model, x)
        for class_index in CLASSES:
            saliency(class_index)
            cam(class_index)
        result["loop"] = time.perf_counter() - start
        return result
    times = []
    start = time.perf_counter()
    run = FACTORIES[name](model, x)
    run(CLASSES[0])
    times.append(time.perf_counter() - start)
    for i in range(1, 2 + warm_calls):
        start = time.perf_counter()
        run(CLASSES[i % len(CLASSES)])
        times.append(time.perf_counter() - start)
    result.update(first=times[0], second=times[1], warm=statistics.median(times[2:]))
    return result


# ---------------------------------------------------------------------------------------------------------
# Parent side: fresh processes, interleaved rounds, medians and ratios.


def available(names: list) -> list:
    """Drops the tf-keras-vis candidates when tf-keras-vis cannot be imported."""
    if importlib.util.find_spec("tf_keras_vis") is None:
        print("tf-keras-vis not installed (pip install '.[bench]'): its candidates are skipped.")
        return [n for n in names if "tf_keras_vis" not in n]
    return names


def _fmt(value) -> str:
    return f"{value:8.3f}" if value is not None else "       -"


def report(results: dict, rounds: int) -> None:
    """Prints the table of medians (seconds) and the target ratios."""
    columns = ["first", "second", "warm", "loop"]
    median = {
        name: {c: statistics.median(r[c] for r in runs) if c in runs[0] else None for c in columns}
        for name, runs in results.items()
    }
    print(f"\nmedians over {rounds} rounds, seconds (each candidate in a fresh process per round)")
    print(f"{'candidate':>24} {'first':>8} {'second':>8} {'warm':>8} {'loop':>8}")
    for name, row in median.items():
        print(f"{name:>24} " + " ".join(_fmt(row[c]) for c in columns))
    overhead = statistics.median(r["import"] + r["build"] for runs in results.values() for r in runs)
    print(f"(not timed: imports + MobileNetV2 construction, median {overhead:.2f} s per child)")
    print(f"\n{'ratio':>48}  {'of medians':>10}  {'per round (median, range)':>26}")
    for numerator, denominator, column, target in TARGETS:
        if numerator in median and denominator in median:
            value = median[numerator][column] / median[denominator][column]
            # The two ran within a minute or two of each other in each round: alike machine load.
            rounds = [a[column] / b[column] for a, b in zip(results[numerator], results[denominator])]
            spread = f"{statistics.median(rounds):.2f}x ({min(rounds):.2f}-{max(rounds):.2f})"
            label = f"{numerator} {column} / {denominator} {column}"
            verdict = "ok" if target is not None and value <= target else "MISSED"
            verdict = "" if target is None else f"  target <= {target}: {verdict}"
            print(f"{label:>48}: {value:9.2f}x  {spread:>26}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warm-calls", type=int, default=3, help="warm calls after the second (median)")
    parser.add_argument("--only", nargs="+", choices=SINGLE + LOOPS, help="run only these candidates")
    parser.add_argument("--no-loops", action="store_true", help="skip the tutorial-loop candidates")
    parser.add_argument("--save", metavar="FILE", help="also write every round's raw timings as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report_child(child(args.child, args.warm_calls))
        return
    names = args.only or SINGLE + ([] if args.no_loops else LOOPS)
    names = available(names)
    print(f"{len(names)} candidates x {args.rounds} rounds, one fresh process each")
    results = {name: [] for name in names}
    start = time.perf_counter()
    for round_index in range(args.rounds):
        for name in names:
            results[name].append(spawn(os.path.abspath(__file__), name, "--warm-calls", str(args.warm_calls)))
        print(f"round {round_index + 1}/{args.rounds} done ({time.perf_counter() - start:.0f} s)", flush=True)
    if args.save:
        with open(args.save, "w") as handle:
            json.dump(results, handle, indent=1)
    paths = sorted({r["vis"] for runs in results.values() for r in runs if "vis" in r})
    print("vis measured:", ", ".join(paths) or "-")
    report(results, args.rounds)


if __name__ == "__main__":
    main()
