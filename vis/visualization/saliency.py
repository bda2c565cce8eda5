"""Saliency maps and SmoothGrad: engine calls differentiating w.r.t. the input.

Plain saliency is one engine call; SmoothGrad (`smooth_samples > 0`) averages
the gradients of noisy copies of each seed, sent through the engine in batches
(`vis.visualization.averaged_gradients`, shared with Integrated Gradients).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from vis import backprop_modifiers, engine, grad_modifiers
from vis.engine import graph
from vis.losses import ActivationMaximization
from vis.utils.layers import get_layer
from vis.visualization import common
from vis.visualization.averaged_gradients import mean_gradients, noisy_copies
from vis.visualization.feature_maps import find_penultimate_layer, output_of


def visualize_saliency_with_losses(
    input_tensor,
    losses: list,
    seed_input,
    wrt_tensor=None,
    grad_modifier="absolute",
    keepdims: bool = False,
    keep_batch_axis: bool = False,
) -> np.ndarray | list | dict:
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
        keep_batch_axis: Always return a batch axis, also for one sample.

    Returns:
        A float32 map in [0, 1]: the seed's spatial shape (plus channels if
        `keepdims`), with a batch axis for a batch of two or more seeds (or
        `keep_batch_axis`). For a model with several inputs, one map per
        input, as the seeds were given (a list, or a dict by input name);
        a single map when `wrt_tensor` is one of the inputs.

    Raises:
        ValueError: For a seed of the wrong shape, non-finite values, or an
            unknown `grad_modifier`.
    """
    return saliency_maps(
        input_tensor, losses, seed_input, wrt_tensor, grad_modifier, keepdims, keep_batch_axis=keep_batch_axis
    )


def saliency_maps(
    input_tensor,
    losses,
    seed_input,
    wrt_tensor,
    grad_modifier,
    keepdims,
    backprop_modifier=None,
    keep_batch_axis: bool = False,
    smooth_samples: int = 0,
    smooth_noise: float = 0.2,
    batch_size: int | None = None,
    also_wrt: tuple = (),
):
    """Shared body of the saliency functions (with an engine backprop modifier), SmoothGrad included.

    `also_wrt` goes to `vis.engine.compute` (tensors whose gradient later calls may want).
    """
    inputs = common.as_input_list(input_tensor)
    modifier = grad_modifiers.get(grad_modifier)
    _check_smoothing(smooth_samples, smooth_noise, batch_size)
    seeds = common.prepare_seeds(seed_input, inputs, keep_batch_axis)
    if smooth_samples:
        make = noisy_copies(seeds.batches, smooth_noise)
        through = (wrt_tensor, backprop_modifier, modifier)
        grads = mean_gradients(inputs, losses, seeds.batches, smooth_samples, make, batch_size, *through)
    else:
        result = engine.compute(inputs, losses, seeds.batches, wrt_tensor, backprop_modifier, also_wrt)
        grads = result.grads if isinstance(result.grads, list) else [result.grads]
        grads = [g if modifier is None else modifier(g) for g in grads]
    maps = [common.normalize_each(common.reduce_channels(g, keepdims)) for g in grads]
    return seeds.one(maps[0]) if len(maps) == 1 else seeds.per_input(maps)


def _check_smoothing(smooth_samples, smooth_noise, batch_size) -> None:
    common.check_count(smooth_samples, "smooth_samples", 0, hint=" (0: plain saliency)")
    common.check_count(batch_size, "batch_size", 1, allow_none=True)
    if isinstance(smooth_noise, bool) or not isinstance(smooth_noise, (int, float, np.number)):
        raise TypeError(f"`smooth_noise` must be a number. Received: smooth_noise={smooth_noise!r}")
    if not np.isfinite(smooth_noise) or smooth_noise < 0:
        raise ValueError(
            "`smooth_noise` must be a finite number >= 0, the noise's standard deviation as a fraction "
            f"of each seed's (max - min). Received: smooth_noise={smooth_noise!r}"
        )


def visualize_saliency(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    wrt_tensor=None,
    backprop_modifier=None,
    grad_modifier="absolute",
    keepdims: bool = False,
    keep_batch_axis: bool = False,
    smooth_samples: int = 0,
    smooth_noise: float = 0.2,
    batch_size: int | None = None,
) -> np.ndarray | list | dict:
    """Returns the saliency map: how the chosen filters' output changes with the input.

    With `smooth_samples > 0` this is SmoothGrad (Smilkov et al. 2017): the
    mean of `grad_modifier(gradient)` over `smooth_samples` copies of each seed
    with Gaussian noise added, then the channel max and the normalisation.
    It composes with `backprop_modifier` ('guided' gives guided SmoothGrad).

    Args:
        model: A Keras model (Functional or Sequential, possibly with nested models).
        layer_idx: Index into `model.layers` (negative allowed), a layer name
            (also of a layer inside a nested model), a path
            `'nested_model/layer'` or a layer object.
        filter_indices: Output unit (Dense) or channel (Conv): an int, a list
            of ints, or None for all of them.
        seed_input: One input without the batch axis (or with a batch axis of
            size 1), or a batch of them (then one map per sample comes back,
            each normalised on its own). For a model with several inputs, a
            list of seeds in `model.inputs` order or a dict by input name.
        wrt_tensor: Tensor to take the gradient with respect to; None for the
            input(s). For a text model (integer input), the embedding's
            output: `model.get_layer("embedding").output`.
        backprop_modifier: 'guided', 'rectified' (alias 'relu', 'deconv'), a
            callable `model -> model`, or None.
        grad_modifier: A name from `vis.grad_modifiers`, a callable, or None.
        keepdims: Keep the channel axis instead of taking its max.
        keep_batch_axis: Always return a batch axis, also for one sample.
        smooth_samples: SmoothGrad's number of noisy copies per seed; 0 for
            plain saliency.
        smooth_noise: The noise's standard deviation as a fraction of each
            seed's `max - min` (tf-keras-vis's definition). The noise follows
            numpy's global generator (see
            `vis.visualization.averaged_gradients.noisy_copies`), so
            `vis.backend.set_random_seed` (or `keras.utils.set_random_seed`)
            makes maps reproducible, whatever `batch_size`. Integer inputs
            get no noise.
        batch_size: Noisy copies per engine call, to bound memory; None for
            `smooth_samples` (all the copies of one seed at once).

    Returns:
        A float32 map in [0, 1] of the seed's spatial shape (with channels if
        `keepdims`); a batch of maps for a batch of two or more seeds; one map
        per input (a list, or a dict by name) for a model with several inputs.

    Raises:
        ValueError: For an unknown layer, an out-of-range filter index, a seed
            of the wrong shape, an unknown modifier, `smooth_samples < 0`,
            `smooth_noise < 0` or `batch_size < 1`.
        TypeError: For arguments of the wrong type.
    """
    _check_smoothing(smooth_samples, smooth_noise, batch_size)
    model, layer, wrt_tensor, modifier = _modified(model, layer_idx, wrt_tensor, backprop_modifier)
    common.warn_if_softmax(layer)
    losses = [(ActivationMaximization(layer, filter_indices), -1)]
    inputs = common.model_inputs(model)
    smoothing = {"smooth_samples": smooth_samples, "smooth_noise": smooth_noise, "batch_size": batch_size}
    arguments = (inputs, losses, seed_input, wrt_tensor, grad_modifier, keepdims, modifier, keep_batch_axis)
    also_wrt = _default_feature_maps(model, layer) if wrt_tensor is None else ()
    return saliency_maps(*arguments, **smoothing, also_wrt=also_wrt)


def _default_feature_maps(model, layer) -> tuple:
    """Grad-CAM's default feature maps for `layer`, if it has some: the saliency program returns
    their gradient too, so that a `visualize_cam` call that follows is served without a compile."""
    try:
        return (output_of(find_penultimate_layer(model, layer)),)
    except ValueError:
        return ()


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
        raise TypeError(f"A `backprop_modifier` callable must return a Keras model. Received: {modified!r}")
    if wrt_tensor is not None:
        wrt_tensor = get_layer(modified, graph.producer(wrt_tensor)[0].name).output
    return modified, get_layer(modified, layer.name), wrt_tensor, None
