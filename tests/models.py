"""Tiny fixed-weight models with closed-form gradients, shared by the tests."""

import os
import subprocess
import sys

import keras
import numpy as np
from keras import layers


def dense_model(weights: np.ndarray, activation=None, name: str = "dense") -> keras.Model:
    """A bias-free Dense model x -> x @ W (Sequential, as most users write)."""
    model = keras.Sequential(
        [
            keras.Input((weights.shape[0],)),
            layers.Dense(weights.shape[1], use_bias=False, name=name, activation=activation),
        ]
    )
    model.layers[0].set_weights([weights.astype("float32")])
    return model


def two_layer_linear(w1: np.ndarray, w2: np.ndarray) -> keras.Model:
    """A Functional x -> (x @ W1) @ W2 model, both bias-free and linear."""
    inp = keras.Input((w1.shape[0],))
    hidden = layers.Dense(w1.shape[1], use_bias=False, name="hidden")(inp)
    out = layers.Dense(w2.shape[1], use_bias=False, name="out")(hidden)
    model = keras.Model(inp, out)
    model.get_layer("hidden").set_weights([w1.astype("float32")])
    model.get_layer("out").set_weights([w2.astype("float32")])
    return model


def small_cnn(input_shape=(28, 28, 3), classes: int = 4, seed: int = 0) -> keras.Model:
    """A small random-weight CNN ending in a linear Dense layer named 'preds'."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            layers.MaxPooling2D(name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(classes, name="preds"),
        ]
    )


def saved_by_another_process(path, layers: str) -> str:
    """Builds a Sequential of `layers` (Python source) and saves it to `path` in a separate process.

    Users load models another script saved: Keras names layers per process, so
    a model saved and loaded in this test process would not be the model they load.
    """
    code = (
        "import os, sys; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "import keras; from keras import layers\n"
        "keras.utils.set_random_seed(0)\n"
        f"keras.Sequential([{layers}]).save(sys.argv[1])\n"
    )
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, env=env)
    return str(path)
