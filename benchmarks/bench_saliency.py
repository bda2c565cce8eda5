"""Warm single-image saliency on MobileNetV2 (random weights, 224x224), side by side.

Prints the median time per call of:
  floor  - a hand-written `tf.function` GradientTape computing the same gradient,
  vis    - `vis.visualization.visualize_saliency` (validation, grad modifier, normalisation included),
  tf-keras-vis 0.8.7 `Saliency` (when installed: `pip install ".[bench]"`),
and the ratios. Calls are interleaved round by round so machine drift hits all equally.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bench_common import interleaved_medians  # noqa: E402

from vis.visualization import visualize_saliency  # noqa: E402

ROUNDS, CLASS = 30, 7


def build():
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(224, 224, 3), classifier_activation=None
    )
    return model, np.random.default_rng(0).uniform(-1, 1, (224, 224, 3)).astype("float32")


def make_floor(model):
    @tf.function(input_signature=[tf.TensorSpec((None, 224, 224, 3)), tf.TensorSpec((), tf.int32)])
    def gradient(x, index):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.gather(model(x, training=False), index, axis=1)
        return tape.gradient(score, x)

    def run(seed):
        grads = gradient(seed[None], tf.constant(CLASS)).numpy()
        return np.abs(grads).max(axis=-1)[0]

    return run


def make_tf_keras_vis(model):
    try:
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return None
    saliency = Saliency(model, clone=False)
    return lambda seed: saliency(CategoricalScore(CLASS), seed[None])


def main():
    model, seed = build()
    candidates = {"floor": make_floor(model), "vis": lambda s: visualize_saliency(model, -1, CLASS, s)}
    other = make_tf_keras_vis(model)
    if other is not None:
        candidates["tf-keras-vis"] = other
    median = interleaved_medians(candidates, seed, ROUNDS, unit="call")
    print(f"vis / floor: {median['vis'] / median['floor']:.2f}x (target <= 1.2x)")
    if "tf-keras-vis" in median:
        print(f"tf-keras-vis / vis: {median['tf-keras-vis'] / median['vis']:.1f}x faster (target >= 5x)")
    else:
        print("tf-keras-vis not installed: pip install '.[bench]'")


if __name__ == "__main__":
    main()
