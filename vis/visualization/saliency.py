"""Saliency maps: one engine call, differentiating w.r.t. the input."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from vis import backprop_modifiers, engine, grad_modifiers, graph
from vis.losses import ActivationMaximization
from vis.utils.layers import get_layer
from vis.visualization import common


def visualize_saliency_with_losses(
    input_tensor,
    losses: list,
    seed_input,
    wrt_tensor=None,
    grad_modifier="absolute",
    keepdims: bool = False,
) -> np.ndarray:
    """Returns the saliency map of `seed_input` for a weighted list of losses.

    The gradient of the weighted losses with respect to `wrt_tensor` (the
    input by default) is passed through `grad_modifier`, reduced by a max over
    the channel axis unless `keepdims`, and min-max normalised per map.
    The losses are minimised, so to see what raises an activation give
    `ActivationMaximization` a weight of -1.

    Args:
        input_tensor: The model's input Keras tensor (`model.inputs[0]`) or the model.
        losses: A list of `(Loss, weight)` pairs.
        seed_input: One input without the batch axis, or a batch of them.
        wrt_tensor: Tensor to take the gradient with respect to; None for the input.
        grad_modifier: A name from `vis.grad_modifiers`, a callable, or None.
        keepdims: Keep the channel axis instead of taking its max.

    Returns:
        A float32 map in [0, 1]: the seed's spatial shape (plus channels if
        `keepdims`); with a batch axis when `seed_input` had one.

    Raises:
        ValueError: For a seed of the wrong shape, non-finite values, or an
            unknown `grad_modifier`.
    """
    return saliency_maps(input_tensor, losses, seed_input, wrt_tensor, grad_modifier, keepdims)


def saliency_maps(
    input_tensor, losses, seed_input, wrt_tensor, grad_modifier, keepdims, backprop_modifier=None
) -> np.ndarray:
    """Shared body of the saliency functions (with an engine backprop modifier)."""
    inputs = common.as_input_list(input_tensor)
    modifier = grad_modifiers.get(grad_modifier)
    seed, added = common.prepare_seed(seed_input, inputs[0])
    result = engine.compute(inputs, losses, seed, wrt_tensor=wrt_tensor, backprop_modifier=backprop_modifier)
    grads = result.grads[0] if isinstance(result.grads, list) else result.grads
    if modifier is not None:
        grads = modifier(grads)
    maps = common.normalize_each(common.reduce_channels(grads, keepdims))
    return maps[0] if added else maps


def visualize_saliency(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    wrt_tensor=None,
    backprop_modifier=None,
    grad_modifier="absolute",
    keepdims: bool = False,
) -> np.ndarray:
    """Returns the saliency map: how the chosen filters' output changes with the input.

    Args:
        model: A Keras model (Functional or Sequential).
        layer_idx: Index into `model.layers` (negative allowed) or a layer name.
        filter_indices: Output unit (Dense) or channel (Conv): an int, a list
            of ints, or None for all of them.
        seed_input: One input without the batch axis, or a batch of them
            (then one map per sample comes back, each normalised on its own).
        wrt_tensor: Tensor to take the gradient with respect to; None for the input.
        backprop_modifier: 'guided', 'rectified' (alias 'relu', 'deconv'), a
            callable `model -> model`, or None.
        grad_modifier: A name from `vis.grad_modifiers`, a callable, or None.
        keepdims: Keep the channel axis instead of taking its max.

    Returns:
        A float32 map in [0, 1] of the seed's spatial shape (with channels if `keepdims`).

    Raises:
        ValueError: For an unknown layer, an out-of-range filter index, a seed
            of the wrong shape or an unknown modifier.
        TypeError: For arguments of the wrong type.
    """
    model, layer, wrt_tensor, modifier = _modified(model, layer_idx, wrt_tensor, backprop_modifier)
    common.warn_if_softmax(layer)
    losses = [(ActivationMaximization(layer, filter_indices), -1)]
    inputs = common.model_inputs(model)
    return saliency_maps(inputs, losses, seed_input, wrt_tensor, grad_modifier, keepdims, modifier)


def _modified(model, layer_idx, wrt_tensor, backprop_modifier):
    """Resolves the layer and the backprop modifier.

    Named modifiers ('guided', 'rectified') are applied by the engine while it
    rebuilds the graph, so they come back as the fourth item. A user callable
    `model -> model` is applied here, and the layer and `wrt_tensor` are
    looked up again by name in the model it returns.

    Returns:
        `(model, layer, wrt_tensor, engine_modifier)`.
    """
    common.model_inputs(model)  # A clear error for a model without symbolic inputs (subclassed).
    layer = get_layer(model, layer_idx)
    modifier = backprop_modifiers.get(backprop_modifier)
    if modifier is None or backprop_modifiers.is_engine_modifier(modifier):
        return model, layer, wrt_tensor, modifier
    modified = modifier(model)
    if not isinstance(modified, keras.Model):
        raise TypeError(
            f"A `backprop_modifier` callable must return a Keras model. Received: {modified!r}"
        )
    if wrt_tensor is not None:
        wrt_tensor = get_layer(modified, graph.producer(wrt_tensor)[0].name).output
    return modified, get_layer(modified, layer.name), wrt_tensor, None
