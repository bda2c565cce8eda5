"""Backprop modifiers: ReLUs whose gradient is changed (guided, rectified).

A modifier is a policy `layer -> stand-in callable or None` that the engine
applies to every layer it runs (`vis.engine.plan`): ReLUs and ReLU6s wherever
they live (`activation='relu'` on Dense/Conv layers, `Activation('relu6')`,
`keras.layers.ReLU`, inside nested models) get a `tf.custom_gradient`; other
activations are left alone. The user's layers are reused, never changed:
a stand-in runs the layer's own `call` with a proxy whose `activation` is the
modified ReLU, so weights are shared and no copy goes stale.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import keras
import tensorflow as tf


def _rectifier(keep):
    """A ReLU (ReLU6 with `max_value`) whose gradient is `dy * keep(dy, x, max_value)`."""

    def apply(x, max_value=None):
        @tf.custom_gradient
        def forward(x):
            y = tf.nn.relu(x) if max_value is None else tf.clip_by_value(x, 0, tf.cast(max_value, x.dtype))

            def backward(dy):
                return dy * tf.cast(keep(dy, x, max_value), dy.dtype)

            return y, backward

        return forward(x)

    return apply


def _guided_mask(dy, x, max_value):
    active = x > 0 if max_value is None else (x > 0) & (x < tf.cast(max_value, x.dtype))
    return (dy > 0) & active


def _rectified_mask(dy, x, max_value):
    return dy > 0


_guided_relu = _rectifier(_guided_mask)
_rectified_relu = _rectifier(_rectified_mask)


class _ActivationProxy:
    """Looks like `layer` to its own `call`, except for `activation`."""

    def __init__(self, layer, activation) -> None:
        object.__setattr__(self, "_layer", layer)
        object.__setattr__(self, "activation", activation)

    def __getattr__(self, name):
        return getattr(self._layer, name)


def _relu_bound(function):
    """`None` for `relu`, 6.0 for `relu6`, False for any other activation function."""
    name = getattr(function, "__name__", "")
    if function is keras.activations.relu or name == "relu":
        return None
    if name == "relu6":
        return 6.0
    return False


def _is_plain_relu_layer(layer) -> bool:
    """A `ReLU` layer with no negative slope or threshold (a `max_value`, as in ReLU6, is fine)."""
    return isinstance(layer, keras.layers.ReLU) and not layer.negative_slope and not layer.threshold


def _has_relu(layer) -> bool:
    return _is_plain_relu_layer(layer) or _relu_bound(getattr(layer, "activation", None)) is not False


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
        relu_fn = self.relu_fn
        if _is_plain_relu_layer(layer):
            bound = layer.max_value

            def function(inputs):
                return relu_fn(inputs, bound)

        elif _relu_bound(getattr(layer, "activation", None)) is not False:
            bound = _relu_bound(layer.activation)
            proxy = _ActivationProxy(layer, lambda x: relu_fn(x, bound))
            call = type(layer).call

            def function(inputs):
                with _autocast(layer):
                    return call(proxy, inputs)

        else:
            return None
        return keras.layers.Lambda(function, name=f"{layer.name}_{self.name}", dtype=layer.dtype_policy)

    def __repr__(self) -> str:
        return f"<backprop modifier {self.name!r}>"


guided = _ReluPolicy("guided", _guided_relu)
"""Guided backprop: a ReLU passes the gradient back only where the gradient and its input are positive.

A ReLU6 (MobileNet's `relu6`, `ReLU(max_value=6)`) is a rectifier too: it
passes the gradient back where the gradient is positive and it is active
(0 < x < 6), its own gradient mask. Other activations (leaky ReLU, ELU,
GELU, swish, sigmoid) keep their gradient; a model without any rectifier
gets a `UserWarning`, since its guided map equals the plain one.
"""

rectified = _ReluPolicy("rectified", _rectified_relu)
"""Rectified backprop (deconvnet): a ReLU (or ReLU6) passes the gradient back only where it is positive."""

_BACKPROP_MODIFIERS = {"guided": guided, "rectified": rectified, "relu": rectified, "deconv": rectified}


def _autocast(layer):
    """The autocast scope `Layer.__call__` would open: a mixed-precision layer reads float32 weights
    as its compute dtype."""
    from keras.src.backend import AutocastScope

    if layer.compute_dtype != layer.variable_dtype:
        return AutocastScope(layer.compute_dtype)
    return contextlib.nullcontext()


def is_engine_modifier(modifier) -> bool:
    """Whether a modifier is a layer policy the engine applies (not a `model -> model` callable)."""
    return isinstance(modifier, _ReluPolicy)


def get(identifier) -> Callable:
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
