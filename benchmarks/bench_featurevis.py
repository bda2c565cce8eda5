"""Benchmark: feature visualization's transfer table and speed.

Prints, for pixel (keras-vis), fft, fft+decorrelate and fft+decorrelate+robust,
over 3 optimisation seeds: how many of the 10 class images made from model A
model B assigns to their class, B's mean probability of it and A's own
confidence (the harness: `tests/featurevis_harness.py`); the same on the
bundled MNIST CNN (pixel vs fft+robust); then the time per step of the full
path against the pixel path on model A, and the whole call against
tf-keras-vis 0.8.7's `ActivationMaximization` for the same number of steps.

Run: `python benchmarks/bench_featurevis.py [--steps 256] [--seeds 3]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tests import featurevis_harness as harness  # noqa: E402
from vis.visualization import visualize_activation  # noqa: E402

FULL = harness.SETTINGS["fft+decorrelate+robust"]


def print_table(found: dict) -> None:
    print(f"{'setting':26s} {'B: class (per seed)':22s} {'mean':>5s} {'p_B':>6s} {'p_A':>6s}")
    for name, runs in found.items():
        counts = [r["transfer"] for r in runs]
        p_b, p_a = np.mean([r["p_B"] for r in runs]), np.mean([r["p_A"] for r in runs])
        print(f"{name:26s} {str(counts):22s} {np.mean(counts):5.1f} {p_b:6.3f} {p_a:6.3f}")


def best_time(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def speed(model: keras.Model, steps: int) -> None:
    """Time per step (from two step counts, so fixed costs cancel) and the whole call vs tf-keras-vis."""

    def ours(setting, n):
        return lambda: visualize_activation(model, "logits", 3, input_range=(0.0, 1.0), max_iter=n, **setting)

    per_step = {}
    for name, setting in [("pixel", {}), ("fft+decorrelate+robust", FULL)]:
        long, short = best_time(ours(setting, steps)), best_time(ours(setting, steps // 4))
        per_step[name] = (long - short) / (steps - steps // 4)
        print(f"{name:26s} {1000 * per_step[name]:.3f} ms/step, whole call {long:.3f} s ({steps} steps)")
    ratio = per_step["fft+decorrelate+robust"] / per_step["pixel"]
    print(f"step ratio fft+decorrelate+robust / pixel: {ratio:.2f} (target <= 1.5)")
    try:
        from tf_keras_vis.activation_maximization import ActivationMaximization
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        print("tf-keras-vis not installed: `pip install tf-keras-vis==0.8.7` to compare.")
        return
    functional = keras.Model(model.inputs, model.outputs)
    maximizer = ActivationMaximization(functional, clone=False)
    seed = np.random.default_rng(0).uniform(0.4, 0.6, (1, *model.input_shape[1:])).astype("float32")
    theirs = best_time(lambda: maximizer(CategoricalScore(3), seed_input=seed, steps=steps), repeats=1)
    full = best_time(ours(FULL, steps))
    print(f"tf-keras-vis ActivationMaximization ({steps} steps, its default modifiers): {theirs:.3f} s")
    print(f"speed-up of vis fft+decorrelate+robust vs tf-keras-vis: {theirs / full:.1f}x (target >= 10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    seeds = tuple(range(args.seeds))
    start = time.perf_counter()
    models = harness.trained_models()
    print(
        f"colour shapes: A {models['A_accuracy']:.3f}, B {models['B_accuracy']:.3f} held-out accuracy "
        f"(trained in {time.perf_counter() - start:.0f} s)"
    )
    print_table(harness.transfer(models, harness.SETTINGS, seeds, args.steps))
    mnist = harness.mnist_models()
    print(f"MNIST: A = vis/data/mnist_cnn.keras, B {mnist['B_accuracy']:.3f} held-out accuracy")
    robust = {"pixel": {}, "fft+robust (grayscale)": FULL}
    print_table(harness.transfer(mnist, robust, seeds, args.steps))
    speed(models["A"], args.steps)


if __name__ == "__main__":
    main()
