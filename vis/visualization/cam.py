"""Grad-CAM: one engine call, differentiating w.r.t. a convolution layer's output.

The map is computed as in keras-vis 0.5: the gradient of the weighted losses
with respect to the penultimate layer's feature maps `A_k` is scaled by a
positive constant for numerical stability, averaged over the spatial axes to
give one weight `w_k` per channel, and the map is `relu(sum_k w_k * A_k)`,
resized to the input's spatial size and min-max normalised.

Two choices differ from keras-vis, both documented on the functions:
the stabilising scale is `max(|grads|)` per sample (keras-vis divided by the
signed `max(grads)`, which flips the map when every gradient is negative),
and the resize is linear interpolation (`scipy.ndimage.zoom(order=1)`;
keras-vis used zoom's default cubic spline, whose overshoot below zero
lifts the background of the normalised map).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from scipy import ndimage

from vis import engine, grad_modifiers
from vis.losses import ActivationMaximization
from vis.utils.layers import channel_axis, flat_layers, get_layer, path_of, position
from vis.visualization import common
from vis.visualization.saliency import _modified


def _spatial_layer_types() -> tuple:
    """Convolution and (non-global) pooling classes: what keras-vis called `_Conv` and `_Pooling*`."""
    names = ["Conv", "ConvTranspose", "SeparableConv", "DepthwiseConv", "MaxPooling", "AveragePooling"]
    found = (getattr(keras.layers, f"{name}{n}D", None) for name in names for n in (1, 2, 3))
    public = tuple(cls for cls in found if cls is not None)
    try:  # The base classes also cover user subclasses; they live in Keras's private tree.
        from keras.src.layers.convolutional.base_conv import BaseConv
        from keras.src.layers.convolutional.base_conv_transpose import BaseConvTranspose
        from keras.src.layers.convolutional.base_depthwise_conv import BaseDepthwiseConv
        from keras.src.layers.convolutional.base_separable_conv import BaseSeparableConv
        from keras.src.layers.pooling.base_pooling import BasePooling
    except ImportError:
        return public
    return public + (BaseConv, BaseConvTranspose, BaseDepthwiseConv, BaseSeparableConv, BasePooling)


_SPATIAL_TYPES = _spatial_layer_types()


def _is_conv_or_pool(layer) -> bool:
    """True for a convolution or pooling layer, seen through wrappers such as TimeDistributed."""
    inner = getattr(layer, "layer", None) or getattr(layer, "forward_layer", None)
    if isinstance(layer, keras.layers.Layer) and isinstance(inner, keras.layers.Layer):
        layer = inner
    return isinstance(layer, _SPATIAL_TYPES)


def _find_penultimate_layer(model, layer_idx: int | str, penultimate_layer_idx=None):
    """Returns the layer whose feature maps grad-CAM weighs (keras-vis's helper of the same name).

    Args:
        model: A Keras model.
        layer_idx: The visualised layer: index into `model.layers`, name or layer object.
        penultimate_layer_idx: An index into `model.layers`, a layer name, a
            layer object, a path `'nested_model/layer'`, or None to search
            backwards from `layer_idx` for the nearest convolution or pooling
            layer (global pooling excluded), looking through wrappers such as
            `TimeDistributed` and into nested models. Unlike keras-vis, the
            layer right before `layer_idx` is searched too.

    Returns:
        The penultimate layer (inside a nested model when it lives there).

    Raises:
        ValueError: If no such layer exists before `layer_idx`, the given one
            is unknown, or it comes after `layer_idx`.
    """
    layer = get_layer(model, layer_idx)
    flat = flat_layers(model)
    end = position(flat, layer)
    if end is None:
        raise ValueError(
            f"Layer '{layer.name}' is not in model '{model.name}'. Received: layer_idx={layer_idx!r}"
        )
    if penultimate_layer_idx is None:
        found = next((c for c in reversed(flat[:end]) if _is_conv_or_pool(c)), None)
        if found is None:
            raise ValueError(
                f"There is no convolution or pooling layer before layer '{layer.name}' in model "
                f"'{model.name}' to take grad-CAM feature maps from. Pass `penultimate_layer_idx`. "
                f"Received: layer_idx={layer_idx!r}"
            )
        return found
    penultimate = get_layer(model, penultimate_layer_idx, "penultimate_layer_idx")
    if position(flat, penultimate) > end:
        raise ValueError(
            f"`penultimate_layer_idx` must be a layer at or before layer '{layer.name}', but layer "
            f"'{penultimate.name}' comes after it. Received: penultimate_layer_idx={penultimate_layer_idx!r}"
        )
    return penultimate


def _feature_channel_axis(layer, ndim: int) -> int:
    """Channel axis of the layer's output, counting the time axis a TimeDistributed wrapper adds."""
    if isinstance(layer, keras.layers.TimeDistributed):
        return 1 + _feature_channel_axis(layer.layer, ndim - 1)
    return channel_axis(layer, ndim)


def _weighted_maps(grads: np.ndarray, values: np.ndarray, axis: int) -> np.ndarray:
    """Per-sample `relu(sum_k w_k A_k)` with `w_k` the spatial mean of the scaled gradient."""
    grads = np.moveaxis(grads.astype("float64"), axis, -1)
    values = np.moveaxis(values.astype("float64"), axis, -1)
    spatial = tuple(range(1, grads.ndim - 1))
    scale = np.max(np.abs(grads), axis=(*spatial, -1), keepdims=True) + keras.backend.epsilon()
    weights = np.mean(grads / scale, axis=spatial, keepdims=True)
    return np.maximum(np.sum(weights * values, axis=-1), 0.0)


def _target_shape(seed_shape: tuple, map_ndim: int, axis: int, feature_ndim: int, layer, received) -> tuple:
    """The input's spatial shape: the seed's shape less the channel axis the feature maps have."""
    dims = list(seed_shape)
    if len(dims) == map_ndim + 1:
        del dims[axis - 1 if axis < feature_ndim - 1 else -1]
    if len(dims) != map_ndim or map_ndim == 0:
        raise ValueError(
            f"grad-CAM needs a penultimate layer with spatial axes matching the input's. Layer "
            f"'{layer.name}' outputs rank-{feature_ndim} feature maps; the input has shape "
            f"{tuple(seed_shape)}. Received: {received or f'penultimate_layer={layer.name!r}'}"
        )
    return tuple(dims)


def _resize(maps: np.ndarray, shape: tuple) -> np.ndarray:
    """Resizes each map by linear interpolation (`scipy.ndimage.zoom(order=1)`, corners aligned)."""
    if maps.shape[1:] == shape:
        return maps
    factors = [target / current for target, current in zip(shape, maps.shape[1:])]
    return np.stack([ndimage.zoom(m, factors, order=1) for m in maps])


def _grad_cam(
    inputs,
    losses,
    seed_input,
    penultimate_layer,
    grad_modifier,
    backprop_modifier=None,
    received=None,
    keep_batch_axis: bool = False,
):
    """Shared body of the grad-CAM functions (with an engine backprop modifier)."""
    modifier = grad_modifiers.get(grad_modifier)
    seeds = common.prepare_seeds(seed_input, inputs, keep_batch_axis)
    try:
        wrt_tensor = penultimate_layer.output
    except AttributeError:  # A layer inside a subclassed model has no symbolic output.
        raise ValueError(
            f"The penultimate layer '{penultimate_layer.name}' has no symbolic output: it lies inside a "
            "subclassed model, which has no graph of layers. Grad-CAM needs a Functional or Sequential "
            f"model. Received: penultimate_layer={penultimate_layer!r}"
        ) from None
    result = engine.compute(
        inputs, losses, seeds.batches, wrt_tensor=wrt_tensor, backprop_modifier=backprop_modifier
    )
    grads, values = result.grads, result.wrt_value
    if modifier is not None:
        grads = modifier(grads)
    axis = _feature_channel_axis(penultimate_layer, grads.ndim)
    maps = _weighted_maps(np.asarray(grads), np.asarray(values), axis)
    shape = _input_shape(seeds.batches, maps.ndim - 1, axis, grads.ndim, penultimate_layer, received)
    return seeds.one(common.normalize_each(_resize(maps, shape)))


def _input_shape(batches: list, map_ndim: int, axis: int, feature_ndim: int, layer, received) -> tuple:
    """The spatial shape of the (first) input whose rank fits the feature maps: the map's size."""
    errors = []
    for batch in batches:
        try:
            return _target_shape(batch.shape[1:], map_ndim, axis, feature_ndim, layer, received)
        except ValueError as error:
            errors.append(error)
    raise errors[0]


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
    return _grad_cam(
        inputs, losses, seed_input, penultimate_layer, grad_modifier, keep_batch_axis=keep_batch_axis
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
        A float32 map in [0, 1] of the seed's spatial shape.

    Raises:
        ValueError: For an unknown layer, no convolution or pooling layer
            before `layer_idx`, a penultimate layer after `layer_idx`, an
            out-of-range filter index, a bad seed or an unknown modifier.
        TypeError: For arguments of the wrong type.
    """
    penultimate = _find_penultimate_layer(model, layer_idx, penultimate_layer_idx)
    modified, layer, _, modifier = _modified(model, layer_idx, None, backprop_modifier)
    if modified is not model:  # A user callable returned a new model: find the same layer there by path.
        penultimate = get_layer(modified, path_of(model, penultimate), "penultimate_layer_idx")
    common.warn_if_softmax(layer)
    losses = [(ActivationMaximization(layer, filter_indices), -1)]
    inputs = common.model_inputs(modified)
    received = f"penultimate_layer_idx={penultimate_layer_idx!r}"
    return _grad_cam(
        inputs, losses, seed_input, penultimate, grad_modifier, modifier, received, keep_batch_axis
    )
