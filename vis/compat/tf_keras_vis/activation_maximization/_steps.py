"""The steps of `ActivationMaximization`: input modifiers, engine gradient and update as one program.

`Steps` holds, per program and batch shape, one variable per model input and
the default optimizer (0.8.7's `RMSprop(1.0, rho=0.999)`, loss-scaled for a
mixed-precision model), reset at each call as if new. `Jitter` and `Rotate`
on images run inside the step: their random draws are made on the host as
0.8.7 makes them (same generators, same order), then applied in TensorFlow
(`tf.roll`; scipy's linear rotation with reflected edges, written out);
other modifiers run on the host before the step. With the default optimizer
and no `gradient_modifier`, a step is one call (`update`); otherwise the
gradient (`forward`) and the optimizer's update are two.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from scipy import special

from vis.compat.tf_keras_vis.activation_maximization import _adapters
from vis.compat.tf_keras_vis.activation_maximization.input_modifiers import Jitter, Rotate, Rotate2D
from vis.engine.compiling import Lazy

_DTYPES = {"jitter": tf.int64, "rotate": tf.float64}
_KEY = "_vis_tfkv_steps"  # The attribute of a program holding its `Steps`, by batch shape.


def kind(modifier, value) -> str | None:
    """'jitter' or 'rotate' for a modifier that runs inside the step on this input, else None."""
    rank = len(value.shape)
    if value.dtype != tf.float32:
        return None
    if type(modifier) is Jitter and rank >= 3:
        return "jitter"
    if type(modifier) in (Rotate, Rotate2D) and rank == 4 and sorted(a % 4 for a in modifier.axes) == [1, 2]:
        return "rotate"
    return None


def draws(modifiers: list, kinds: list, values: list, count: int) -> list:
    """The in-graph modifiers' random parameters of `count` steps, drawn in 0.8.7's order (step by
    step, input by input); per input and modifier, stacked on a new first axis."""
    drawn = [
        [[draw(m, k, v) for m, k in zip(ms, ks)] for ms, ks, v in zip(modifiers, kinds, values)]
        for _ in range(count)
    ]
    return [
        [tf.constant(np.stack([d[i][j] for d in drawn])) for j in range(len(ks))]
        for i, ks in enumerate(kinds)
    ]


def draw(modifier, which: str, value) -> np.ndarray:
    """The modifier's random parameters, drawn as 0.8.7 draws them: shifts, or the rotation's
    `[[c, s], [-s, c], offset]` (`scipy.ndimage.rotate`'s matrix and offset, in float64)."""
    if which == "jitter":
        return np.random.randint(-modifier.jitter, modifier.jitter, len(value.shape) - 2).astype(np.int64)
    angle = modifier.random_generator.uniform(-modifier.degree, modifier.degree)
    c, s = special.cosdg(angle), special.sindg(angle)
    matrix = np.array([[c, s], [-s, c]])
    center = (np.array(value.shape[1:3], np.float64) - 1) / 2
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
        low = tf.floor(c)
        first = tf.cast(low, tf.int32)
        indices.append(tf.stack([first, tf.minimum(first + 1, n - 1)]))
        t = tf.cast(c - low, tf.float32)
        weights.append(tf.stack([1.0 - t, t]))
    corners = tf.reshape(indices[0][:, None] * w + indices[1][None, :], [4, h * w])
    weights = tf.reshape(weights[0][:, None] * weights[1][None, :], [4, h * w, 1])
    gathered = tf.gather(tf.reshape(x, [shape[0], h * w, shape[3]]), corners, axis=1)
    return tf.reshape(tf.reduce_sum(gathered * weights, axis=1), shape)


class Steps:
    """Variables, default optimizer and step programs of one engine program and batch shape."""

    def __init__(self, program, values: list, kinds: list, mixed: bool) -> None:
        self.program, self.kinds = program, kinds
        self.variables = [tf.Variable(v) for v in values]
        self.optimizer = _adapters.keras_optimizer(None, mixed)
        self.optimizer.build(self.variables)
        state = {
            id(v): v
            for o in (self.optimizer, getattr(self.optimizer, "inner_optimizer", None))
            if o
            for v in o.variables
        }
        self.state = [(v, v.numpy()) for v in state.values()]
        specs = [
            [
                tf.TensorSpec([None, len(v.shape) - 2] if k == "jitter" else [None, 3, 2], _DTYPES[k])
                for k in ks
            ]
            for ks, v in zip(kinds, values)
        ]
        specs = [specs, [tf.TensorSpec(p.shape, p.dtype) for p in program.placeholders]]
        specs.append(tf.TensorSpec([len(program.loss_names)], tf.float32))
        name = "tf-keras-vis ActivationMaximization"
        self.forward = Lazy(self._first, specs, f"{name} (gradient)")
        self.update = Lazy(self._steps, [tf.TensorSpec([], tf.int32), *specs], f"{name} (steps)")

    def start(self, values: list) -> None:
        """Sets the variables to `values` and the default optimizer to its initial state."""
        for variable, value in zip(self.variables, values):
            variable.assign(value)
        for variable, value in self.state:
            variable.assign(value)

    def _forward(self, draws, args, weights):
        """The in-graph modifiers (kept in the variables), then the engine's losses and gradients."""
        fed = []
        for variable, kinds, params in zip(self.variables, self.kinds, draws):
            x = variable.value()
            for which, p in zip(kinds, params):
                x = (
                    tf.roll(x, p, axis=list(range(1, len(x.shape) - 1)))
                    if which == "jitter"
                    else rotate(x, p)
                )
            if kinds:
                variable.assign(x)
            fed.append(x)
        stacked, _, grads, _ = self.program.gradients(fed, args, weights)
        grads = grads if isinstance(grads, (list, tuple)) else [grads]
        return stacked, [tf.cast(g, v.dtype) for g, v in zip(grads, self.variables)], fed

    def _first(self, draws, args, weights):
        """`_forward` with the first step's `draws`."""
        return self._forward([[p[0] for p in d] for d in draws], args, weights)

    def _steps(self, count, draws, args, weights):
        """`count` steps of `_forward` and the default optimizer's update (`draws` stacked per step);
        the last step's results."""

        def step(i, *_):
            stacked, grads, fed = self._forward([[p[i] for p in d] for d in draws], args, weights)
            self.optimizer.apply_gradients(zip(grads, self.variables))
            return i + 1, stacked, grads, fed

        zeros = [tf.zeros_like(v) for v in self.variables]
        batch = self.variables[0].shape[0]
        start = (tf.constant(0), tf.zeros([len(self.program.loss_names), batch]), zeros, zeros)
        return tf.while_loop(lambda i, *_: i < count, step, start)[1:]


def steps_for(program, values: list, kinds: list, mixed: bool) -> Steps:
    """The program's cached `Steps` for this batch shape and modifier kinds (a few kept)."""
    cache = program.__dict__.setdefault(_KEY, {})
    key = (tuple((tuple(v.shape), v.dtype.name) for v in values), tuple(map(tuple, kinds)), mixed)
    if key not in cache:
        while len(cache) >= 4:
            cache.pop(next(iter(cache)))
        cache[key] = Steps(program, values, kinds, mixed)
    steps = cache[key]
    steps.start(values)
    return steps
