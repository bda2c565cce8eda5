"""What a manifest entry says about a model, measured on the model itself (not declared)."""

from __future__ import annotations

import keras

# Convolution and (non-global) pooling layers: what grad-CAM's automatic search looks for.
_SPATIAL = tuple(
    getattr(keras.layers, f"{kind}{n}D")
    for kind in ["Conv", "ConvTranspose", "SeparableConv", "DepthwiseConv", "MaxPooling", "AveragePooling"]
    for n in (1, 2, 3)
    if hasattr(keras.layers, f"{kind}{n}D")
)


def all_layers(model) -> list:
    """Every layer, nested models' layers included (each nested model after its own layers)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(all_layers(layer))
        found.append(layer)
    return found


def flat_paths(model, prefix: str = "") -> list[tuple[str, object]]:
    """`(path, layer)` in order, a nested model's layers (as 'outer/inner') listed before the model."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(flat_paths(layer, f"{prefix}{layer.name}/"))
        found.append((prefix + layer.name, layer))
    return found


def rectifier_bound(layer):
    """What guided backprop modifies: None for a ReLU, its upper bound for a ReLU6, False otherwise.

    ReLUs: `activation='relu'`, `Activation('relu')`, plain `ReLU()`; ReLU6s: `activation='relu6'`,
    `ReLU(max_value=m)` (MobileNet's). Leaky or thresholded ReLUs are not modified.
    """
    if isinstance(layer, keras.layers.ReLU):
        if layer.negative_slope or layer.threshold:
            return False
        return None if layer.max_value is None else float(layer.max_value)
    name = getattr(getattr(layer, "activation", None), "__name__", "")
    return {"relu": None, "relu6": 6.0}.get(name, False)


def is_plain_relu(layer) -> bool:
    """A rectifier guided backprop modifies (a ReLU or a ReLU6, see `rectifier_bound`)."""
    return rectifier_bound(layer) is not False


def is_softmax(layer) -> bool:
    return isinstance(layer, keras.layers.Softmax) or (
        getattr(getattr(layer, "activation", None), "__name__", "") == "softmax"
    )


def auto_penultimate(model, layer_name: str) -> str | None:
    """The path of the nearest convolution or pooling layer before the visualised one, or None."""
    paths = flat_paths(model)
    end = next(i for i, (path, _) in enumerate(paths) if path == layer_name)
    return next((path for path, layer in reversed(paths[:end]) if isinstance(layer, _SPATIAL)), None)


def _has_operators(model) -> bool:
    """Whether the graph (nested models' too) holds operations that are not layers (`x + y`)."""
    models = [model] + [layer for layer in all_layers(model) if isinstance(layer, keras.Model)]
    for m in models:
        if any(not isinstance(op, keras.layers.Layer) for op in getattr(m, "operations", [])):
            return True
    return False


def _flags(model) -> set:
    layers = all_layers(model)
    inputs = model.inputs
    integer = any("int" in keras.backend.standardize_dtype(t.dtype) for t in inputs)
    shape = tuple(inputs[0].shape)
    flags = {
        "integer": integer,
        "multi_input": len(inputs) > 1,
        "multi_output": len(model.outputs) > 1,
        "relu": any(is_plain_relu(layer) for layer in layers),
        "softmax": any(is_softmax(layer) for layer in model.layers),
        "random": any(type(layer).__name__.startswith("Random") for layer in layers),
        "nested": any(isinstance(layer, keras.Model) for layer in model.layers),
        "operators": _has_operators(model),
        "image": len(inputs) == 1 and len(shape) == 4 and shape[-1] in (1, 3) and not integer,
    }
    return {name for name, value in flags.items() if value}


def describe(model, info: dict) -> dict:
    """The manifest fields of a model: inputs, layers to use, measured flags."""
    layer = model.get_layer(info["layer"])
    softmax = [candidate.name for candidate in model.layers if is_softmax(candidate)]
    output_names = [t._keras_history[0].name for t in model.outputs]
    auto = auto_penultimate(model, info["layer"])
    flags = _flags(model) | ({"no_conv"} if auto is None else set())
    return {
        "inputs": [
            {
                "name": t._keras_history[0].name,
                "shape": list(t.shape[1:]),
                "dtype": keras.backend.standardize_dtype(t.dtype),
            }
            for t in model.inputs
        ],
        "batch_size": model.inputs[0].shape[0],
        "layer": layer.name,
        "last_layer": model.layers[-1].name,
        # The `vis` command's default layer: the one that makes the model's first output.
        "first_output_layer": model.outputs[0]._keras_history[0].name,
        "classes": int(layer.output.shape[-1]),
        "mid_layer": info["mid_layer"],
        "cam_layer": info["cam_layer"] or auto,
        "cam_auto": auto,
        "softmax_layer": softmax[-1] if softmax else None,
        "softmax_output": output_names.index(softmax[-1]) if softmax and softmax[-1] in output_names else 0,
        "embedding": info.get("embedding"),
        "input_range": list(info["input_range"]),
        "params": model.count_params(),
        "layers": len(all_layers(model)),
        "flags": sorted(flags),
    }
