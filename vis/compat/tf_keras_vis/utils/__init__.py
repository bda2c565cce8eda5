"""tf-keras-vis 0.8.7's `tf_keras_vis.utils`: small helpers, same names and signatures.

`get_num_of_steps_allowed` caps step counts by the `TF_KERAS_VIS_MAX_STEPS`
environment variable (tf-keras-vis's own test switch).
"""

from __future__ import annotations

import os
import warnings

import keras
import numpy as np
import tensorflow as tf

import vis._tensorflow_check  # noqa: F401  (a clear ImportError without TensorFlow 2.16+)

MAX_STEPS = "TF_KERAS_VIS_MAX_STEPS"


def _deprecated(name: str, version: str, reason: str = "") -> None:
    message = f"Call to deprecated function {name}. ({reason}) -- Deprecated since version {version}."
    warnings.warn(message, DeprecationWarning, stacklevel=3)


def check_steps(steps):
    """Deprecated since 0.7.0: `get_num_of_steps_allowed`."""
    _deprecated("check_steps", "0.7.0")
    return get_num_of_steps_allowed(steps)


def get_num_of_steps_allowed(steps) -> int:
    """`steps`, capped by the `TF_KERAS_VIS_MAX_STEPS` environment variable when it is set."""
    return min(steps, int(os.environ[MAX_STEPS])) if MAX_STEPS in os.environ else steps


def num_of_gpus() -> tuple[int, int]:
    """The numbers of physical and logical GPUs."""
    physical = tf.config.list_physical_devices("GPU")
    return (len(physical), len(tf.config.list_logical_devices("GPU"))) if physical else (0, 0)


def listify(value, return_empty_list_if_none=True, convert_tuple_to_list=True) -> list:
    """`value` as a list: a list as is, None as `[]` (or `[None]`), a tuple as a list, else `[value]`."""
    if isinstance(value, list):
        return value
    if value is None and return_empty_list_if_none:
        return []
    return list(value) if isinstance(value, tuple) and convert_tuple_to_list else [value]


def standardize(array, value_range=(1.0, 0.0)):
    """Deprecated since 0.8.0: `normalize`."""
    _deprecated("standardize", "0.8.0", "Use `normalize()` instead.")
    return normalize(array)


def normalize(array, value_range=(1.0, 0.0)) -> np.ndarray:
    """Min-max scales each sample (axis 0) to [0, 1] (`value_range` is ignored, as in 0.8.7)."""
    array = np.asarray(array)
    axes = tuple(range(1, array.ndim))
    low, high = np.min(array, axis=axes, keepdims=True), np.max(array, axis=axes, keepdims=True)
    return (array - low) / (high - low + 1e-7)  # 0.8.7's K.epsilon()


def find_layer(model, condition, offset=None, reverse=True) -> keras.layers.Layer:
    """The last layer (searching backwards, into nested models) for which `condition(layer)` holds.

    With `offset`, the search starts at that layer (included). Returns None when none matches.
    """
    found_offset = offset is None
    for layer in reversed(model.layers):
        found_offset = found_offset or layer is offset
        if found_offset and condition(layer):
            return layer
        if isinstance(layer, keras.Model):
            result = find_layer(layer, condition, offset=None if found_offset else offset, reverse=reverse)
            if result is not None:
                return result
    return None


def zoom_factor(from_shape, to_shape) -> tuple[float, float]:
    """The per-axis factors that scale `from_shape` to `to_shape` (over the shorter of the two)."""
    return tuple(float(t) / float(f) for f, t in zip(from_shape, to_shape))


def is_mixed_precision(model) -> bool:
    """Whether any layer of the model (nested models included) computes in float16."""
    return _lower_precision_layer(model, ("float16",)) is not None


def lower_precision_dtype(model):
    """Deprecated since 0.7.0: the first float16/bfloat16 compute dtype of the model."""
    _deprecated("lower_precision_dtype", "0.7.0", "Unnecessary function.")
    layer = _lower_precision_layer(model, ("float16", "bfloat16"))
    return model.dtype if layer is None else layer.compute_dtype


def _lower_precision_layer(model, dtypes):
    """The first top-level layer computing in `dtypes`, or holding a float16 nested model (as 0.8.7)."""
    for layer in model.layers:
        if layer.compute_dtype in dtypes or (isinstance(layer, keras.Model) and is_mixed_precision(layer)):
            return layer
    return None


def get_input_names(model):
    """The names of the model's input tensors."""
    return [tensor.name for tensor in model.inputs]
