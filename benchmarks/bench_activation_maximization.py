"""Benchmark: cost of `visualize_activation` per step against hand-written loops.

Prints the time per step of
- `vis.visualization.visualize_activation` (the default losses: activation,
  L6 norm, total variation; no callbacks, so the loop runs fully compiled),
- the same, with `Jitter` and `Rotate` input modifiers (compiled in the loop),
- a hand-written `tf.function` RMSProp loop (the whole loop in one
  `tf.function`, same losses, same update), the lower bound to compare with,
- tf-keras-vis' `ActivationMaximization` for the same steps, without input
  modifiers and with its default ones (Jitter, Rotate2D), if installed
  (`pip install tf-keras-vis==0.8.7`),
and the ratios. Timings exclude the first (tracing) call; the best of
`--repeats` runs is kept.

Run: `python benchmarks/bench_activation_maximization.py [--steps 200] [--size 64]`.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vis.input_modifiers import Jitter, Rotate  # noqa: E402
from vis.visualization import visualize_activation  # noqa: E402


def build_model(size: int) -> keras.Model:
    """A small VGG-like CNN with a linear 10-class head (random weights)."""
    keras.utils.set_random_seed(0)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((size, size, 3)),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10, name="preds"),
        ]
    )


def optimize(model: keras.Model, class_index: int, steps: int):
    """The optimization written out: the same losses and RMSProp step as vis, as a function of `x`.

    Plain TensorFlow ops (and `tf.range`), so it runs eagerly as it is and as
    one `tf.while_loop` inside `tf.function`.
    """
    n = float(np.prod(model.inputs[0].shape[1:]))

    def losses(x):
        act = -model(x, training=False)[:, class_index]
        l6 = tf.reduce_max(tf.abs(x)) * tf.reduce_sum((tf.abs(x) / tf.reduce_max(tf.abs(x))) ** 6) ** (1 / 6)
        dx = x[:, 1:, :-1] - x[:, :-1, :-1]
        dy = x[:, :-1, 1:] - x[:, :-1, :-1]
        return act[0] + 10 * l6 / n + 10 * tf.reduce_sum(dx**2 + dy**2) / n

    def run(x):
        cache, best, best_loss = tf.zeros_like(x), x, tf.constant(np.inf)
        for _ in tf.range(steps):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                loss = losses(x)
            g = tape.gradient(loss, x)
            g = g / (tf.sqrt(tf.reduce_mean(g**2)) + 1e-7)
            cache = 0.95 * cache + 0.05 * g**2
            x = x - g / tf.sqrt(cache + 1e-7)
            best = tf.where(loss < best_loss, x, best)
            best_loss = tf.minimum(loss, best_loss)
        return best

    return run


def hand_written(model: keras.Model, class_index: int, steps: int):
    """The whole optimization in one tf.function."""
    run = tf.function(optimize(model, class_index, steps))
    return lambda seed: run(tf.constant(seed, tf.float32)).numpy()


def tf_keras_vis_runners(model: keras.Model, class_index: int, steps: int) -> dict:
    """tf-keras-vis' ActivationMaximization without and with its default modifiers (empty if absent)."""
    try:
        from tf_keras_vis.activation_maximization import ActivationMaximization
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return {}
    maximizer = ActivationMaximization(model, clone=False)
    score = CategoricalScore(class_index)
    return {
        "tf-keras-vis": lambda seed: maximizer(score, seed_input=seed, steps=steps, input_modifiers=[]),
        "tf-keras-vis + Jitter, Rotate (default)": lambda seed: maximizer(
            score, seed_input=seed, steps=steps
        ),
    }


def best_time(fn, seed, repeats: int) -> float:
    fn(seed)  # tracing / warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(seed)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = build_model(args.size)
    seed = np.random.default_rng(0).uniform(100, 150, (args.size, args.size, 3)).astype("float32")

    def ours(modifiers):
        return lambda s: visualize_activation(
            model, "preds", 3, seed_input=s, max_iter=args.steps, input_modifiers=modifiers
        )

    runners = {
        "hand-written tf.function loop": hand_written(model, 3, args.steps),
        "vis": ours([]),
        "vis + Jitter, Rotate": ours([Jitter(4), Rotate(1.0)]),
        **tf_keras_vis_runners(model, 3, args.steps),
    }
    times = {}
    for name, fn in runners.items():
        seed_arg = seed[None] if name.startswith(("hand", "tf-keras")) else seed
        times[name] = best_time(fn, seed_arg, args.repeats)
        print(f"{name:40s} {1000 * times[name] / args.steps:8.3f} ms/step")
    base = times["hand-written tf.function loop"]
    print(f"ratio vis / hand-written loop: {times['vis'] / base:.2f} (target <= 1.3)")
    if "tf-keras-vis" not in times:
        print("tf-keras-vis not installed: `pip install tf-keras-vis==0.8.7` to compare.")
        return
    print(f"speed-up vs tf-keras-vis, no modifiers:     {times['tf-keras-vis'] / times['vis']:.1f}x")
    other = times["tf-keras-vis + Jitter, Rotate (default)"]
    print(f"speed-up vs tf-keras-vis, Jitter + Rotate:  {other / times['vis + Jitter, Rotate']:.1f}x")


if __name__ == "__main__":
    main()
