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
from vis.utils.layers import channel_axis, get_layer
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


def _flat_layers(model) -> list:
    """The model's layers in order, each nested model's layers listed just before the model itself."""
    flat = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            flat.extend(_flat_layers(layer))
        flat.append(layer)
    return flat


def _position(flat: list, layer) -> int | None:
    return next((i for i, candidate in enumerate(flat) if candidate is layer), None)


def _resolve_penultimate(model, penultimate_layer_idx, flat: list):
    """Returns the layer named by an index, a name, a 'nested/inner' path or a layer object."""
    spec = penultimate_layer_idx
    if isinstance(spec, str):
        if "/" in spec:
            layer = model
            for part in spec.split("/"):
                found = [c for c in getattr(layer, "layers", []) if c.name == part]
                layer = found[0] if found else None
                if layer is None:
                    break
            matches = [] if layer is None else [layer]
        else:
            top = [c for c in model.layers if c.name == spec]
            matches = top or [c for c in flat if c.name == spec]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ValueError(
                f"{len(matches)} layers named {spec!r} live in the nested models of model '{model.name}'; "
                f"give a path such as 'nested_model/{spec}'. Received: penultimate_layer_idx={spec!r}"
            )
        raise ValueError(
            f"No layer named {spec!r} in model '{model.name}' or its nested models. "
            f"Received: penultimate_layer_idx={spec!r}"
        )
    if isinstance(spec, keras.layers.Layer) and _position(flat, spec) is None:
        raise ValueError(
            f"Layer '{spec.name}' is not a layer of model '{model.name}' nor of its nested models. "
            f"Received: penultimate_layer_idx={spec!r}"
        )
    try:
        return get_layer(model, spec)
    except (ValueError, TypeError) as error:
        message = str(error).replace("layer_idx=", "penultimate_layer_idx=")
        message = message.replace("`layer_idx`", "`penultimate_layer_idx`")
        raise type(error)(message) from None


def _path_of(model, layer) -> str:
    """The 'nested_model/layer' path of a layer of `model` or of its nested models."""
    for candidate in model.layers:
        if candidate is layer:
            return layer.name
        if isinstance(candidate, keras.Model) and _position(_flat_layers(candidate), layer) is not None:
            return f"{candidate.name}/{_path_of(candidate, layer)}"
    raise ValueError(f"Layer '{layer.name}' is not in model '{model.name}'. Received: layer={layer!r}")


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
    flat = _flat_layers(model)
    end = _position(flat, layer)
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
    penultimate = _resolve_penultimate(model, penultimate_layer_idx, flat)
    if _position(flat, penultimate) > end:
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
    inputs, losses, seed_input, penultimate_layer, grad_modifier, backprop_modifier=None, received=None
):
    """Shared body of the grad-CAM functions (with an engine backprop modifier)."""
    modifier = grad_modifiers.get(grad_modifier)
    seed, added = common.prepare_seed(seed_input, inputs[0])
    try:
        wrt_tensor = penultimate_layer.output
    except AttributeError:  # A layer inside a subclassed model has no symbolic output.
        raise ValueError(
            f"The penultimate layer '{penultimate_layer.name}' has no symbolic output: it lies inside a "
            "subclassed model, which has no graph of layers. Grad-CAM needs a Functional or Sequential "
            f"model. Received: penultimate_layer={penultimate_layer!r}"
        ) from None
    result = engine.compute(inputs, losses, seed, wrt_tensor=wrt_tensor, backprop_modifier=backprop_modifier)
    grads, values = result.grads, result.wrt_value
    if modifier is not None:
        grads = modifier(grads)
    axis = _feature_channel_axis(penultimate_layer, grads.ndim)
    maps = _weighted_maps(np.asarray(grads), np.asarray(values), axis)
    shape = _target_shape(seed.shape[1:], maps.ndim - 1, axis, grads.ndim, penultimate_layer, received)
    maps = common.normalize_each(_resize(maps, shape))
    return maps[0] if added else maps


def visualize_cam_with_losses(
    input_tensor,
    losses: list,
    seed_input,
    penultimate_layer,
    grad_modifier=None,
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

    Returns:
        A float32 map in [0, 1] of the seed's spatial shape; with a batch
        axis when `seed_input` had one.

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
    return _grad_cam(inputs, losses, seed_input, penultimate_layer, grad_modifier)


def visualize_cam(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    penultimate_layer_idx=None,
    backprop_modifier=None,
    grad_modifier=None,
) -> np.ndarray:
    """Returns the grad-CAM map: where in the input the chosen filters find evidence.

    Args:
        model: A Keras model (Functional or Sequential, possibly with nested models).
        layer_idx: Index into `model.layers` (negative allowed) or a layer name.
        filter_indices: Output unit (Dense) or channel (Conv): an int, a list
            of ints, or None for all of them.
        seed_input: One input without the batch axis, or a batch of them.
        penultimate_layer_idx: The layer whose feature maps are weighed: an
            index into `model.layers`, a layer name, a layer object, a path
            `'nested_model/layer'`, or None for the nearest convolution or
            pooling layer before `layer_idx` (looking through wrappers such as
            `TimeDistributed` and into nested models).
        backprop_modifier: 'guided', 'rectified' (alias 'relu', 'deconv'), a
            callable `model -> model`, or None.
        grad_modifier: A name from `vis.grad_modifiers`, a callable, or None.

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
        path = _path_of(model, penultimate)
        penultimate = _resolve_penultimate(modified, path, _flat_layers(modified))
    common.warn_if_softmax(layer)
    losses = [(ActivationMaximization(layer, filter_indices), -1)]
    inputs = common.model_inputs(modified)
    received = f"penultimate_layer_idx={penultimate_layer_idx!r}"
    return _grad_cam(inputs, losses, seed_input, penultimate, grad_modifier, modifier, received)
