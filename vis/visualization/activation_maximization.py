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
        input_tensor: The model's input Keras tensor (`model.inputs[0]`), the
            list of inputs of a multi-input model, or the model.
        losses: A list of `(Loss, weight)` pairs; a weight of 0 or None drops the loss.
        wrt_tensor: Tensor the gradients are taken with respect to; None for the input.
        seed_input: The start: one input, a batch of them (one result per
            sample), or None for random noise; for several inputs a list or
            dict of them.
        input_range: The `(min, max)` range of the result. When both bounds
            are ints the result is rounded to `uint8` (`int32` for ranges
            outside [0, 255]).
        **optimizer_params: Arguments of `Optimizer.minimize` (`max_iter`
            defaults to 200, `verbose` to False; `input_modifiers`,
            `grad_modifier`, `callbacks`, `batch_size`), and the feature-visualization
            options of `Optimizer` (`image_param`, `decay_power`,
            `decorrelate`, `transforms`; see `visualize_activation`).

    Returns:
        The optimized input, channels last, rescaled to `input_range` (one
        per input for a multi-input model).

    Raises:
        ValueError: For a bad `input_range`, `max_iter` or seed shape, or no
            loss with a non-zero weight.
    """
    params = utils.add_defaults_to_kwargs(
        {"seed_input": seed_input, "max_iter": 200, "verbose": False}, **optimizer_params
    )
    modifier = params.pop("backprop_modifier", None)
    options = {k: params.pop(k) for k in _OPTIONS if k in params}
    optimizer = optimizer_lib.Optimizer(
        input_tensor, losses, input_range, wrt_tensor=wrt_tensor, backprop_modifier=modifier, **options
    )
    result = optimizer.minimize(**params)[0]
    parts = zip(optimizer.input_tensors, optimizer.input_ranges)
    if isinstance(result, dict):
        return {k: _finish(v, t, r) for (k, v), (t, r) in zip(result.items(), parts)}
    if isinstance(result, list):
        return [_finish(v, t, r) for v, (t, r) in zip(result, parts)]
    return _finish(result, optimizer.input_tensor, optimizer.input_range)


_OPTIONS = ("image_param", "decay_power", "decorrelate", "transforms")


def _finish(img: np.ndarray, tensor, input_range: tuple) -> np.ndarray:
    """Rounds to `uint8` for an int range (int32 outside [0, 255]); images channels last."""
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in input_range):
        # uint8 as in keras-vis; a range uint8 cannot hold (e.g. (-1, 1)) gives int32.
        dtype = "uint8" if 0 <= input_range[0] and input_range[1] <= 255 else "int32"
        img = np.clip(np.rint(img), input_range[0], input_range[1]).astype(dtype)
    if keras.config.image_data_format() == "channels_first" and len(tensor.shape) >= 3:
        batched = img.ndim == len(tensor.shape)
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
    image_param="pixel",
    decorrelate=False,
    transforms=None,
    decay_power=1.0,
    **optimizer_params,
) -> np.ndarray:
    """Returns the model input that maximises the chosen filters of a layer.

    The losses are `ActivationMaximization` of the filters, an `LPNorm` and a
    `TotalVariation` of the input (which keep the image natural), weighted by
    `act_max_weight`, `lp_norm_weight` and `tv_weight`; a weight of 0 or None
    drops that loss. For a final Dense layer, swap a softmax for a linear
    activation first (`utils.apply_modifications`).

    Args:
        model: A Keras model (Functional or Sequential, possibly with nested models).
        layer_idx: Index into `model.layers` (negative allowed), a layer name
            (also inside a nested model), a path `'nested_model/layer'` or a layer.
        filter_indices: The output unit (Dense) or channel (Conv): an int, a
            list of ints (their features mixed in one input), or None for all.
        wrt_tensor: Tensor the gradients are taken with respect to; None for the input.
        seed_input: The start: one input (or a batch of one), a batch of them
            (one result per sample), or None for random noise. A model with
            several inputs is optimized on all of them: a list of seeds in
            `model.inputs` order, a dict by input name, or None.
        input_range: The `(min, max)` range of the result; `uint8` when both
            are ints (`int32` for ranges outside [0, 255]). For several inputs,
            one pair for all or a list of pairs.
        backprop_modifier: 'guided', 'rectified' (alias 'relu', 'deconv') or None.
        grad_modifier: A name from `vis.grad_modifiers`, a callable or None.
        act_max_weight: Weight of the `ActivationMaximization` loss.
        lp_norm_weight: Weight of the `LPNorm` regularizer.
        tv_weight: Weight of the `TotalVariation` regularizer.
        image_param: What is optimized: 'pixel' (keras-vis, the default) or
            'fft', a 1/f-scaled Fourier spectrum of the image (Olah et al.,
            "Feature Visualization", Distill 2017; `vis.featurevis.param`).
        decorrelate: For 3-channel images, optimize decorrelated colour
            channels (lucid's ImageNet colour matrix; `vis.featurevis.color`).
        transforms: 'robust' (random pad, jitter, scale, rotate inside each
            step), a list of `vis.featurevis.transforms` objects, or None.
        decay_power: The exponent of the 'fft' spectrum's 1/f scaling.
        **optimizer_params: Arguments of `Optimizer.minimize` (`max_iter`
            defaults to 200, `verbose` to False).

    Returns:
        The optimized input, channels last, rescaled to `input_range`; for a
        model with several inputs, one per input (a list, or a dict by name
        when the seeds were a dict). `LPNorm` regularizes every input,
        `TotalVariation` the image inputs (those with spatial axes).

    Raises:
        ValueError: For an unknown layer, an out-of-range filter index, a bad
            `input_range` or `max_iter`, all weights 0, or an integer input
            (token ids; the message shows the saliency call to make instead).
        TypeError: For arguments of the wrong type.
    """
    model, layer, wrt_tensor, modifier = _modified(model, layer_idx, wrt_tensor, backprop_modifier)
    common.warn_if_softmax(layer)
    inputs = common.model_inputs(model)
    losses = [(ActivationMaximization(layer, filter_indices), act_max_weight)]
    for tensor in inputs:
        if keras.backend.is_float_dtype(tensor.dtype):
            losses.append((LPNorm(tensor), lp_norm_weight))
        if len(tensor.shape) >= 3 and keras.backend.is_float_dtype(tensor.dtype):  # TV needs spatial axes.
            losses.append((TotalVariation(tensor), tv_weight))
    options = {"image_param": image_param, "decorrelate": decorrelate, "transforms": transforms}
    options = {**options, "decay_power": decay_power, "grad_modifier": grad_modifier}
    params = utils.add_defaults_to_kwargs({**options, "backprop_modifier": modifier}, **optimizer_params)
    target = inputs[0] if len(inputs) == 1 else inputs
    return visualize_activation_with_losses(target, losses, wrt_tensor, seed_input, input_range, **params)
