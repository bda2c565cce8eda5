"""Checks and small helpers shared by the visualization functions."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from vis.engine import graph
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


def prepare_seed(
    seed_input, input_tensor, argument: str = "seed_input", keep_batch_axis: bool = False
) -> tuple[np.ndarray, bool]:
    """Validates a seed and returns it as a float batch, and whether results drop the batch axis.

    The keras-vis rule: one input without the batch axis, or with a batch axis
    of size 1 (`np.expand_dims(img, 0)`, the array given to `model.predict`),
    gives one result without the batch axis; a batch of two or more gives one
    result per sample. `keep_batch_axis=True` always keeps the batch axis.

    Returns:
        `(batch, squeeze)`: the seed with a batch axis, and whether to return `results[0]`.

    Raises:
        TypeError: If the seed is not array-like numbers.
        ValueError: If its shape does not fit the input, or it holds NaN or inf.
    """
    try:
        array = np.asarray(seed_input)
    except Exception as error:  # noqa: BLE001 - any conversion failure is a bad argument
        raise TypeError(f"`{argument}` must be a numpy array. Received: {argument}={seed_input!r}") from error
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"`{argument}` must be a numeric array. Received: {argument} of dtype {array.dtype}")
    expected = tuple(input_tensor.shape[1:])
    added = array.ndim == len(expected)
    batch = array[None] if added else array
    if batch.ndim != len(expected) + 1 or not _fits(batch.shape[1:], expected):
        raise ValueError(
            f"`{argument}` must have shape {_show(expected)} (one input) or (batch, {_show(expected)[1:-1]}) "
            f"for input '{input_tensor.name}'. Received: {argument} with shape {array.shape}"
        )
    if batch.shape[0] == 0:
        raise ValueError(
            f"`{argument}` must hold at least one sample. Received: {argument} with shape {array.shape}"
        )
    batch = batch.astype(keras.backend.standardize_dtype(input_tensor.dtype), copy=True)
    if batch.size and not (np.isfinite(batch.min()) and np.isfinite(batch.max())):  # NaN propagates.
        raise ValueError(
            f"`{argument}` contains NaN or inf values. Received: {argument} with shape {array.shape}"
        )
    return batch, (not keep_batch_axis) and batch.shape[0] == 1


class Seeds:
    """Validated seeds, one batch per model input, and the shape results come back in.

    Attributes:
        batches: One float batch per model input, in `model.inputs` order.
        squeeze: Whether results drop the batch axis (one sample, `keep_batch_axis=False`).
        names: The input names when the seeds were given as a dict, else None.
    """

    def __init__(self, batches: list, squeeze: bool, names: list | None, listed: bool) -> None:
        self.batches, self.squeeze, self.names, self._listed = batches, squeeze, names, listed

    def one(self, result):
        """A batch of results (batch axis first), without the batch axis when `squeeze`."""
        return result[0] if self.squeeze else result

    def per_input(self, results: list):
        """One batch of results per input, as the seeds were given: a list, a dict by name, or one."""
        results = [self.one(r) for r in results]
        if self.names is not None:
            return dict(zip(self.names, results))
        return results if self._listed else results[0]


def input_name(tensor) -> str:
    """The name of a model input (its `InputLayer`'s), as Keras matches dict inputs by it."""
    return graph.producer(tensor)[0].name


def prepare_seeds(
    seed_input, inputs: list, keep_batch_axis: bool = False, argument: str = "seed_input"
) -> Seeds:
    """Validates the seeds of a model with one or several inputs.

    A model with several inputs takes a list (or tuple) of seeds in
    `model.inputs` order, or a dict by input name; every seed follows the
    one-input rules of `prepare_seed`, and all hold the same number of samples.

    Raises:
        TypeError: If a multi-input seed is not a list or dict, or a seed is not numeric.
        ValueError: For a wrong number of seeds, unknown names, mismatched
            batch sizes, or a seed that does not fit its input.
    """
    if len(inputs) == 1 and not isinstance(seed_input, dict):
        batch, squeeze = prepare_seed(seed_input, inputs[0], argument, keep_batch_axis)
        return Seeds([batch], squeeze, None, False)
    names = [input_name(t) for t in inputs]
    if isinstance(seed_input, dict):
        if set(seed_input) != set(names):
            raise ValueError(
                f"`{argument}` given as a dict needs one seed per input name {names}. "
                f"Received: {argument} with keys {sorted(map(str, seed_input))}"
            )
        given, labels, keys = [seed_input[n] for n in names], [f"{argument}[{n!r}]" for n in names], names
    elif isinstance(seed_input, (list, tuple)) and len(seed_input) == len(inputs):
        given, labels, keys = list(seed_input), [f"{argument}[{i}]" for i in range(len(inputs))], None
    else:
        shape = getattr(seed_input, "shape", None)
        raise TypeError(
            f"Model has {len(inputs)} inputs {names}: `{argument}` must be a list of {len(inputs)} arrays in "
            f"that order, or a dict by input name. Received: {argument} of type {type(seed_input).__name__}"
            + (f" with shape {shape}" if shape is not None else "")
        )
    prepared = [prepare_seed(s, t, label, keep_batch_axis) for s, t, label in zip(given, inputs, labels)]
    sizes = [batch.shape[0] for batch, _ in prepared]
    if len(set(sizes)) > 1:
        raise ValueError(
            f"Every seed of `{argument}` must hold the same number of samples. Received: batch sizes {sizes}"
        )
    return Seeds([b for b, _ in prepared], prepared[0][1], keys, True)


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
    axis = 1 if keras.config.image_data_format() == "channels_first" else grads.ndim - 1
    if grads.shape[axis] > 16:
        return np.max(grads, axis=axis)
    # A few channels (RGB): an elementwise maximum is several times faster than numpy's reduction
    # over a short last axis, and gives the same values.
    channels = np.moveaxis(grads, axis, 0)
    result = channels[0].copy()
    for channel in channels[1:]:
        np.maximum(result, channel, out=result)
    return result


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


def check_count(value, argument: str, minimum: int = 1, allow_none: bool = False, hint: str = "") -> None:
    """Checks an int keyword such as `steps` or `batch_size` (a bool is not an int).

    Raises:
        TypeError: If `value` is not an int (or None when `allow_none`).
        ValueError: If it is below `minimum`.
    """
    if value is None and allow_none:
        return
    text = f"`{argument}` must be an int >= {minimum}{' or None' if allow_none else ''}{hint}."
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{text} Received: {argument}={value!r}")
    if value < minimum:
        raise ValueError(f"{text} Received: {argument}={value!r}")
