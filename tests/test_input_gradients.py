"""Convolution gradients without the filter gradient: the same input gradients, fewer operations."""

import subprocess
import sys
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops

from tests.conftest import assert_unchanged, snapshot
from vis import engine
from vis.engine.input_gradients import input_gradients_only
from vis.losses import ActivationMaximization

OPS = ("Conv2D", "DepthwiseConv2dNative", "Conv3D", "Conv2DBackpropInput", "Conv3DBackpropInputV2")
FILTER_GRADIENTS = {"Conv2DBackpropFilter", "DepthwiseConv2dNativeBackpropFilter", "Conv3DBackpropFilterV2"}


def _registered() -> dict:
    return {name: tf_ops._gradient_registry.lookup(name) for name in OPS}


def _convolutions(dilation: int = 1) -> keras.Model:
    inputs = keras.Input((9, 9, 2))
    x = keras.layers.Conv2D(3, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="valid", dilation_rate=dilation, use_bias=False)(x)
    x = keras.layers.Conv2D(2, 2, dilation_rate=dilation, padding="same", name="last")(x)
    outputs = keras.layers.Dense(3, name="preds")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def _volumes() -> keras.Model:
    inputs = keras.Input((6, 8, 8, 2))
    x = keras.layers.Conv3D(3, 2, strides=(1, 2, 2), padding="same", use_bias=False)(inputs)
    x = keras.layers.Conv3D(2, 2, dilation_rate=2, padding="valid", use_bias=False)(x)
    outputs = keras.layers.Dense(3, name="preds")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def _transposed() -> keras.Model:
    inputs = keras.Input((5, 5, 2))
    x = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.Conv2DTranspose(2, 2, strides=1, padding="valid", use_bias=False)(x)
    outputs = keras.layers.Dense(3, name="preds")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def _transposed_volumes() -> keras.Model:
    inputs = keras.Input((3, 4, 4, 2))
    x = keras.layers.Conv3DTranspose(3, 2, strides=(1, 2, 2), padding="same", use_bias=False)(inputs)
    x = keras.layers.Conv3DTranspose(2, 2, padding="valid", use_bias=False)(x)
    outputs = keras.layers.Dense(3, name="preds")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(6)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


MODELS = {"conv2d": _convolutions, "dilated": lambda: _convolutions(2), "conv3d": _volumes,
          "transposed": _transposed, "transposed3d": _transposed_volumes}


def _input_gradient(model, x):
    x = tf.constant(x)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        total = tf.reduce_sum(model(x, training=False) * tf.constant([1.0, -2.0, 0.5]))
    return tape.gradient(total, x).numpy()


X = np.random.default_rng(0).normal(size=(2, 9, 9, 2)).astype("float32")


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_input_gradients_equal_tensorflows_own_eagerly_and_traced(kind):
    model = MODELS[kind]()
    x = np.random.default_rng(1).normal(size=(2, *model.input_shape[1:])).astype("float32")
    expected = _input_gradient(model, x)
    with input_gradients_only():
        eager = _input_gradient(model, x)
        traced = tf.function(lambda x: _input_gradient_tensor(model, x))(tf.constant(x)).numpy()
    np.testing.assert_array_equal(eager, expected)
    np.testing.assert_allclose(traced, expected, rtol=1e-5, atol=1e-6)


def _input_gradient_tensor(model, x):
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        total = tf.reduce_sum(model(x, training=False) * tf.constant([1.0, -2.0, 0.5]))
    return tape.gradient(total, x)


def test_a_tape_that_needs_the_filter_gradient_still_gets_it():
    model = _convolutions()
    x = tf.constant(X)

    def kernel_gradients():
        with tf.GradientTape() as tape:  # Watches the weights, as training does.
            total = tf.reduce_sum(model(x, training=False))
        return [g.numpy() for g in tape.gradient(total, model.trainable_weights)]

    expected = kernel_gradients()
    with input_gradients_only():
        within = kernel_gradients()
    assert len(within) == len(expected) == 6
    for got, want in zip(within, expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "make, kinds",
    [
        (_convolutions, {"Conv2DBackpropInput", "DepthwiseConv2dNativeBackpropInput"}),
        (_volumes, {"Conv3DBackpropInputV2"}),
        (_transposed, {"Conv2D"}),  # The gradient of a transposed convolution is the convolution.
        (_transposed_volumes, {"Conv3D"}),
    ],
)
def test_the_traced_engine_builds_no_filter_gradient(make, kinds):
    before = _registered()
    model = make()
    losses = [(ActivationMaximization(model.get_layer("preds"), 1), -1)]
    program = engine.get_program(model.inputs, [loss for loss, _ in losses])
    concrete = program.compiled.get_concrete_function(*program._signature())
    built = {op.type for op in concrete.graph.get_operations()}
    assert kinds <= built
    assert not built & FILTER_GRADIENTS
    assert _registered() == before


def test_tensorflows_gradients_are_back_after_the_block_also_after_an_error():
    before = _registered()
    with pytest.raises(RuntimeError, match="inside"):
        with input_gradients_only():
            assert all(_registered()[name] is not before[name] for name in OPS)
            raise RuntimeError("inside")
    assert _registered() == before


def test_overlapping_blocks_of_two_threads_restore_tensorflows_gradients_once_both_end():
    before = _registered()
    entered, release = threading.Event(), threading.Event()

    def other():
        with input_gradients_only():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    entered.wait(10)
    with input_gradients_only():
        wrapped = _registered()
    assert all(wrapped[name] is not before[name] for name in OPS)
    assert _registered() == wrapped  # The other thread's block is still open.
    release.set()
    thread.join(10)
    assert _registered() == before


_MAKE_SAVED = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
from keras import layers
keras.utils.set_random_seed(0)
for kind in ("sequential", "functional"):
    transposed = [layers.Conv2DTranspose(2, 3, padding="same"), layers.Reshape((13, 13, 2, 1)),
                  layers.Conv3DTranspose(1, 2, padding="same"), layers.Reshape((13, 13, 2))]
    stack = [*transposed, layers.Conv2D(4, 3, strides=2, activation="relu"),
             layers.DepthwiseConv2D(3, padding="same"), layers.BatchNormalization(),
             layers.SeparableConv2D(3, 2), layers.Flatten(), layers.Dense(3)]
    if kind == "sequential":
        model = keras.Sequential([keras.Input((13, 13, 2)), *stack])
    else:
        inputs = x = keras.Input((13, 13, 2))
        for layer in stack:
            x = layer(x)
        model = keras.Model(inputs, x)
    for suffix in (".keras", ".h5"):
        model.save(os.path.join(sys.argv[1], kind + suffix))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A directory of models saved by another process: {sequential,functional}{.keras,.h5}."""
    folder = tmp_path_factory.mktemp("saved")
    subprocess.run([sys.executable, "-c", _MAKE_SAVED, str(folder)], check=True, capture_output=True)
    return folder


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_models_saved_by_another_process_get_tensorflows_input_gradient_and_stay_unchanged(
    saved, kind, suffix
):
    model = keras.models.load_model(saved / f"{kind}{suffix}")
    seeds = np.random.default_rng(2).normal(size=(2, 13, 13, 2)).astype("float32")
    x = tf.constant(seeds)
    with tf.GradientTape() as tape:  # TensorFlow's own gradients: outside any vis call.
        tape.watch(x)
        total = -tf.reduce_sum(model(x, training=False)[:, 1])
    expected = tape.gradient(total, x).numpy()
    before = snapshot(model, seeds)
    losses = [(ActivationMaximization(model.layers[-1], 1), 1)]
    eager = engine.compute(model.inputs, losses, seeds).grads
    program = engine.get_program(model.inputs, [losses[0][0]])
    program.wait()
    assert program.lazy_gradients.ready
    compiled = engine.compute(model.inputs, losses, seeds).grads
    np.testing.assert_allclose(eager, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(compiled, expected, rtol=1e-5, atol=1e-6)
    assert_unchanged(model, before, seeds)
