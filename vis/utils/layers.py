"""Finding layers and their axes, with keras-vis conventions."""

from __future__ import annotations

import keras


def channel_axis(layer, ndim: int) -> int:
    """Returns the channel axis of a layer's output of rank `ndim`.

    Layers with a `data_format` attribute (Conv, Pooling) say where their
    channels are; for others the global `keras.config.image_data_format()`
    decides. Rank-2 outputs (Dense) have their units on the last axis.
    """
    if ndim <= 2:
        return ndim - 1
    data_format = getattr(layer, "data_format", None) or keras.config.image_data_format()
    return 1 if data_format == "channels_first" else ndim - 1


def check_model(model) -> None:
    """Raises a `TypeError` unless `model` is a Keras model."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a Keras model (load a saved one with `keras.models.load_model`). "
            f"Received: model={model!r} of type {type(model).__name__}"
        )


def get_layer(model, layer_idx):
    """Returns `model.layers[layer_idx]`, accepting a layer name or object too.

    Args:
        model: A Keras model.
        layer_idx: An int index into `model.layers` (negative allowed), a
            layer name, or a layer object of the model.

    Raises:
        ValueError: If the index is out of range or no layer has that name.
        TypeError: If `model` is not a Keras model or `layer_idx` is of another type.
    """
    check_model(model)
    layers = model.layers
    if isinstance(layer_idx, keras.layers.Layer):
        return layer_idx
    if isinstance(layer_idx, str):
        for layer in layers:
            if layer.name == layer_idx:
                return layer
        names = ", ".join(repr(layer.name) for layer in layers)
        raise ValueError(
            f"No layer named {layer_idx!r} in model '{model.name}'. "
            f"Layers: {names}. Received: layer_idx={layer_idx!r}"
        )
    if isinstance(layer_idx, bool) or not hasattr(layer_idx, "__index__"):
        raise TypeError(
            f"`layer_idx` must be an int or a layer name. Received: layer_idx={layer_idx!r} "
            f"of type {type(layer_idx).__name__}"
        )
    index = layer_idx.__index__()
    if not -len(layers) <= index < len(layers):
        raise ValueError(
            f"`layer_idx` is out of range for model '{model.name}' with {len(layers)} layers. "
            f"Received: layer_idx={layer_idx!r}"
        )
    return layers[index]
