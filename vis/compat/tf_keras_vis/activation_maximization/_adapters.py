"""`ActivationMaximization`'s arguments, sorted, checked and translated for vis as 0.8.7 reads them."""

from __future__ import annotations

from collections import defaultdict

import keras
import numpy as np
import tensorflow as tf

from vis.compat.tf_keras_vis.activation_maximization import regularizers as tfkv_regularizers
from vis.compat.tf_keras_vis.utils import get_input_names, listify
from vis.losses_base import Loss


class _Penalty(keras.layers.Layer):
    """A regularizer on an input's value (or all inputs' values): one float32 value per sample."""

    def __init__(self, function) -> None:
        super().__init__(dtype="float32", name=f"tfkv_penalty_{id(self):x}")
        self.function = function

    def compute_output_shape(self, input_shape):
        return ((input_shape[0] if isinstance(input_shape, list) else input_shape)[0],)

    def call(self, value):
        penalty = tf.cast(self.function(value), "float32")
        if penalty.shape.rank is not None and penalty.shape.rank > 1:  # A tensor differentiates as its sum.
            penalty = tf.reduce_sum(penalty, axis=tuple(range(1, penalty.shape.rank)))
        return penalty


class RegularizerLoss(Loss):
    """A tf-keras-vis regularizer as a vis loss over the input tensor(s) it regularizes."""

    def __init__(self, regularizer, tensor, name: str) -> None:
        super().__init__()
        self.regularizer, self.tensor, self.name = regularizer, tensor, name

    def cache_key(self):
        return ("tf-keras-vis regularizer", id(self.regularizer), tuple(id(t) for t in listify(self.tensor)))

    def build_loss(self):
        return _Penalty(self.regularizer)(self.tensor)


def is_built_in(regularizer) -> bool:
    """Whether the regularizer is a built-in one (safe to compile)."""
    return type(regularizer) in (tfkv_regularizers.TotalVariation2D, tfkv_regularizers.Norm)


def per_input(model, callables, object_name: str) -> defaultdict:
    """`{input name: [callables]}` from one list (first input), a list of lists or a dict.

    Raises:
        ValueError: For a name that is not an input's or more lists than inputs.
    """
    keys = get_input_names(model)
    if isinstance(callables, dict):
        check_input_names(keys, callables, object_name, object_name)
        return defaultdict(list, ((k, listify(v)) for k, v in callables.items()))
    callables = listify(callables)
    if len(callables) == 0 or not any(type(c) is list for c in callables):
        callables = [callables]
    if len(callables) > len(keys):
        raise ValueError(
            f"The number of model's inputs is {len(keys)}, but you defined {len(callables)} lists of "
            f"{object_name}. Received: {object_name} with {len(callables)} lists"
        )
    return defaultdict(list, zip(keys, (listify(c) for c in callables)))


def check_input_names(names: list, given: dict, what: str, keyword: str) -> None:
    """Raises a ValueError naming the keys of `given` that are not model input names."""
    unknown = set(given) - set(names)
    if unknown:
        raise ValueError(
            f"The model inputs are `{names}`, but the {what} you passed have non existent input names: "
            f"`{unknown}`. Received: {keyword} keyed by {list(given)}"
        )


def named_regularizers(model, regularizers: defaultdict) -> list:
    """`(name, regularizer, input tensor)` triples, named as 0.8.7 names them."""
    tensors, several = dict(zip(get_input_names(model), model.inputs)), len(model.inputs) > 1
    return [
        (f"{getattr(r, 'name', f'regularizer-{i}')}" + (f"({key})" if several else ""), r, tensors[key])
        for key, items in regularizers.items()
        for i, r in enumerate(items)
    ]


def input_ranges_of(model, input_range) -> list:
    """One `(low, high)` pair per input; None (or a None end) means unbounded.

    Raises:
        ValueError: For a range that is not a pair.
        TypeError: For a pair whose ends have different types.
    """
    ranges = listify(input_range, return_empty_list_if_none=False, convert_tuple_to_list=False)
    ranges = ranges * len(model.inputs) if len(ranges) == 1 else ranges
    ranges = [(None, None) if r is None else r for r in ranges]
    for i, r in enumerate(ranges):
        if not isinstance(r, (tuple, list)) or len(r) != 2:
            raise ValueError(
                "Each input range must be a `(low, high)` pair, or None. "
                f"Received: input_range[{i}]={r!r} (input_range={input_range!r})"
            )
        if r[0] is not None and r[1] is not None and type(r[0]) is not type(r[1]):
            raise TypeError(
                "The low and high values of an input range must have the same type. Received: "
                f"input_range[{i}]={r!r} of types {type(r[0]).__name__} and {type(r[1]).__name__}"
            )
    return ranges


def random_seeds(model, input_ranges: list) -> list:
    """Uniform noise over each input's range (0.8.7's choices for unbounded ends), batch of one.

    Raises:
        ValueError: For an input of unknown dimensions.
    """
    seeds = []
    for (low, high), tensor in zip(input_ranges, model.inputs):
        if low is None and high is None:
            low, high = 0.0, 1.0
        elif low is None:
            low = high - np.abs(high / 2.0)
        elif high is None:
            high = low + np.abs(low * 2.0)
        if any(d is None for d in tensor.shape[1:]):
            raise ValueError(
                f"Input '{tensor.name}' has unknown dimensions {tuple(tensor.shape[1:])}: give `seed_input`. "
                "Received: seed_input=None"
            )
        seeds.append(tf.random.uniform((1, *tensor.shape[1:]), low, high))
    return seeds


def clip_and_modify(model, values: list, input_ranges: list, activation_modifiers) -> list:
    """The values clipped to their ranges, cast to the inputs' dtypes, then activation-modified.

    Raises:
        ValueError: For a dict key of `activation_modifiers` that is not an input name.
    """
    names = get_input_names(model)
    if isinstance(activation_modifiers, dict):
        check_input_names(names, activation_modifiers, "activation modifiers", "activation_modifiers")
    else:
        activation_modifiers = {names[0]: activation_modifiers}
    result = []
    for value, (low, high), tensor, name in zip(values, input_ranges, model.inputs, names):
        dtype = tf.as_dtype(tensor.dtype)
        low, high = dtype.min if low is None else low, dtype.max if high is None else high
        value = tf.cast(tf.clip_by_value(value, tf.cast(low, value.dtype), tf.cast(high, value.dtype)), dtype)
        modifier = activation_modifiers.get(name)
        result.append(value if modifier is None else modifier(value))
    return result


def keras_optimizer(optimizer, mixed_precision: bool):
    """The optimizer 0.8.7 uses: RMSprop(1.0, rho=0.999) by default, loss-scaled for float16 models.

    Raises:
        ValueError: If the optimizer cannot be wrapped for a mixed-precision model.
    """
    if optimizer is None:
        optimizer = keras.optimizers.RMSprop(learning_rate=1.0, rho=0.999)
    try:
        return keras.mixed_precision.LossScaleOptimizer(optimizer) if mixed_precision else optimizer
    except ValueError as error:
        raise ValueError(
            "The same `optimizer` instance should not be used twice or more with a mixed-precision "
            f"model: create a new one for each call. Received: optimizer={optimizer!r}"
        ) from error
