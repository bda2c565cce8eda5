"""tf-keras-vis 0.8.7's `utils.test`: the tiny mock models and helpers its users' tests import.

The models have 0.8.7's layers, names and shapes (8x8x3 and 10x10x3 inputs, a
6-filter convolution, float32 softmax and sigmoid heads, so they also serve
under a mixed-precision policy).
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from vis.compat.tf_keras_vis.activation_maximization.callbacks import Callback

layers = keras.layers
_SOFTMAX, _SIGMOID = (2, "softmax"), (1, "sigmoid")


def _model(two_inputs: bool, *heads) -> keras.Model:
    """One or two image inputs, a ReLU convolution each, pooled, a Dense head per `(units, activation)`."""
    inputs = [layers.Input((8, 8, 3), name="input_1")]
    if two_inputs:
        inputs.append(layers.Input((10, 10, 3), name="input_2"))
        conv_1 = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_1")(inputs[0])
        x = layers.Concatenate(axis=-1)(
            [conv_1, layers.Conv2D(6, 3, activation="relu", name="conv_2")(inputs[1])]
        )
    else:
        x = layers.Conv2D(6, 3, activation="relu", name="conv_1")(inputs[0])
    x = layers.GlobalAveragePooling2D()(x)
    outputs = [
        layers.Activation(act, dtype="float32", name=f"output_{i}")(layers.Dense(units, name=f"dense_{i}")(x))
        for i, (units, act) in enumerate(heads, 1)
    ]
    return keras.Model(inputs if two_inputs else inputs[0], outputs if len(outputs) > 1 else outputs[0])


def mock_dense_model():
    """Input (8,) -> Dense(6, relu) -> Dense(2) -> softmax."""
    inputs = layers.Input((8,), name="input_1")
    x = layers.Dense(6, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(2, name="dense_2")(x)
    return keras.Model(inputs, layers.Activation("softmax", dtype="float32", name="output_1")(x))


def mock_conv_model_with_sigmoid_output():
    """Input (8, 8, 3) -> Conv2D(6) -> pooling -> Dense(1) -> sigmoid."""
    return _model(False, _SIGMOID)


def mock_conv_model():
    """Input (8, 8, 3) -> Conv2D(6) -> pooling -> Dense(2) -> softmax."""
    return _model(False, _SOFTMAX)


def mock_multiple_inputs_model():
    """Inputs (8, 8, 3) and (10, 10, 3), one softmax output."""
    return _model(True, _SOFTMAX)


def mock_multiple_outputs_model():
    """Input (8, 8, 3), a softmax output of 2 units and a sigmoid output of 1."""
    return _model(False, _SOFTMAX, _SIGMOID)


def mock_multiple_io_model():
    """Two inputs and two outputs (the two models above combined)."""
    return _model(True, _SOFTMAX, _SIGMOID)


def mock_conv_model_with_float32_output():
    """Input (8, 8, 3) -> Conv2D(6) -> pooling -> Dense(2, softmax, float32)."""
    inputs = layers.Input((8, 8, 3), name="input_1")
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(6, 3, activation="relu", name="conv_1")(inputs))
    return keras.Model(inputs, layers.Dense(2, dtype="float32", activation="softmax", name="dense_1")(x))


def dummy_sample(shape, dtype=np.float32):
    """An array of `shape` holding 0, 1, 2, ... in order."""
    return np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)


def score_with_tensor(output):
    """Unit 0 of each sample, as a tensor."""
    return output[:, 0]


def score_with_tuple(output):
    """Unit 0 of each sample, as a tuple."""
    return tuple(row[0] for row in output)


def score_with_list(output):
    """Unit 0 of each sample, as a list."""
    return [row[0] for row in output]


NO_ERROR = None


def assert_raises(e):
    """`pytest.raises(e)`, or a context that expects nothing when `e` is `NO_ERROR`."""
    if e is NO_ERROR:
        return contextlib.nullcontext()
    import pytest

    return pytest.raises(e)


class MockCallback(Callback):
    """A callback that records its calls and raises ValueError where asked."""

    def __init__(self, raise_error_on_begin=False, raise_error_on_call=False, raise_error_on_end=False):
        self.on_begin_was_called = self.on_call_was_called = self.on_end_was_called = False
        self.raise_error_on_begin, self.raise_error_on_call = raise_error_on_begin, raise_error_on_call
        self.raise_error_on_end = raise_error_on_end

    def on_begin(self, **kwargs):
        self.on_begin_was_called, self.kwargs = True, kwargs
        if self.raise_error_on_begin:
            raise ValueError("Test")

    def __call__(self, *args, **kwargs):
        self.on_call_was_called, self.args, self.kwargs = True, args, kwargs
        if self.raise_error_on_call:
            raise ValueError("Test")

    def on_end(self):
        self.on_end_was_called = True
        if self.raise_error_on_end:
            raise ValueError("Test")


class MockLegacyCallback(Callback):
    """Wraps a callback behind the legacy interface (`on_begin()` without arguments)."""

    def __init__(self, callback):
        self.callback = callback

    def on_begin(self):
        self.callback.on_begin()

    def __call__(self, *args, **kwargs):
        self.callback(*args, **kwargs)

    def on_end(self):
        self.callback.on_end()
