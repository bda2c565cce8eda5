"""Checks and small helpers shared by the visualization functions."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from vis import graph
from vis.utils.layers import channel_axis, check_model


def model_inputs(model) -> list:
    """Returns the model's input Keras tensors (`model.input` raises for Sequential in Keras 3)."""
    check_model(model)
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            f"Model '{model.name}' has no symbolic inputs: it was never built on a `keras.Input`. "
            "Build it first (declare `keras.Input(shape)` or call the model on data). A subclassed "
            "model has no graph of layers: wrap it, `inp = keras.Input(shape); "
            "model = keras.Model(inp, subclassed(inp))`, to visualize its output. "
            f"Received: model={model!r}"
        )
    return list(inputs)


def as_input_list(input_tensor, argument: str = "input_tensor") -> list:
    """Accepts a Keras tensor, a list of them, or a model, and returns the input tensors."""
    if isinstance(input_tensor, keras.Model):
        return model_inputs(input_tensor)
    tensors = list(input_tensor) if isinstance(input_tensor, (list, tuple)) else [input_tensor]
    for tensor in tensors:
        if not graph.is_keras_tensor(tensor):
            raise TypeError(
                f"`{argument}` must be the model's input Keras tensor (`model.inputs[0]`), a list "
                f"of them or the model. Received: {argument}={input_tensor!r}"
            )
    return tensors


def prepare_seed(seed_input, input_tensor, argument: str = "seed_input") -> tuple[np.ndarray, bool]:
    """Validates a seed and returns it as a float batch, and whether a batch axis was added.

    Raises:
        TypeError: If the seed is not array-like numbers.
        ValueError: If its shape does not fit the input, or it holds NaN or inf.
    """
    try:
        array = np.asarray(seed_input)
    except Exception as error:  # noqa: BLE001 - any conversion failure is a bad argument
        raise TypeError(f"`{argument}` must be a numpy array. Received: {argument}={seed_input!r}") from error
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(
            f"`{argument}` must be a numeric array. Received: {argument} of dtype {array.dtype}"
        )
    expected = tuple(input_tensor.shape[1:])
    added = array.ndim == len(expected)
    batch = array[None] if added else array
    if batch.ndim != len(expected) + 1 or not _fits(batch.shape[1:], expected):
        raise ValueError(
            f"`{argument}` must have shape {_show(expected)} (one input) or (batch, {_show(expected)[1:-1]}) "
            f"for input '{input_tensor.name}'. Received: {argument} with shape {array.shape}"
        )
    batch = batch.astype(keras.backend.standardize_dtype(input_tensor.dtype), copy=True)
    if not np.all(np.isfinite(batch)):
        raise ValueError(
            f"`{argument}` contains NaN or inf values. Received: {argument} with shape {array.shape}"
        )
    return batch, added


def _fits(shape, expected) -> bool:
    return all(e is None or s == e for s, e in zip(shape, expected))


def _show(shape) -> str:
    text = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({text},)" if len(shape) == 1 else f"({text})"


def warn_if_softmax(layer) -> None:
    """Warns when the visualised layer ends in softmax, as keras-vis's docs advise against it."""
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "")
    if name == "softmax" or isinstance(layer, keras.layers.Softmax):
        warnings.warn(
            f"Layer '{layer.name}' ends in a softmax: the gradient of one class then depends on "
            "all the others and maps can look wrong. Swap it for a linear activation first: "
            "`model.layers[idx].activation = keras.activations.linear; "
            "model = vis.utils.utils.apply_modifications(model)`.",
            UserWarning,
            stacklevel=3,
        )


def reduce_channels(grads: np.ndarray, keepdims: bool) -> np.ndarray:
    """Takes the max over the channel axis of a batch of input gradients unless `keepdims`.

    Inputs without a channel axis (rank 2: batch, features) are returned as they are.
    """
    if keepdims or grads.ndim < 3:
        return grads
    axis = 1 if keras.config.image_data_format() == "channels_first" else -1
    return np.max(grads, axis=axis)


def normalize_each(maps: np.ndarray) -> np.ndarray:
    """Min-max normalises each map of a batch to [0, 1] on its own (a constant map gives zeros)."""
    maps = maps.astype("float32", copy=False)
    axes = tuple(range(1, maps.ndim))
    low = maps.min(axis=axes, keepdims=True) if axes else maps.min()
    span = (maps.max(axis=axes, keepdims=True) if axes else maps.max()) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0).astype("float32")


def get_num_filters(layer) -> int:
    """Returns the number of output units (Dense) or channels (Conv) of a layer.

    Args:
        layer: A built Keras layer.

    Returns:
        The size of the layer's channel axis.
    """
    shape = layer.output.shape
    return int(shape[channel_axis(layer, len(shape))])


def overlay(array1: np.ndarray, array2: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blends two arrays: `array1 * alpha + array2 * (1 - alpha)`, in `array1`'s dtype.

    Args:
        array1: The first array (its dtype is kept).
        array2: The second array, of the same shape.
        alpha: The weight of `array1`, in [0, 1].

    Returns:
        The blended array.

    Raises:
        ValueError: If `alpha` is outside [0, 1] or the shapes differ.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"`alpha` must be a number in [0, 1]. Received: alpha={alpha!r}")
    array1, array2 = np.asarray(array1), np.asarray(array2)
    if array1.shape != array2.shape:
        raise ValueError(
            f"`array1` and `array2` must have the same shape. Received: array1 with shape "
            f"{array1.shape} and array2 with shape {array2.shape}"
        )
    blended = array1.astype("float64") * alpha + array2.astype("float64") * (1.0 - alpha)
    if np.issubdtype(array1.dtype, np.integer):
        info = np.iinfo(array1.dtype)
        blended = np.clip(np.rint(blended), info.min, info.max)
    return blended.astype(array1.dtype)
