"""`ActivationMaximization`'s steps, as compiled calls.

`Steps` holds, per engine program, batch shape and input modifiers, one
variable per input and the default optimizer (0.8.7's `RMSprop(1.0,
rho=0.999)`, loss-scaled for a mixed-precision model), reset at each call as
if new. `Jitter` and `Rotate` run inside the step: drawn on the host as 0.8.7
draws (same generators, same order), applied in TensorFlow (`tf.roll`; scipy's
linear rotation with reflected edges). With only those, the default optimizer
and no `gradient_modifier` or callback, several steps run per call (about
`vis.optimizer_loop.chunk_steps`, so Ctrl+C stops a run soon). A program runs eagerly while its eager
steps, over all runs, would cost less than a compile (`COMPILE_BUDGET_S`): short
runs on fresh models compile nothing, as 0.8.7.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref

import numpy as np
import tensorflow as tf
from scipy import special

from vis.compat.tf_keras_vis.activation_maximization import _adapters
from vis.compat.tf_keras_vis.activation_maximization.input_modifiers import Jitter, Rotate, Rotate2D
from vis.engine import compiling
from vis.optimizer_loop import chunk_steps

COMPILE_BUDGET_S = 1.0
_EAGER_SECONDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Per step function.
_DTYPES = {"jitter": tf.int64, "rotate": tf.float64}
_KEY = "_vis_tfkv_steps"  # The attribute of a program holding its `Steps`.
_CACHE_LOCK = threading.Lock()


def kind(modifier, value) -> str | None:
    """'jitter' or 'rotate' for a modifier that runs inside the step on this input, else None."""
    if value.dtype != tf.float32:
        return None
    if type(modifier) is Jitter and len(value.shape) >= 3:
        return "jitter"
    axes = sorted(a % 4 for a in modifier.axes) if type(modifier) in (Rotate, Rotate2D) else None
    return "rotate" if len(value.shape) == 4 and axes == [1, 2] else None


def draw(modifier, which: str, value) -> np.ndarray:
    """The modifier's next random parameters: shifts, or `[[c, s], [-s, c], offset]` (scipy's)."""
    if which == "jitter":
        return np.random.randint(-modifier.jitter, modifier.jitter, len(value.shape) - 2).astype(np.int64)
    angle = modifier.random_generator.uniform(-modifier.degree, modifier.degree)
    c, s = special.cosdg(angle), special.sindg(angle)
    matrix, center = np.array([[c, s], [-s, c]]), (np.array(value.shape[1:3], np.float64) - 1) / 2
    return np.vstack([matrix, center - matrix @ center])


def rotate(x, params):
    """`scipy.ndimage.rotate(x, angle, axes=(1, 2), reshape=False, order=1, mode='reflect',
    prefilter=False)` of float32 images, `params` from `draw` (coordinates in float64, as scipy)."""
    shape = tf.shape(x)
    h, w = shape[1], shape[2]
    rows, cols = tf.meshgrid(tf.range(h, dtype=tf.float64), tf.range(w, dtype=tf.float64), indexing="ij")
    indices, weights = [], []
    for j, n in enumerate((h, w)):
        size = tf.cast(n, tf.float64)  # Reflected about the edges' half samples, then clamped (scipy's way).
        c = tf.math.floormod(params[j, 0] * rows + params[j, 1] * cols + params[2, j], 2 * size)
        c = tf.clip_by_value(tf.where(c >= size, 2 * size - 1 - c, c), 0.0, size - 1)
        first = tf.floor(c)
        indices.append(tf.stack([tf.cast(first, tf.int32), tf.minimum(tf.cast(first, tf.int32) + 1, n - 1)]))
        weights.append(tf.stack([1.0 - tf.cast(c - first, tf.float32), tf.cast(c - first, tf.float32)]))
    corners = tf.reshape(indices[0][:, None] * w + indices[1][None, :], [4, h * w])
    weights = tf.reshape(weights[0][:, None] * weights[1][None, :], [4, h * w, 1])
    gathered = tf.gather(tf.reshape(x, [shape[0], h * w, shape[3]]), corners, axis=1)
    return tf.reshape(tf.reduce_sum(gathered * weights, axis=1), shape)


class Steps:
    """Variables, default optimizer and compiled steps of one program, batch shape and modifiers."""

    def __init__(self, program, values: list, kinds: list, mixed: bool) -> None:
        self.program, self.kinds, self.lock = program, kinds, threading.Lock()
        self.variables = [tf.Variable(v) for v in values]
        self.optimizer = _adapters.keras_optimizer(None, mixed)
        self.optimizer.build(self.variables)
        wrapped = [self.optimizer, getattr(self.optimizer, "inner_optimizer", self.optimizer)]
        self.state = [(v, v.numpy()) for v in {id(v): v for o in wrapped for v in o.variables}.values()]
        shapes = {"jitter": lambda v: [None, len(v.shape) - 2], "rotate": lambda v: [None, 3, 2]}
        specs = [
            [[tf.TensorSpec(shapes[k](v), _DTYPES[k]) for k in ks] for ks, v in zip(kinds, values)],
            [tf.TensorSpec(p.shape, p.dtype) for p in program.placeholders],
            tf.TensorSpec([len(program.loss_names)], tf.float32),
        ]
        name = "tf-keras-vis ActivationMaximization"
        self.forward = compiling.Lazy(self._first, specs, f"{name} (gradient)")
        self.update = compiling.Lazy(self._steps, [tf.TensorSpec([], tf.int32), *specs], f"{name} (steps)")

    def _forward(self, draws, args, weights):
        """The in-graph modifiers (kept in the variables), then the engine's losses and gradients."""
        fed = []
        for variable, kinds, params in zip(self.variables, self.kinds, draws):
            x = variable.value()
            for which, p in zip(kinds, params):
                spatial = list(range(1, len(x.shape) - 1))
                x = tf.roll(x, p, axis=spatial) if which == "jitter" else rotate(x, p)
            if kinds:
                variable.assign(x)
            fed.append(x)
        stacked, _, grads, _ = self.program.gradients(fed, args, weights)
        grads = grads if isinstance(grads, (list, tuple)) else [grads]
        return stacked, [tf.cast(g, v.dtype) for g, v in zip(grads, self.variables)], fed

    def _first(self, draws, args, weights):
        return self._forward([[p[0] for p in d] for d in draws], args, weights)

    def _steps(self, count, draws, args, weights):
        """`count` steps and updates by the default optimizer; the last step's results."""

        def step(i, *_):
            stacked, grads, fed = self._forward([[p[i] for p in d] for d in draws], args, weights)
            self.optimizer.apply_gradients(zip(grads, self.variables))
            return i + 1, stacked, grads, fed

        zeros = [tf.zeros_like(v) for v in self.variables]
        losses = tf.zeros([len(self.program.loss_names), self.variables[0].shape[0]])
        return tf.while_loop(lambda i, *_: i < count, step, (tf.constant(0), losses, zeros, zeros))[1:]

    def _draws(self, modifiers: list, count: int) -> list:
        """The in-graph modifiers' parameters of `count` steps, drawn in 0.8.7's order (step, input,
        modifier); per input and modifier, stacked on a new first axis."""
        ordered = list(zip(modifiers, self.kinds, self.variables))
        drawn = [[[draw(m, k, v) for m, k in zip(ms, ks)] for ms, ks, v in ordered] for _ in range(count)]
        return [
            [tf.constant(np.stack([d[i][j] for d in drawn])) for j in range(len(ks))]
            for i, ks in enumerate(self.kinds)
        ]

    def run(self, steps: int, args: list, modifiers: list, eager: bool, stepwise: bool, optimizer, modify):
        """Runs the steps from the variables' values; yields `(i, losses, grads, fed)` after step `i`
        (after each step when `stepwise`, else possibly after several)."""
        fused = optimizer is None and modify is None
        host = sum(map(len, modifiers)) > sum(map(len, self.kinds))  # Not in the step: all on the host.
        function, optimizer = (self.update, None) if fused else (self.forward, optimizer or self.optimizer)
        mode = "eager" if eager else ("auto" if function.ready else "rent")
        weights = tf.ones([len(self.program.loss_names)])
        step, seconds = 0, None  # `seconds`: a compiled step's last measured time.
        while step < steps:
            count = 1 if stepwise or host or not fused or not seconds else chunk_steps(seconds)
            count = min(count, steps - step)
            for variable, items in zip(self.variables, modifiers if host else []):
                for modifier in items:
                    variable.assign(modifier(variable.value()))
            draws = self._draws(modifiers, count)
            started = time.perf_counter()
            with compiling.policy("auto" if mode == "auto" else "eager"), self.program.reporting():
                stacked, grads, fed = function(*([tf.constant(count)] if fused else []), draws, args, weights)
            elapsed = time.perf_counter() - started
            if mode == "rent" and _spend(function, elapsed, steps - step - 1):
                mode = "auto"  # Staying eager would cost more than compiling: compile at the next step.
            seconds = elapsed / count if mode == "auto" and function.ready else None
            if not fused:
                grads = grads if modify is None else [modify(g) for g in grads]
                optimizer.apply_gradients(zip(grads, self.variables))
            step += count
            yield step - 1, stacked, grads, fed


def _spend(function, seconds: float, remaining: int) -> bool:
    """Adds an eager step's `seconds` to the function's account; True once its eager steps so far plus
    `remaining` more would cost more than a compile."""
    spent = _EAGER_SECONDS[function] = _EAGER_SECONDS.get(function, 0.0) + seconds
    return spent + remaining * seconds > COMPILE_BUDGET_S


@contextlib.contextmanager
def steps_for(program, values: list, modifiers: list, mixed: bool):
    """The program's `Steps` for these values' shapes and modifiers (a few kept), set to `values`,
    held by this call: a call made meanwhile (another thread) gets a `Steps` of its own."""
    kinds = [[kind(m, v) for m in items] for items, v in zip(modifiers, values)]
    kinds = kinds if all(map(all, kinds)) else [[] for _ in kinds]  # All on the host, in order.
    key = (tuple((tuple(v.shape), v.dtype.name) for v in values), tuple(map(tuple, kinds)), mixed)
    with _CACHE_LOCK:
        cache = program.__dict__.setdefault(_KEY, {})
        steps = cache.get(key)
        if steps is None or not steps.lock.acquire(blocking=False):
            steps = Steps(program, values, kinds, mixed)
            steps.lock.acquire()
            if key not in cache:
                while len(cache) >= 4:
                    cache.pop(next(iter(cache)))
                cache[key] = steps
    try:
        for variable, value in [*zip(steps.variables, values), *steps.state]:
            variable.assign(value)
        yield steps
    finally:
        steps.lock.release()
