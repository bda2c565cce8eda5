"""The compiled loop behind `Optimizer.minimize` (see `vis.optimizer`).

Two ways to run the steps: fused, inside a `tf.while_loop` in one
`tf.function`, a chunk of steps per call (Ctrl+C lands between two chunks),
when nothing needs host values; or stepwise, two compiled
calls per step with the values fetched in between for the callbacks or the
grad modifier. The input is a list of tensors, one per model input (a
multi-input model is optimized on all its inputs at once). Gradients come
from `vis.engine`; no gradient tape here.
"""

from __future__ import annotations

import collections
import time

import keras
import numpy as np
import tensorflow as tf

from vis import input_modifiers as modifiers_lib
from vis.engine import compile_method
from vis.featurevis.render import ADAM_LEARNING_RATE

_DECAY = 0.95  # keras-vis `_rmsprop` decay rate; its step has no learning rate.

_BETAS, _ADAM_EPSILON = (0.9, 0.999), 1e-8
_RENDER_FOLD = 1_000_003  # The fold of a step's seed the transformations draw from.

CHUNK_STEPS, CHUNK_SECONDS = 1000, 0.5  # Bounds of the fused loop's compiled calls (see `fused`).

Feed = collections.namedtuple("Feed", "x args weights seed")


class Loop:
    """Compiled pieces of the optimization loop for one program and modifier set.

    Input modifiers apply to the image inputs (a batch axis, spatial axes and
    channels: rank 3 or more); a vector input is left as it is.

    With a `renderer` (`vis.featurevis.Renderer`, one input) the loop
    optimizes its parameters instead of the input: each step renders them
    (parametrisation, colour, random transformations, then the modifiers'
    `pre`) inside the engine's gradient computation, and takes an Adam step
    (the modifiers' `post` does not apply: the parameters are no image).
    """

    def __init__(self, program, modifiers, norm_grads: bool, dtypes: list, renderer=None) -> None:
        self.program, self.norm_grads, self.dtypes = program, norm_grads, list(dtypes)
        self.renderer = renderer
        in_graph = all(modifiers_lib.runs_in_graph(m) for m in modifiers)
        self.graph_mods = list(modifiers) if in_graph else []
        self.host_mods = [] if in_graph else list(modifiers)
        self.updated = list(program.wrt_inputs or [])
        self.forward = compile_method(self._forward)
        self.update = compile_method(self._update)
        self.fused = compile_method(self._fused)

    def _forward(self, xs, args, weights, seed, i):
        """Modifiers' `pre`, then the losses and the (normalised) gradients."""
        if self.renderer is not None:
            return self._rendered_forward(xs, args, weights, seed, i)
        xs = [self._modify(x, k, seed, i, "pre") for k, x in enumerate(xs)]
        casted = [tf.cast(x, dtype) for x, dtype in zip(xs, self.dtypes)]
        stacked, overall, grads, wrt = self.program.gradients(casted, args, weights)
        grads = [_normalized(tf.cast(g, tf.float32), self.norm_grads) for g in _listed(grads)]
        wrt = [casted[k] for k in self.updated] if self.updated else _listed(wrt)  # The inputs' values.
        return xs, weights[:, None] * stacked, overall, grads, wrt

    def _rendered_forward(self, params, args, weights, seed, i):
        """The forward pass of the feature-visualization path: gradients w.r.t. the parameters."""

        def render(params):
            images = self.renderer(params[0], _sub_seed(seed, i, _RENDER_FOLD))
            return [tf.cast(self._modify(images, 0, seed, i, "pre"), self.dtypes[0])]

        stacked, overall, grads, _, rendered = self.program.gradients(params, args, weights, render)
        grads = [_normalized(tf.cast(g, tf.float32), self.norm_grads) for g in grads]
        return list(params), weights[:, None] * stacked, overall, grads, rendered

    def caches(self, xs: list) -> list:
        """The optimizer's starting state per input: RMSProp's mean square, or Adam's two moments."""
        return [tf.zeros_like(x) if self.renderer is None else tf.zeros_like(tf.stack([x, x])) for x in xs]

    def _update(self, xs, grads, caches, best_xs, best_loss, overall, seed, i):
        """The RMSProp (or Adam) step, the modifiers' `post` and best-input tracking."""
        xs, caches = list(xs), list(caches)
        for k, g in zip(self.updated, grads):
            if self.renderer is not None:
                xs[k], caches[k] = adam(xs[k], g, caches[k], i)
                continue
            caches[k] = _DECAY * caches[k] + (1.0 - _DECAY) * tf.square(g)
            xs[k] = xs[k] - g / tf.sqrt(caches[k] + keras.config.epsilon())
        if self.renderer is None:
            xs = [self._modify(x, k, seed, i, "post") for k, x in enumerate(xs)]
        if self.host_mods:
            return xs, caches, best_xs, best_loss
        return (xs, caches, *track(xs, overall, best_xs, best_loss))

    def _modify(self, x, k: int, seed, i, which: str):
        shape = x.shape
        if x.shape.rank >= 3:
            ordered = list(enumerate(self.graph_mods))
            for j, modifier in ordered if which == "pre" else reversed(ordered):
                sub = _sub_seed(seed, i, 2 * j + (which == "post"), k)
                x = _call(getattr(modifier, which), x, sub)
        return tf.ensure_shape(tf.cast(x, tf.float32), shape)

    def start(self, xs: list) -> tuple:
        """The loop's state before the first step: inputs, optimizer state, best inputs and losses."""
        xs = list(xs)
        return xs, self.caches(xs), list(xs), tf.fill([tf.shape(xs[0])[0]], np.float32(np.inf))

    def _fused(self, state, args, weights, first, stop, seed):
        """Steps `first` to `stop` in one `tf.while_loop`; returns the state, last grads and wrt values."""
        n = len(self.updated) if self.updated else 1

        def body(i, state, grads, wrt):
            xs, caches, best_xs, best_loss = state
            xs, _, overall, grads, wrt = self._forward(xs, args, weights, seed, i)
            return i + 1, self._update(xs, grads, caches, best_xs, best_loss, overall, seed, i), grads, wrt

        start = (first, state, [tf.zeros([0])] * n, [tf.zeros([0], d) for d in self._wrt_dtypes()])
        invariants = (
            tf.TensorShape([]),
            tf.nest.map_structure(lambda t: t.shape, state),
            [tf.TensorShape(None)] * n,
            [tf.TensorShape(None)] * len(start[3]),
        )
        _, state, grads, wrt = tf.while_loop(lambda i, *_: i < stop, body, start, shape_invariants=invariants)
        return state, grads, wrt

    def _wrt_dtypes(self) -> list:
        if self.updated:
            return [self.dtypes[k] for k in self.updated]
        return [tf.as_dtype(keras.backend.standardize_dtype(self.program.wrt_tensor.dtype))]


def adam(x, grad, moments, i, rate: float = ADAM_LEARNING_RATE):
    """One Adam step (Kingma and Ba, 2015) at step `i` (from 0): the new `x` and moments `(2, *x.shape)`."""
    first = _BETAS[0] * moments[0] + (1.0 - _BETAS[0]) * grad
    second = _BETAS[1] * moments[1] + (1.0 - _BETAS[1]) * tf.square(grad)
    t = tf.cast(i, tf.float32) + 1.0
    step = (first / (1.0 - _BETAS[0] ** t)) / (tf.sqrt(second / (1.0 - _BETAS[1] ** t)) + _ADAM_EPSILON)
    return x - rate * step, tf.stack([first, second])


def _listed(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _normalized(grads, norm_grads: bool):
    if not norm_grads:
        return grads
    axes = list(range(1, grads.shape.rank))
    rms = tf.sqrt(tf.reduce_mean(tf.square(grads), axis=axes, keepdims=True))
    return grads / (rms + keras.config.epsilon())


def track(xs, overall, best_xs, best_loss) -> tuple:
    """Keeps, per sample, the updated inputs of the step whose loss `overall` (before it) is lowest."""
    better = overall < best_loss

    def pick(x, best):
        mask = tf.reshape(better, tf.concat([[-1], tf.ones([tf.rank(x) - 1], tf.int32)], 0))
        return tf.where(mask, x, best)

    return [pick(x, b) for x, b in zip(xs, best_xs)], tf.where(better, overall, best_loss)


def chunk_steps(seconds_per_step: float) -> int:
    """How many steps the next compiled call runs: about `CHUNK_SECONDS` of them, 1 to `CHUNK_STEPS`."""
    return max(1, min(CHUNK_STEPS, int(CHUNK_SECONDS / seconds_per_step)))


def fused(loop: Loop, feed: Feed, max_iter: int) -> tuple:
    """Runs the steps compiled, a chunk of them per call, so that Ctrl+C lands between two chunks.

    A chunk lasts about `CHUNK_SECONDS` (at most `CHUNK_STEPS` steps; the
    first, which may trace, one step), sized from the last chunk's time per
    step: long enough that a call's own cost (~3 ms) stays under 1%. The
    state passes from chunk to chunk unchanged, so the result is the one a
    single `tf.while_loop` gives.
    """
    state, first, size = loop.start(feed.x), 0, 1
    while first < max_iter:
        stop = min(first + size, max_iter)
        began = time.perf_counter()
        state, grads, wrt = loop.fused(
            state, feed.args, feed.weights, tf.constant(first), tf.constant(stop), feed.seed
        )
        per_step = (time.perf_counter() - began) / (stop - first)
        size, first = chunk_steps(per_step), stop
    return state[2], grads, wrt


def stepwise(loop: Loop, feed: Feed, max_iter: int, modify, callbacks: list, single: bool) -> tuple:
    """Runs the steps one by one, fetching values for the grad modifier and callbacks."""
    xs = list(feed.x)
    caches = loop.caches(xs)
    best_xs, best_loss = list(xs), tf.fill([tf.shape(xs[0])[0]], np.float32(np.inf))
    for i in range(max_iter):
        step = tf.constant(i)
        for modifier in loop.host_mods:
            xs = [_host(modifier.pre, x) for x in xs]
        xs, named, overall, grads, wrt = loop.forward(xs, feed.args, feed.weights, feed.seed, step)
        if modify is not None:
            grads = [_modified(modify, g) for g in grads]
        if callbacks:
            values = _host_values(loop.program.loss_names, named, overall, single)
            host_grads, host_wrt = [np.array(g) for g in grads], [np.array(w) for w in wrt]
            for c in callbacks:
                c.callback(i, *values, *_unlisted(host_grads, host_wrt))
        xs, caches, best_xs, best_loss = loop.update(
            xs, grads, caches, best_xs, best_loss, overall, feed.seed, step
        )
        if loop.host_mods:
            for modifier in reversed(loop.host_mods):
                xs = [_host(modifier.post, x) for x in xs]
            best_xs, best_loss = track(xs, overall, best_xs, best_loss)
    return best_xs, grads, wrt


def _unlisted(grads: list, wrt: list) -> tuple:
    """Callbacks of a one-input optimization get arrays, as in keras-vis; several inputs give lists."""
    return (grads[0], wrt[0]) if len(grads) == 1 and len(wrt) == 1 else (grads, wrt)


def _host(method, x):
    """Runs a numpy input modifier on an image input (rank 3 or more); other inputs pass unchanged."""
    return tf.convert_to_tensor(method(np.array(x)), tf.float32) if x.shape.rank >= 3 else x


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


def _sub_seed(seed, i, j, k=0):
    fold = tf.random.experimental.stateless_fold_in
    seed = fold(fold(seed, i), j)
    return seed if k == 0 else fold(seed, k)
