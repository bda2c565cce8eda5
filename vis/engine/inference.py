"""Inference mode for every layer the engine calls, including layers that apply themselves.

Keras resolves a layer's `training` flag from, in order: the argument passed
to it, the flag of the outer layer call in progress, and the default in the
layer's `call` signature. Random augmentation layers (`RandomFlip`,
`RandomRotation`, ...) default to `training=True`, so called without a flag
they transform their input on every call, and a map of such a model changes
from call to call. The engine passes `training=False` to every layer that
takes it, and runs inside an outer call context whose flag is False, so that
a custom layer's own sublayers (called without a flag) see False too.

A `keras.StatelessScope` around the run keeps everything else unchanged:
no variable is assigned (no moving statistics, no seed generator state) and
no activity-regularizer loss is added to the user's layers.
"""

from __future__ import annotations

import contextlib

import keras

try:  # Keras's call-context stack is private; without it, the explicit flags still apply.
    from keras.src.backend.common import global_state
    from keras.src.layers.layer import CallContext
except ImportError:  # pragma: no cover - other Keras versions
    global_state = CallContext = None

_CONTEXT = "current_call_ctx"


@contextlib.contextmanager
def mode():
    """Runs the enclosed layer calls in inference mode, without changing any state."""
    with keras.StatelessScope(), _inference_call_context():
        yield


@contextlib.contextmanager
def _inference_call_context():
    if global_state is None:
        yield
        return
    previous = global_state.get_global_attribute(_CONTEXT)
    context = CallContext(entry_layer=None)
    context.training = False
    global_state.set_global_attribute(_CONTEXT, context)
    try:
        yield
    finally:
        global_state.set_global_attribute(_CONTEXT, previous)
