"""Compiling vis's traced code with `tf.function`."""

from __future__ import annotations

import tensorflow as tf


class _Traced:
    """Calls `method`; a distinct object per compiled function, so TensorFlow counts its traces apart.

    TensorFlow counts traces per function code object, and a bound method
    shares one across instances: after five programs, each traced once, it
    would warn "5 out of the last 5 calls ... triggered retracing".
    """

    def __init__(self, method) -> None:
        self.method = method

    def __call__(self, *args):
        return self.method(*args)


def compile_method(method, input_signature=None):
    """Compiles a bound method with `tf.function`: retracing reduced, no autograph.

    No autograph: no Python control flow depends on tensors in vis's compiled
    code, and autograph would write its converted code to temporary files.
    """
    return tf.function(
        _Traced(method), input_signature=input_signature, reduce_retracing=True, autograph=False
    )
