"""Saliency maps for a data set, MobileNetV2 (random weights, 224x224), side by side.

Prints maps per second of:
  floor        - a hand-written batched `tf.function` GradientTape over the same `tf.data` pipeline
                 (prefetched), including the abs / channel max / per-map normalisation on the host,
  vis.stream   - `vis.stream('saliency', ...)` over that pipeline,
  tf-keras-vis - a Python loop of tf-keras-vis 0.8.7 `Saliency` calls, one per batch (when installed),
at batch sizes 1, 8, 32 and 64 (override with --batches), and the ratios. Each candidate runs the
same number of images after a warm-up batch; rounds are interleaved so machine drift hits all equally.

    python benchmarks/bench_stream.py [--images 128] [--rounds 2] [--batches 1,8,32,64]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vis  # noqa: E402

CLASS = 7


def build():
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(224, 224, 3), classifier_activation=None
    )
    images = np.random.default_rng(0).uniform(-1, 1, (64, 224, 224, 3)).astype("float32")
    return model, images


def pipeline(images, count: int, batch: int):
    """`count` images (the pool repeated) through tf.data, batched and prefetched."""
    pool = tf.data.Dataset.from_tensor_slices(images).repeat()
    return pool.take(count).batch(batch).prefetch(tf.data.AUTOTUNE)


def make_floor(model):
    @tf.function(input_signature=[tf.TensorSpec((None, 224, 224, 3))])
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = model(x, training=False)[:, CLASS]
        return tape.gradient(score, x)

    def run(dataset, _):
        for batch in dataset:
            grads = np.abs(gradient(batch).numpy()).max(axis=-1)
            low = grads.min(axis=(1, 2), keepdims=True)
            _ = (grads - low) / (grads.max(axis=(1, 2), keepdims=True) - low + 1e-12)

    return run


def make_stream(model):
    def run(dataset, batch):
        for _ in vis.stream("saliency", model, -1, CLASS, dataset, batch_size=batch, verbose=0):
            pass

    return run


def make_tf_keras_vis(model):
    try:
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return None
    saliency = Saliency(model, clone=False)

    def run(dataset, _):
        for batch in dataset:
            saliency(CategoricalScore([CLASS] * len(batch)), batch.numpy())

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128, help="images per candidate and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batches", default="1,8,32,64")
    args = parser.parse_args()
    model, images = build()
    candidates = {"floor": make_floor(model), "vis.stream": make_stream(model)}
    other = make_tf_keras_vis(model)
    if other is not None:
        candidates["tf-keras-vis"] = other
    print(f"{'batch':>5} " + " ".join(f"{name:>14}" for name in candidates) + "   (maps/s)")
    for batch in [int(b) for b in args.batches.split(",")]:
        rates = {name: [] for name in candidates}
        for run in candidates.values():  # Warm-up: compile and settle.
            run(pipeline(images, batch, batch), batch)
        for _ in range(args.rounds):
            for name, run in candidates.items():
                count = args.images if name != "tf-keras-vis" or batch > 1 else min(args.images, 32)
                start = time.perf_counter()
                run(pipeline(images, count, batch), batch)
                rates[name].append(count / (time.perf_counter() - start))
        medians = {name: statistics.median(values) for name, values in rates.items()}
        line = f"{batch:>5} " + " ".join(f"{medians[name]:>14.1f}" for name in candidates)
        ratios = f"   stream/floor {medians['vis.stream'] / medians['floor']:.2f}x"
        if "tf-keras-vis" in medians:
            ratios += f", stream/tf-keras-vis {medians['vis.stream'] / medians['tf-keras-vis']:.1f}x"
        print(line + ratios, flush=True)
    print("Targets at batch 32: stream >= 0.9x the floor and >= 5x tf-keras-vis.")


if __name__ == "__main__":
    main()
