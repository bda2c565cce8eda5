"""Backprop modifiers: ReLUs whose gradient is changed (guided, rectified).

A modifier is a policy `layer -> stand-in callable or None` that the engine
applies while it rebuilds the graph (`vis.rebuild`): ReLUs wherever they live
(`activation='relu'` on Dense/Conv layers, `Activation('relu')`,
`keras.layers.ReLU`, inside nested models) get a `tf.custom_gradient`; other
activations are left alone. The user's layers are reused, never changed:
a stand-in runs the layer's own `call` with a proxy whose `activation` is the
modified ReLU, so weights are shared and no copy goes stale.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf


def _guided_relu(x):
    @tf.custom_gradient
    def forward(x):
        y = tf.nn.relu(x)

        def backward(dy):
            return dy * tf.cast(dy > 0, dy.dtype) * tf.cast(x > 0, dy.dtype)

        return y, backward

    return forward(x)


def _rectified_relu(x):
    @tf.custom_gradient
    def forward(x):
        def backward(dy):
            return dy * tf.cast(dy > 0, dy.dtype)

        return tf.nn.relu(x), backward

    return forward(x)


class _ActivationProxy:
    """Looks like `layer` to its own `call`, except for `activation`."""

    def __init__(self, layer, activation) -> None:
        object.__setattr__(self, "_layer", layer)
        object.__setattr__(self, "activation", activation)

    def __getattr__(self, name):
        return getattr(self._layer, name)


def _is_relu(function) -> bool:
    return function is keras.activations.relu or getattr(function, "__name__", "") == "relu"


def _is_plain_relu_layer(layer) -> bool:
    return (
        isinstance(layer, keras.layers.ReLU)
        and not layer.negative_slope
        and layer.max_value is None
        and not layer.threshold
    )


def _has_relu(layer) -> bool:
    return _is_plain_relu_layer(layer) or _is_relu(getattr(layer, "activation", None))


def _refuse_opaque_relus(layer, name: str) -> None:
    """Raises for a layer whose own `call` runs ReLU sublayers the rebuild cannot reach.

    Functional and Sequential models are inlined before the policy sees their
    layers; a subclassed model or a custom layer with ReLU sublayers is
    opaque, and silently leaving its ReLUs alone would return a plain
    saliency map labelled guided.
    """
    inner = [sub for sub in layer._flatten_layers(include_self=False) if _has_relu(sub)]
    if inner:
        kind = "subclassed model" if isinstance(layer, keras.Model) else "custom layer"
        raise ValueError(
            f"backprop_modifier={name!r} cannot change the ReLUs inside {kind} '{layer.name}' "
            f"(for example '{inner[0].name}'): its `call` is Python code vis cannot re-run layer by "
            "layer. Build it as a Functional or Sequential model, or use backprop_modifier=None. "
            f"Received: backprop_modifier={name!r}"
        )


class _ReluPolicy:
    """Replaces every ReLU by `relu_fn`; the policy object is what the engine caches by."""

    def __init__(self, name: str, relu_fn: Callable) -> None:
        self.name = name
        self.relu_fn = relu_fn

    def __call__(self, layer):
        _refuse_opaque_relus(layer, self.name)
        if _is_plain_relu_layer(layer):
            function = self.relu_fn
        elif _is_relu(getattr(layer, "activation", None)):
            proxy, call = _ActivationProxy(layer, self.relu_fn), type(layer).call

            def function(inputs):
                return call(proxy, inputs)

        else:
            return None
        return keras.layers.Lambda(function, name=f"{layer.name}_{self.name}")

    def __repr__(self) -> str:
        return f"<backprop modifier {self.name!r}>"


guided = _ReluPolicy("guided", _guided_relu)
"""Guided backprop: a ReLU passes the gradient back only where the gradient and its input are positive."""

rectified = _ReluPolicy("rectified", _rectified_relu)
"""Rectified backprop (deconvnet): a ReLU passes the gradient back only where the gradient is positive."""

_BACKPROP_MODIFIERS = {"guided": guided, "rectified": rectified, "relu": rectified, "deconv": rectified}


def is_engine_modifier(modifier) -> bool:
    """Whether a modifier is a layer policy the engine applies (not a `model -> model` callable)."""
    return isinstance(modifier, _ReluPolicy)


def get(identifier):
    """Returns a backprop modifier by name ('guided', 'rectified', 'relu', 'deconv').

    Args:
        identifier: A name, a policy `layer -> callable or None` (returned
            as is), or None.

    Returns:
        The modifier, or None.

    Raises:
        ValueError: For an unknown name (the message lists the valid ones).
        TypeError: For any other type.
    """
    if identifier is None or isinstance(identifier, _ReluPolicy):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BACKPROP_MODIFIERS:
            valid = ", ".join(repr(name) for name in _BACKPROP_MODIFIERS)
            raise ValueError(
                f"Unknown backprop_modifier: {identifier!r}. Valid names: {valid}, or a callable "
                f"`model -> model`. Received: backprop_modifier={identifier!r}"
            )
        return _BACKPROP_MODIFIERS[identifier]
    if callable(identifier):
        return identifier
    raise TypeError(
        "`backprop_modifier` must be a name, a callable `model -> model` or None. "
        f"Received: backprop_modifier={identifier!r}"
    )
