"""The compiled loop behind `Optimizer.minimize` (see `vis.optimizer`).

Two ways to run the steps: fused, all of them inside one `tf.function`
(`tf.while_loop`) when nothing needs host values; or stepwise, two compiled
calls per step with the values fetched in between for the callbacks or the
grad modifier. Gradients come from `vis.engine`; no gradient tape here.
"""

from __future__ import annotations

import collections

import keras
import numpy as np
import tensorflow as tf

from vis import input_modifiers as modifiers_lib
from vis.engine import compile_method

_DECAY = 0.95  # keras-vis `_rmsprop` decay rate; its step has no learning rate.

Feed = collections.namedtuple("Feed", "x args weights seed")


class Loop:
    """Compiled pieces of the optimization loop for one program and modifier set."""

    def __init__(self, program, modifiers, norm_grads: bool, dtype) -> None:
        self.program, self.norm_grads, self.dtype = program, norm_grads, dtype
        in_graph = all(modifiers_lib.runs_in_graph(m) for m in modifiers)
        self.graph_mods = list(modifiers) if in_graph else []
        self.host_mods = [] if in_graph else list(modifiers)
        self.update_input = program.wrt_inputs is not None
        self.forward = compile_method(self._forward)
        self.update = compile_method(self._update)
        self.fused = compile_method(self._fused)

    def _forward(self, x, args, weights, seed, i):
        """Modifiers' `pre`, then the losses and the (normalised) gradients."""
        shape = x.shape
        for k, modifier in enumerate(self.graph_mods):
            x = _call(modifier.pre, x, _sub_seed(seed, i, 2 * k))
        x = tf.ensure_shape(tf.cast(x, tf.float32), shape)
        stacked, overall, grads, wrt = self.program.gradients([tf.cast(x, self.dtype)], args, weights)
        if isinstance(grads, (list, tuple)):
            grads, wrt = grads[0], wrt[0]
        grads = tf.cast(grads, tf.float32)
        if self.norm_grads:
            axes = list(range(1, grads.shape.rank))
            rms = tf.sqrt(tf.reduce_mean(tf.square(grads), axis=axes, keepdims=True))
            grads = grads / (rms + keras.config.epsilon())
        return x, weights[:, None] * stacked, overall, grads, wrt

    def _update(self, x, grads, cache, best_x, best_loss, overall, seed, i):
        """The RMSProp step, the modifiers' `post` and best-input tracking."""
        if self.update_input:
            cache = _DECAY * cache + (1.0 - _DECAY) * tf.square(grads)
            x = x - grads / tf.sqrt(cache + keras.config.epsilon())
        shape = x.shape
        for k, modifier in reversed(list(enumerate(self.graph_mods))):
            x = _call(modifier.post, x, _sub_seed(seed, i, 2 * k + 1))
        x = tf.ensure_shape(tf.cast(x, tf.float32), shape)
        if self.host_mods:
            return x, cache, best_x, best_loss
        return (x, cache, *track(x, overall, best_x, best_loss))

    def _fused(self, x, args, weights, max_iter, seed):
        """All steps in one `tf.while_loop`; returns the best input, last grads and wrt value."""
        batch = tf.shape(x)[0]
        state = (x, tf.zeros_like(x), x, tf.fill([batch], np.float32(np.inf)))

        def body(i, state, grads, wrt):
            x, cache, best_x, best_loss = state
            x, _, overall, grads, wrt = self._forward(x, args, weights, seed, i)
            return i + 1, self._update(x, grads, cache, best_x, best_loss, overall, seed, i), grads, wrt

        start = (tf.constant(0), state, tf.zeros([0]), tf.zeros([0], self._wrt_dtype()))
        invariants = (
            tf.TensorShape([]),
            tuple(t.shape for t in state),
            tf.TensorShape(None),
            tf.TensorShape(None),
        )
        _, state, grads, wrt = tf.while_loop(
            lambda i, *_: i < max_iter, body, start, shape_invariants=invariants
        )
        return state[2], grads, wrt

    def _wrt_dtype(self):
        if self.update_input:
            return self.dtype
        return tf.as_dtype(keras.backend.standardize_dtype(self.program.wrt_tensor.dtype))


def track(x, overall, best_x, best_loss) -> tuple:
    """Keeps, per sample, the input whose overall loss is the lowest so far."""
    better = overall < best_loss
    mask = tf.reshape(better, tf.concat([[-1], tf.ones([tf.rank(x) - 1], tf.int32)], 0))
    return tf.where(mask, x, best_x), tf.where(better, overall, best_loss)


def stepwise(loop: Loop, feed: Feed, max_iter: int, modify, callbacks: list, single: bool) -> tuple:
    """Runs the steps one by one, fetching values for the grad modifier and callbacks."""
    x = feed.x
    cache, best_x, best_loss = tf.zeros_like(x), x, tf.fill([tf.shape(x)[0]], np.float32(np.inf))
    for i in range(max_iter):
        step = tf.constant(i)
        for modifier in loop.host_mods:
            x = tf.convert_to_tensor(modifier.pre(np.array(x)), tf.float32)
        x, named, overall, grads, wrt = loop.forward(x, feed.args, feed.weights, feed.seed, step)
        if modify is not None:
            grads = _modified(modify, grads)
        if callbacks:
            values = _host_values(loop.program.loss_names, named, overall, single)
            for c in callbacks:
                c.callback(i, *values, np.array(grads), np.array(wrt))
        x, cache, best_x, best_loss = loop.update(
            x, grads, cache, best_x, best_loss, overall, feed.seed, step
        )
        if loop.host_mods:
            for modifier in reversed(loop.host_mods):
                x = tf.convert_to_tensor(modifier.post(np.array(x)), tf.float32)
            best_x, best_loss = track(x, overall, best_x, best_loss)
    return best_x, grads, wrt


def _modified(modify, grads):
    result = np.asarray(modify(np.array(grads)), dtype="float32")
    if result.shape != tuple(grads.shape):
        raise ValueError(
            f"`grad_modifier` must return an array of the gradients' shape {tuple(grads.shape)}. "
            f"Received: an array of shape {result.shape}"
        )
    return tf.convert_to_tensor(result)


def _host_values(names, named, overall, single: bool) -> tuple:
    named, overall = np.asarray(named), np.asarray(overall)
    if single:
        return [(n, float(v[0])) for n, v in zip(names, named)], float(overall[0])
    return [(n, v) for n, v in zip(names, named)], overall


def _call(method, x, seed):
    return method(x, seed=seed) if modifiers_lib.accepts_seed(method) else method(x)


def _sub_seed(seed, i, k):
    return tf.random.experimental.stateless_fold_in(tf.random.experimental.stateless_fold_in(seed, i), k)
