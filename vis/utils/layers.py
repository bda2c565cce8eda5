"""Finding layers and their axes, with keras-vis conventions."""

from __future__ import annotations

import difflib
import inspect
import os
import re
import warnings

import keras
import numpy as np

from vis.utils import legacy_names

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


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


def per_filter(layer, output) -> np.ndarray:
    """Averages a layer's output over its spatial axes: one value per filter, `(batch, filters)`."""
    output = np.asarray(output, dtype="float64")
    axis = channel_axis(layer, output.ndim)
    spatial = tuple(a for a in range(1, output.ndim) if a != axis)
    per = output.mean(axis=spatial) if spatial else output
    return per if per.ndim == 2 else per.reshape(len(per), -1)


def check_model(model) -> None:
    """Raises a `TypeError` unless `model` is a Keras model."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a Keras model (load a saved one with `keras.models.load_model`). "
            f"Received: model={model!r} of type {type(model).__name__}"
        )


def flat_layers(model) -> list:
    """The model's layers in order, each nested model's layers listed just before the model itself."""
    flat = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            flat.extend(flat_layers(layer))
        flat.append(layer)
    return flat


def position(flat: list, layer) -> int | None:
    """The index of `layer` (by identity) in a list of layers, or None."""
    return next((i for i, candidate in enumerate(flat) if candidate is layer), None)


def path_of(model, layer) -> str:
    """The `'nested_model/layer'` path of a layer of `model` or of its nested models."""
    for candidate in model.layers:
        if candidate is layer:
            return layer.name
        if isinstance(candidate, keras.Model) and position(flat_layers(candidate), layer) is not None:
            return f"{candidate.name}/{path_of(candidate, layer)}"
    raise ValueError(f"Layer '{layer.name}' is not in model '{model.name}'. Received: layer={layer!r}")


def _all_paths(model, prefix: str = "") -> list[str]:
    paths = []
    for layer in model.layers:
        paths.append(prefix + layer.name)
        if isinstance(layer, keras.Model):
            paths.extend(_all_paths(layer, f"{prefix}{layer.name}/"))
    return paths


def get_layer(model, layer_idx, argument: str = "layer_idx") -> keras.layers.Layer:
    """Returns the layer `layer_idx` names: an index, a name, a `'nested/inner'` path or a layer object.

    One lookup for every `layer_idx` and `penultimate_layer_idx`:

    - an int indexes `model.layers` (negative allowed), as in keras-vis;
    - a name is looked up in `model.layers` first, then inside nested models
      (transfer-learning bases) when it is unique there;
    - a path `'outer/inner'` walks nested models by name;
    - a layer object is accepted when it is a layer of the model or of a nested model.

    Args:
        model: A Keras model.
        layer_idx: The index, name, path or layer.
        argument: The argument's name, for error messages.

    Raises:
        ValueError: If the index is out of range, no layer has that name (the
            message lists close matches) or the name is ambiguous.
        TypeError: If `model` is not a Keras model or `layer_idx` is of another type.
    """
    check_model(model)
    if isinstance(layer_idx, keras.layers.Layer):
        if position(flat_layers(model), layer_idx) is None:
            raise ValueError(
                f"Layer '{layer_idx.name}' is not a layer of model '{model.name}' nor of its nested models. "
                f"Received: {argument}={layer_idx!r}"
            )
        return layer_idx
    if isinstance(layer_idx, str):
        return _by_name(model, layer_idx, argument)
    if isinstance(layer_idx, bool) or not hasattr(layer_idx, "__index__"):
        raise TypeError(
            f"`{argument}` must be an int, a layer name or a layer. Received: {argument}={layer_idx!r} "
            f"of type {type(layer_idx).__name__}"
        )
    layers, index = model.layers, layer_idx.__index__()
    if not -len(layers) <= index < len(layers):
        raise ValueError(
            f"`{argument}` is out of range for model '{model.name}' with {len(layers)} layers. "
            f"Received: {argument}={layer_idx!r}"
        )
    return layers[index]


def _by_name(model, name: str, argument: str):
    matches = _matches(model, name)
    if not matches:
        renamed = legacy_names.resolve(name, {layer.name for layer in flat_layers(model)})
        if renamed is not None:
            _warn_renamed(name, *renamed, argument)
            matches = _matches(model, renamed[0])
    if len(matches) == 1:
        return matches[0]
    if matches:
        paths = ", ".join(repr(path_of(model, m)) for m in matches)
        raise ValueError(
            f"{len(matches)} layers named {name!r} live in the nested models of model '{model.name}': "
            f"give a path, one of {paths}. Received: {argument}={name!r}"
        )
    raise ValueError(
        f"No layer named {name!r} in model '{model.name}' or its nested models.{not_found_hint(model, name)} "
        f"Received: {argument}={name!r}"
    )


def _matches(model, name: str) -> list:
    if "/" in name:
        layer = model
        for part in name.split("/"):
            found = [c for c in getattr(layer, "layers", []) if c.name == part]
            layer = found[0] if found else None
            if layer is None:
                return []
        return [layer]
    matches = [c for c in model.layers if c.name == name]
    return matches or [c for c in flat_layers(model) if c.name == name]


def not_found_hint(model, name: str) -> str:
    """The hint of a layer-not-found error: a few close matches, and what an old name became.

    Args:
        model: The Keras model searched.
        name: The name no layer has.

    Returns:
        A string starting with a space, or empty.
    """
    hint = ""
    close = difflib.get_close_matches(name, _all_paths(model), n=5, cutoff=0.6)
    if close:
        hint += f" Close matches: {', '.join(repr(c) for c in close)}."
    renamed = legacy_names.renamings(name)
    if renamed:
        by_new = {new: [a for a, n in renamed if n == new] for _, new in renamed}
        became = ", ".join(f"{new!r} in {' and '.join(archs)}" for new, archs in by_new.items())
        hint += f" {name!r} is a Keras 2 keras.applications name, now {became}: this model has no such layer."
    elif _is_numbered(name):
        hint += " Keras numbers unnamed layers in order of creation, so such names change between sessions."
    return hint


def _is_numbered(name: str) -> bool:
    """Whether `name` is a name Keras gives an unnamed layer, e.g. `'activation_49'` or `'conv2d_3'`."""
    match = re.fullmatch(r"(.+)_\d+", name.rpartition("/")[2])
    if match is None:
        return False
    for class_name, value in vars(keras.layers).items():
        if isinstance(value, type):  # Keras names a layer after its class: MaxPooling2D -> max_pooling2d.
            snake = re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name))
            if snake.lower() == match.group(1):
                return True
    return False


def _warn_renamed(old: str, new: str, architecture: str, argument: str) -> None:
    frame, stacklevel = inspect.currentframe(), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, stacklevel = frame.f_back, stacklevel + 1
    warnings.warn(
        f"Layer {old!r} is the Keras 2 name of the keras.applications {architecture} layer now named "
        f"{new!r}: using {new!r}. Pass {new!r} to silence this warning. Received: {argument}={old!r}",
        UserWarning,
        stacklevel=stacklevel,
    )
