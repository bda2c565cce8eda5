"""tf-keras-vis 0.8.7's input modifiers, applied to the input before each step (and kept).

They draw as 0.8.7 does (`Jitter` from numpy's global generator, `Rotate` and
`Scale` from their own `random_generator`) and compute what it computes, so a
run gives its pictures; `ActivationMaximization` runs `Jitter` and `Rotate`
inside its compiled step (`_steps`). They are also `vis.input_modifiers`
modifiers (`pre` is the call).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import tensorflow as tf
from scipy.ndimage import rotate, zoom

from vis.compat._modifier_hooks import CallAsPre


class InputModifier(CallAsPre, ABC):
    """Base class: `modifier(seed_input)` returns the modified batch."""

    @abstractmethod
    def __call__(self, seed_input):
        """Returns the modified batch `(samples, ..., channels)`."""
        raise NotImplementedError()


def _check_rank(seed_input, least: int) -> int:
    if len(seed_input.shape) < least:
        raise ValueError(
            f"The dimensions of seed_input must be {least} or more (batch_size, ..., channels). "
            f"Received: seed_input with shape {tuple(seed_input.shape)}"
        )
    return len(seed_input.shape)


class Jitter(InputModifier):
    """Rolls the batch by one random shift per spatial axis, drawn from `[-jitter, jitter)`.

    Args:
        jitter: The largest shift, in pixels. Defaults to 8.
    """

    def __init__(self, jitter=8) -> None:
        self.jitter = int(jitter)

    def __call__(self, seed_input):
        ndim = _check_rank(seed_input, 3)
        shifts = tuple(np.random.randint(-self.jitter, self.jitter, ndim - 2))
        return tf.roll(seed_input, shift=shifts, axis=tuple(range(1, ndim - 1)))


class Rotate(InputModifier):
    """Rotates the batch by a random angle in `[-degree, degree)` in the plane of `axes`
    (scipy, linear, reflected edges).

    Args:
        axes: Two ints. Defaults to (1, 2).
        degree: The largest angle. Defaults to 3.0.

    Raises:
        ValueError: If `axes` is not a pair.
        TypeError: If they are not ints.
    """

    def __init__(self, axes=(1, 2), degree=3.0) -> None:
        if type(axes) not in (list, tuple) or len(axes) != 2:
            raise ValueError(f"`axes` must be a tuple of two ints. Received: axes={axes!r}")
        if not isinstance(axes[0], int) or not isinstance(axes[1], int):
            raise TypeError(f"`axes` must be a tuple of two ints. Received: axes={axes!r}")
        self.axes, self.degree = axes, float(degree)
        self.random_generator = np.random.default_rng()

    def __call__(self, seed_input) -> np.ndarray:
        _check_rank(seed_input, 4)
        values = np.asarray(seed_input)
        angle = self.random_generator.uniform(-self.degree, self.degree)
        options = {"axes": self.axes, "reshape": False, "order": 1, "mode": "reflect", "prefilter": False}
        return rotate(values.astype(np.float32), angle, **options).astype(values.dtype)


class Rotate2D(Rotate):
    """`Rotate` in the plane of the image rows and columns.

    Args:
        degree: The largest angle. Defaults to 3.0.
    """

    def __init__(self, degree=3.0) -> None:
        super().__init__(axes=(1, 2), degree=degree)


class Scale(InputModifier):
    """Zooms the batch by a random factor in `[low, high)` (scipy, linear), cropped around the centre
    or padded with the mean back to its size.

    Args:
        low: The smallest factor. Defaults to 0.9.
        high: The largest factor. Defaults to 1.1.
    """

    def __init__(self, low=0.9, high=1.1) -> None:
        self.low, self.high = low, high
        self.random_generator = np.random.default_rng()

    def __call__(self, seed_input) -> np.ndarray:
        ndim = _check_rank(seed_input, 3)
        values = np.asarray(seed_input)
        factor = self.random_generator.uniform(self.low, self.high)
        factors = (1, *([factor] * (ndim - 2)), 1)
        zoomed = zoom(values.astype(np.float32), factors, order=1, mode="reflect", prefilter=False)
        if factor > 1.0:
            starts = [(z - s) // 2 for z, s in zip(zoomed.shape, values.shape)]
            zoomed = zoomed[tuple(slice(b, b + s) for b, s in zip(starts, values.shape))]
        if factor < 1.0:
            widths = [((s - z) // 2, (s - z) - (s - z) // 2) for z, s in zip(zoomed.shape, values.shape)]
            zoomed = np.pad(zoomed, widths, "mean")
        return zoomed.astype(values.dtype)
