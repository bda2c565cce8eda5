"""Saliency maps: one engine call, differentiating w.r.t. the input."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vis import engine, grad_modifiers
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
    inputs = common.as_input_list(input_tensor)
    modifier = grad_modifiers.get(grad_modifier)
    seed, added = common.prepare_seed(seed_input, inputs[0])
    result = engine.compute(inputs, losses, seed, wrt_tensor=wrt_tensor)
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
    model, layer, wrt_tensor = _modified(model, layer_idx, wrt_tensor, backprop_modifier)
    common.warn_if_softmax(layer)
    losses = [(ActivationMaximization(layer, filter_indices), -1)]
    return visualize_saliency_with_losses(
        common.model_inputs(model), losses, seed_input, wrt_tensor, grad_modifier, keepdims
    )


def _modified(model, layer_idx, wrt_tensor, backprop_modifier):
    """Resolves the layer, on a copy of the model when a backprop modifier is given."""
    layer = get_layer(model, layer_idx)
    if backprop_modifier is None:
        return model, layer, wrt_tensor
    from vis.backend import modify_model_backprop

    modified = modify_model_backprop(model, backprop_modifier)
    return modified.model, modified.layer_for(layer), modified.tensor_for(wrt_tensor)
