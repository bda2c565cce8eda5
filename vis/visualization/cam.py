"""The gradient CAM methods: grad-CAM, grad-CAM++, LayerCAM and guided grad-CAM.

Each is one `vis.engine.compute` call, differentiating the score (the chosen
filters' mean activation) with respect to the penultimate layer's feature
maps, then the body the CAM family shares (`vis.visualization.cam_weighting`)
with the method's own weighting. The penultimate-layer search and the resize
live in `vis.visualization.feature_maps`, Score-CAM (forward passes only) in
`vis.visualization.score_cam`.

grad-CAM is computed as in keras-vis 0.5, with two documented differences:
the gradient is scaled by `max(|grads|)` per sample (keras-vis divided by the
signed `max(grads)`, which flips the map when every gradient is negative),
and the resize is linear interpolation rather than a cubic spline.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from vis.visualization import common
from vis.visualization.cam_weighting import class_activation_maps, model_cam
from vis.visualization.feature_maps import find_penultimate_layer
from vis.visualization.saliency import visualize_saliency

_find_penultimate_layer = find_penultimate_layer  # keras-vis's name, imported by legacy code and tests


def visualize_cam_with_losses(
    input_tensor,
    losses: list,
    seed_input,
    penultimate_layer,
    grad_modifier=None,
    keep_batch_axis: bool = False,
) -> np.ndarray:
    """Returns the grad-CAM map of `seed_input` for a weighted list of losses.

    The gradient of the weighted losses with respect to the penultimate
    layer's output `A` (passed through `grad_modifier`, then divided by its
    largest magnitude) is averaged over the spatial axes into one weight per
    channel; the map is `relu(sum_k w_k A_k)`, resized to the input's spatial
    shape by linear interpolation and min-max normalised (a constant map
    gives zeros). Losses are minimised: give `ActivationMaximization` a
    weight of -1 to see what raises an activation.

    Args:
        input_tensor: The model's input Keras tensor (`model.inputs[0]`) or the model.
        losses: A list of `(Loss, weight)` pairs.
        seed_input: One input without the batch axis, or a batch of them
            (then one map per sample, each normalised on its own).
        penultimate_layer: The layer whose feature maps are weighed, usually
            the last convolution or pooling layer (1-D, 2-D or 3-D).
        grad_modifier: A name from `vis.grad_modifiers`, a callable, or None.
        keep_batch_axis: Always return a batch axis, also for one sample.

    Returns:
        A float32 map in [0, 1] of the seed's spatial shape; with a batch
        axis for a batch of two or more seeds (or `keep_batch_axis`).

    Raises:
        TypeError: If `penultimate_layer` is not a Keras layer.
        ValueError: For a seed of the wrong shape, an unknown `grad_modifier`,
            or a penultimate layer without spatial axes.
    """
    if not isinstance(penultimate_layer, keras.layers.Layer):
        raise TypeError(
            f"`penultimate_layer` must be a Keras layer. Received: penultimate_layer={penultimate_layer!r}"
        )
    inputs = common.as_input_list(input_tensor)
    return class_activation_maps(
        inputs,
        losses,
        seed_input,
        penultimate_layer,
        grad_modifier=grad_modifier,
        keep_batch_axis=keep_batch_axis,
    )


def visualize_cam(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    penultimate_layer_idx=None,
    backprop_modifier=None,
    grad_modifier=None,
    keep_batch_axis: bool = False,
) -> np.ndarray:
    """Returns the grad-CAM map: where in the input the chosen filters find evidence.

    The gradient of the score with respect to the penultimate layer's feature
    maps `A_k`, averaged over space, weighs each channel: the map is
    `relu(sum_k w_k A_k)`, resized to the input and normalised (Selvaraju et
    al. 2017; see `vis.visualization.cam_weighting.grad_cam_weights`).

    Args:
        model: A Keras model (Functional or Sequential, possibly with nested models).
        layer_idx: Index into `model.layers` (negative allowed), a layer name
            (also inside a nested model), a path `'nested_model/layer'` or a layer.
        filter_indices: Output unit (Dense) or channel (Conv): an int, a list
            of ints, or None for all of them.
        seed_input: One input without the batch axis (or with a batch axis of
            size 1), or a batch of them; for a model with several inputs, a
            list in `model.inputs` order or a dict by input name.
        penultimate_layer_idx: The layer whose feature maps are weighed: an
            index into `model.layers`, a layer name, a layer object, a path
            `'nested_model/layer'`, or None for the nearest convolution or
            pooling layer before `layer_idx` (looking through wrappers such as
            `TimeDistributed` and into nested models).
        backprop_modifier: 'guided', 'rectified' (alias 'relu', 'deconv'), a
            callable `model -> model`, or None.
        grad_modifier: A name from `vis.grad_modifiers`, a callable, or None.
        keep_batch_axis: Always return a batch axis, also for one sample.

    Returns:
        A float32 map in [0, 1] of the seed's spatial shape; a batch of maps
        for a batch of two or more seeds (or `keep_batch_axis`).

    Raises:
        ValueError: For an unknown layer, no convolution or pooling layer
            before `layer_idx`, a penultimate layer after `layer_idx`, an
            out-of-range filter index, a bad seed or an unknown modifier.
        TypeError: For arguments of the wrong type.
    """
    return model_cam(
        "gradcam",
        model,
        layer_idx,
        filter_indices,
        seed_input,
        penultimate_layer_idx,
        backprop_modifier,
        grad_modifier,
        keep_batch_axis,
    )


def visualize_cam_plus_plus(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    penultimate_layer_idx=None,
    backprop_modifier=None,
    grad_modifier=None,
    keep_batch_axis: bool = False,
) -> np.ndarray:
    """Returns the grad-CAM++ map (Chattopadhyay et al. 2018): grad-CAM with pixel-wise weights.

    Each channel's weight is `sum_ij alpha_ij relu(dY/dA_ij)` for
    `Y = exp(score)`, with the paper's closed-form `alpha`, computed in a form
    in which `exp(score)` cancels, so logits of any size give finite maps (see
    `vis.visualization.cam_weighting.grad_cam_plus_plus_weights`). Maps of
    several objects of one class come out more complete than grad-CAM's.

    Args:
        model: A Keras model (Functional or Sequential, possibly with nested models).
        layer_idx: The visualised layer, as for `visualize_cam`.
        filter_indices: An int, a list of ints, or None for all filters.
        seed_input: One input, or a batch of them (one map per sample).
        penultimate_layer_idx: The layer whose feature maps are weighed, or
            None to search for it, as for `visualize_cam`.
        backprop_modifier: 'guided', 'rectified', a callable `model -> model`, or None.
        grad_modifier: A name from `vis.grad_modifiers`, a callable, or None.
        keep_batch_axis: Always return a batch axis, also for one sample.

    Returns:
        A float32 map in [0, 1] of the seed's spatial shape (a batch of maps for a batch).

    Raises:
        ValueError: As `visualize_cam` does.
        TypeError: For arguments of the wrong type.
    """
    return model_cam(
        "gradcam++",
        model,
        layer_idx,
        filter_indices,
        seed_input,
        penultimate_layer_idx,
        backprop_modifier,
        grad_modifier,
        keep_batch_axis,
    )


def visualize_layer_cam(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    penultimate_layer_idx=None,
    backprop_modifier=None,
    grad_modifier=None,
    keep_batch_axis: bool = False,
) -> np.ndarray:
    """Returns the LayerCAM map (Jiang et al. 2021): `relu(sum_k relu(dS/dA_k) * A_k)`, elementwise.

    Each position of each feature map is weighed by its own positive gradient
    instead of a channel average, which keeps fine detail and gives useful
    maps from earlier, higher-resolution layers too.

    Args:
        model: A Keras model (Functional or Sequential, possibly with nested models).
        layer_idx: The visualised layer, as for `visualize_cam`.
        filter_indices: An int, a list of ints, or None for all filters.
        seed_input: One input, or a batch of them (one map per sample).
        penultimate_layer_idx: The layer whose feature maps are weighed, or
            None to search for it, as for `visualize_cam`.
        backprop_modifier: 'guided', 'rectified', a callable `model -> model`, or None.
        grad_modifier: Applied to `dS/dA` before its positive part is taken.
        keep_batch_axis: Always return a batch axis, also for one sample.

    Returns:
        A float32 map in [0, 1] of the seed's spatial shape (a batch of maps for a batch).

    Raises:
        ValueError: As `visualize_cam` does.
        TypeError: For arguments of the wrong type.
    """
    return model_cam(
        "layercam",
        model,
        layer_idx,
        filter_indices,
        seed_input,
        penultimate_layer_idx,
        backprop_modifier,
        grad_modifier,
        keep_batch_axis,
    )


def visualize_guided_cam(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    penultimate_layer_idx=None,
    backprop_modifier="guided",
    grad_modifier=None,
    keep_batch_axis: bool = False,
) -> np.ndarray:
    """Returns guided grad-CAM (Selvaraju et al. 2017): guided saliency times the upsampled grad-CAM map.

    The product of `visualize_saliency(..., backprop_modifier=backprop_modifier)`
    (absolute gradient, max over channels, normalised) and `visualize_cam`
    (plain backprop) keeps the fine detail of guided backprop inside the
    regions grad-CAM selects; it is normalised again to [0, 1].

    Args:
        model: A Keras model (Functional or Sequential, possibly with nested models).
        layer_idx: Index into `model.layers`, a layer name or path, or a layer.
        filter_indices: Output unit (Dense) or channel (Conv): an int, a list
            of ints, or None for all of them.
        seed_input: One input without the batch axis (or with a batch axis of
            size 1), or a batch of them.
        penultimate_layer_idx: The grad-CAM layer, as for `visualize_cam`.
        backprop_modifier: The modifier of the saliency part: 'guided' (the
            paper's guided grad-CAM), 'rectified' (its deconvolution variant),
            a callable `model -> model`, or None.
        grad_modifier: Applied to the grad-CAM gradient, as in `visualize_cam`.
        keep_batch_axis: Always return a batch axis, also for one sample.

    Returns:
        A float32 map in [0, 1] of the seed's spatial shape.

    Raises:
        ValueError: As `visualize_cam` and `visualize_saliency` do.
        TypeError: For arguments of the wrong type.
    """
    arguments = (model, layer_idx, filter_indices, seed_input)
    cam = visualize_cam(*arguments, penultimate_layer_idx, grad_modifier=grad_modifier, keep_batch_axis=True)
    saliency = visualize_saliency(*arguments, backprop_modifier=backprop_modifier, keep_batch_axis=True)
    if isinstance(saliency, dict):
        saliency = list(saliency.values())
    # For several inputs, the saliency of the input the grad-CAM map is drawn on.
    saliency = next(
        m for m in (saliency if isinstance(saliency, list) else [saliency]) if m.shape == cam.shape
    )
    product = common.normalize_each(saliency * cam)
    return product[0] if product.shape[0] == 1 and not keep_batch_axis else product
