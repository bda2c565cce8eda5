"""tf-keras-vis 0.8.7's input modifiers: callables applied to the input before each step.

`ActivationMaximization` calls every modifier of an input, in order, on the
current batch before computing the gradients, and keeps the result (the
jittered input is the one that is updated). They draw their randomness as
tf-keras-vis does (`Jitter` from numpy's global generator, `Rotate` and
`Scale` from their own `random_generator`), and compute what it computes
(a circular shift; scipy's linear rotation and zoom with reflected edges),
so a run gives the pictures tf-keras-vis gives.

They are also `vis.input_modifiers.InputModifier`s (their `pre` is the call,
`vis.compat._modifier_hooks`),
so native `vis.optimizer.Optimizer.minimize` accepts them too. vis's own
`Jitter`, `Rotate` and `Scale` differ: they draw in TensorFlow (compiled into
the loop), `Jitter` includes both ends of its range and `Scale` resamples
around the centre instead of zooming, cropping and padding with the mean.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import tensorflow as tf
from scipy.ndimage import rotate, zoom

from vis.compat._modifier_hooks import CallAsPre


class InputModifier(CallAsPre, ABC):
    """Base class of tf-keras-vis input modifiers: `modifier(seed_input)` returns the modified batch."""

    @abstractmethod
    def __call__(self, seed_input):
        """Returns the modified input.

        Args:
            seed_input: A batch, `(samples, ..., channels)`: a numpy array or a tensor.

        Returns:
            The modified batch (a numpy array or a tensor).

        Raises:
            NotImplementedError: Subclasses implement it.
        """
        raise NotImplementedError()


def _check_rank(seed_input, least: int) -> int:
    ndim = len(seed_input.shape)
    if ndim < least:
        raise ValueError(
            f"The dimensions of seed_input must be {least} or more (batch_size, ..., channels). "
            f"Received: seed_input with shape {tuple(seed_input.shape)}"
        )
    return ndim


class Jitter(InputModifier):
    """Shifts every image of the batch circularly by one random offset per spatial axis.

    Each offset is drawn from numpy's global generator in `[-jitter, jitter)`
    (as `np.random.randint` does, the upper end excluded).

    Args:
        jitter: The largest shift, in pixels (converted to int). Defaults to 8.
    """

    def __init__(self, jitter=8) -> None:
        self.jitter = int(jitter)

    def __call__(self, seed_input):
        """Returns the batch rolled by the random offsets (a tensor).

        Raises:
            ValueError: For an input with fewer than 3 dimensions.
        """
        ndim = _check_rank(seed_input, 3)
        shifts = tuple(np.random.randint(-self.jitter, self.jitter, ndim - 2))
        return tf.roll(seed_input, shift=shifts, axis=tuple(range(1, ndim - 1)))


class Rotate(InputModifier):
    """Rotates the batch by one random angle in the plane of two axes (scipy, linear, reflected edges).

    Args:
        axes: The two axes of the plane of rotation. Defaults to (1, 2).
        degree: The largest angle; each call draws one from `[-degree, degree)`. Defaults to 3.0.

    Raises:
        ValueError: If `axes` is not a list or tuple of two values.
        TypeError: If they are not ints.
    """

    def __init__(self, axes=(1, 2), degree=3.0) -> None:
        if type(axes) not in (list, tuple) or len(axes) != 2:
            raise ValueError(f"`axes` must be a tuple of two ints. Received: axes={axes!r}")
        if not isinstance(axes[0], int) or not isinstance(axes[1], int):
            raise TypeError(f"`axes` must be a tuple of two ints. Received: axes={axes!r}")
        self.axes = axes
        self.degree = float(degree)
        self.random_generator = np.random.default_rng()

    def __call__(self, seed_input) -> np.ndarray:
        """Returns the rotated batch (a numpy array of the input's dtype).

        Raises:
            ValueError: For an input with fewer than 4 dimensions.
        """
        _check_rank(seed_input, 4)
        values = np.asarray(seed_input)
        angle = self.random_generator.uniform(-self.degree, self.degree)
        turned = rotate(
            values.astype(np.float32),
            angle,
            axes=self.axes,
            reshape=False,
            order=1,
            mode="reflect",
            prefilter=False,
        )
        return turned.astype(values.dtype)


class Rotate2D(Rotate):
    """`Rotate` in the plane of the image rows and columns (axes 1 and 2).

    Args:
        degree: The largest angle. Defaults to 3.0.
    """

    def __init__(self, degree=3.0) -> None:
        super().__init__(axes=(1, 2), degree=degree)


class Scale(InputModifier):
    """Zooms the batch by one random factor (scipy, linear), then crops or pads it back to size.

    A zoom in is cropped around the centre; a zoom out is padded with the mean.

    Args:
        low: The smallest factor. Defaults to 0.9.
        high: The largest factor. Defaults to 1.1.
    """

    def __init__(self, low=0.9, high=1.1) -> None:
        self.low = low
        self.high = high
        self.random_generator = np.random.default_rng()

    def __call__(self, seed_input) -> np.ndarray:
        """Returns the zoomed batch (a numpy array of the input's dtype and shape).

        Raises:
            ValueError: For an input with fewer than 3 dimensions.
        """
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
