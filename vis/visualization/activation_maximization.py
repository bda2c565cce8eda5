"""Activation maximization: the input that most activates a filter, by gradient descent."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

# `vis.optimizer` imports `vis.visualization.common`: import the module, not its names.
from vis import optimizer as optimizer_lib
from vis.losses import ActivationMaximization
from vis.regularizers import LPNorm, TotalVariation
from vis.utils import utils
from vis.visualization import common
from vis.visualization.saliency import _modified


def visualize_activation_with_losses(
    input_tensor,
    losses: list,
    wrt_tensor=None,
    seed_input=None,
    input_range=(0, 255),
    **optimizer_params,
) -> np.ndarray:
    """Returns the input that minimises the weighted `losses`, for custom losses.

    Args:
        input_tensor: The model's input Keras tensor (`model.inputs[0]`) or the model.
        losses: A list of `(Loss, weight)` pairs; a weight of 0 or None drops the loss.
        wrt_tensor: Tensor the gradients are taken with respect to; None for the input.
        seed_input: The start: one input, a batch of them (one result per
            sample), or None for random noise.
        input_range: The `(min, max)` range of the result. When both bounds
            are ints the result is rounded to `uint8` (`int32` for ranges
            outside [0, 255]).
        **optimizer_params: Arguments of `Optimizer.minimize` (`max_iter`
            defaults to 200, `verbose` to False; `input_modifiers`,
            `grad_modifier`, `callbacks`).

    Returns:
        The optimized input, channels last, rescaled to `input_range`.

    Raises:
        ValueError: For a bad `input_range`, `max_iter` or seed shape, or no
            loss with a non-zero weight.
    """
    input_range = optimizer_lib.check_input_range(input_range)
    params = utils.add_defaults_to_kwargs(
        {"seed_input": seed_input, "max_iter": 200, "verbose": False}, **optimizer_params
    )
    modifier = params.pop("backprop_modifier", None)
    optimizer = optimizer_lib.Optimizer(
        input_tensor, losses, input_range, wrt_tensor=wrt_tensor, backprop_modifier=modifier
    )
    img = optimizer.minimize(**params)[0]
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in input_range):
        # uint8 as in keras-vis; a range uint8 cannot hold (e.g. (-1, 1)) gives int32.
        dtype = "uint8" if 0 <= input_range[0] and input_range[1] <= 255 else "int32"
        img = np.clip(np.rint(img), input_range[0], input_range[1]).astype(dtype)
    if keras.config.image_data_format() == "channels_first" and img.ndim >= 2:
        batched = img.ndim == len(optimizer.input_tensor.shape)
        img = np.moveaxis(img, 1 if batched else 0, -1)
    return img


def visualize_activation(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None = None,
    wrt_tensor=None,
    seed_input=None,
    input_range=(0, 255),
    backprop_modifier=None,
    grad_modifier=None,
    act_max_weight=1,
    lp_norm_weight=10,
    tv_weight=10,
    **optimizer_params,
) -> np.ndarray:
    """Returns the model input that maximises the chosen filters of a layer.

    The losses are `ActivationMaximization` of the filters, an `LPNorm` and a
    `TotalVariation` of the input (which keep the image natural), weighted by
    `act_max_weight`, `lp_norm_weight` and `tv_weight`; a weight of 0 or None
    drops that loss. For a final Dense layer, swap a softmax for a linear
    activation first (`utils.apply_modifications`).

    Args:
        model: A Keras model (Functional or Sequential).
        layer_idx: Index into `model.layers` (negative allowed) or a layer name.
        filter_indices: The output unit (Dense) or channel (Conv): an int, a
            list of ints (their features mixed in one input), or None for all.
        wrt_tensor: Tensor the gradients are taken with respect to; None for the input.
        seed_input: The start: one input, a batch of them (one result per
            sample), or None for random noise.
        input_range: The `(min, max)` range of the result; `uint8` when both
            are ints (`int32` for ranges outside [0, 255]).
        backprop_modifier: 'guided', 'rectified' (alias 'relu', 'deconv') or None.
        grad_modifier: A name from `vis.grad_modifiers`, a callable or None.
        act_max_weight: Weight of the `ActivationMaximization` loss.
        lp_norm_weight: Weight of the `LPNorm` regularizer.
        tv_weight: Weight of the `TotalVariation` regularizer.
        **optimizer_params: Arguments of `Optimizer.minimize` (`max_iter`
            defaults to 200, `verbose` to False).

    Returns:
        The optimized input, channels last, rescaled to `input_range`.

    Raises:
        ValueError: For an unknown layer, an out-of-range filter index, a bad
            `input_range` or `max_iter`, or all weights 0.
        TypeError: For arguments of the wrong type.
    """
    model, layer, wrt_tensor, modifier = _modified(model, layer_idx, wrt_tensor, backprop_modifier)
    common.warn_if_softmax(layer)
    image = common.model_inputs(model)[0]
    losses = [
        (ActivationMaximization(layer, filter_indices), act_max_weight),
        (LPNorm(image), lp_norm_weight),
        (TotalVariation(image), tv_weight),
    ]
    params = utils.add_defaults_to_kwargs(
        {"grad_modifier": grad_modifier, "backprop_modifier": modifier}, **optimizer_params
    )
    return visualize_activation_with_losses(image, losses, wrt_tensor, seed_input, input_range, **params)
