"""Convolution gradients that leave out the filter gradient when the tape does not need it.

TensorFlow's gradient of `Conv2D`, `DepthwiseConv2dNative`, `Conv3D`,
`Conv2DBackpropInput` and `Conv3DBackpropInputV2` (the forward passes of
`Conv2DTranspose` and `Conv3DTranspose`) always builds
both the input gradient and the filter gradient, even when the tape says the
filter is not needed (`op.skip_input_indices`): vis differentiates w.r.t. the
inputs or a layer's output and never w.r.t. weights, so on MobileNetV2 an
eager saliency call computed 52 filter gradients it threw away (and a trace
built them for Grappler to prune). Within `input_gradients_only()` the
registered gradients of those operations are wrappers that build the input
gradient alone when the filter's is skipped, with the very operation and
attributes TensorFlow's own gradient uses, and defer to TensorFlow's
gradient otherwise. The results are the same for every caller, so the
wrappers may serve another thread's tape meanwhile; the originals are back
when the last block (of any thread) ends.

TensorFlow has no public handle on its gradient registry: if its private
layout changes, the block changes nothing and the gradients stay
TensorFlow's own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import tensorflow as tf

try:  # The registry behind `tf.RegisterGradient`.
    from tensorflow.python.framework import ops as _tf_ops
    from tensorflow.python.framework import registry as _tf_registry

    _ENTRIES = _tf_ops._gradient_registry._registry
    _TYPE = _tf_registry._TYPE_TAG
except (ImportError, AttributeError):  # pragma: no cover - another TensorFlow layout
    _ENTRIES, _TYPE = {}, None

_FILTER = 1  # The filter (kernel) is input 1 of all these operations.


def _backprop_input(backprop):
    """An input gradient that is the backprop of a convolution's data input (operation input 0)."""

    def build(op, grad, attrs):
        return backprop(input_sizes=tf.shape(op.inputs[0]), filter=op.inputs[1], out_backprop=grad, **attrs)

    return build


def _transposed_input(forward):
    """The gradient of a transposed convolution's data input (input 2) is the forward convolution."""

    def build(op, grad, attrs):
        return forward(input=grad, filter=op.inputs[1], **attrs)

    return build


_ATTRS_2D = ("strides", "padding", "explicit_paddings", "data_format", "dilations")
_ATTRS_3D = ("strides", "padding", "data_format", "dilations")
# Forward operation -> (index of its data input, the builder of that input's gradient,
# the attributes passed on as they are).
_INPUT_GRADIENTS = {
    "Conv2D": (0, _backprop_input(tf.raw_ops.Conv2DBackpropInput), (*_ATTRS_2D, "use_cudnn_on_gpu")),
    "DepthwiseConv2dNative": (0, _backprop_input(tf.raw_ops.DepthwiseConv2dNativeBackpropInput), _ATTRS_2D),
    "Conv3D": (0, _backprop_input(tf.raw_ops.Conv3DBackpropInputV2), _ATTRS_3D),
    # The forward passes of Conv2DTranspose and Conv3DTranspose.
    "Conv2DBackpropInput": (2, _transposed_input(tf.raw_ops.Conv2D), (*_ATTRS_2D, "use_cudnn_on_gpu")),
    "Conv3DBackpropInputV2": (2, _transposed_input(tf.raw_ops.Conv3D), _ATTRS_3D),
}


def _input_gradient(op, grad) -> list:
    """The gradients of `op`'s inputs with only the data input's built, as TensorFlow builds it."""
    data, build, attrs = _INPUT_GRADIENTS[op.type]
    values = {name: op.get_attr(name) for name in attrs}
    values = {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}
    grads = [None] * len(op.inputs)
    grads[data] = build(op, grad, values)
    return grads


def _input_only(original):
    """The gradient function that skips the filter's gradient when the tape skips it."""

    def gradient(op, grad):
        skipped = getattr(op, "skip_input_indices", None)  # Set by tapes; graph `tf.gradients` has none.
        data = _INPUT_GRADIENTS[op.type][0]
        if skipped is None or _FILTER not in skipped or data in skipped:
            return original(op, grad)
        return _input_gradient(op, grad)

    return gradient


_LOCK = threading.Lock()
_STATE = {"depth": 0, "saved": {}}


@contextlib.contextmanager
def input_gradients_only() -> Iterator[None]:
    """Within the block, convolution gradients build no filter gradient a tape does not need."""
    with _LOCK:
        if _STATE["depth"] == 0:
            _install()
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                _restore()


def _install() -> None:
    for name in _INPUT_GRADIENTS:
        entry = _ENTRIES.get(name)
        if entry is not None and _TYPE in entry:
            _STATE["saved"][name] = entry[_TYPE]
            entry[_TYPE] = _input_only(entry[_TYPE])


def _restore() -> None:
    for name, original in _STATE["saved"].items():
        _ENTRIES[name][_TYPE] = original
    _STATE["saved"].clear()
