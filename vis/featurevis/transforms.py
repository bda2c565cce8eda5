"""Random transformations applied inside the differentiated step (transformation robustness).

An image that activates a unit only at one exact position and scale is
adversarial noise; one that still activates it when shifted, scaled and
rotated a little shows a feature (Olah et al., "Feature Visualization",
Distill 2017, "Transformation robustness"). Each step applies freshly sampled
transformations to the image before the model sees it, as TensorFlow ops
inside the compiled step, so the gradient flows back through them.

The geometric transformations (`Pad`, `Jitter`, `Scale`, `Rotate`) keep the
model's input size: each is an affine map of the image plane, consecutive
ones are multiplied into one matrix per sample and the image is resampled
once (bilinear, `keras.ops.image.affine_transform`). Areas moved into view
from outside the image take the middle of `input_range`, as lucid's constant
padding does. A transformation is the identity at zero strength. Any other
callable `f(images)` or `f(images, seed)` of TensorFlow ops may sit in the
list too. On a 1-D input (`(batch, length, channels)`) the maps act along the
length only.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from vis.input_modifiers import accepts_seed


class Geometric:
    """A random affine map of the image plane, one per sample (subclasses give `matrices`)."""

    def matrices(self, batch, size: tuple, seed):
        """Returns `(batch, 3, 3)` maps from output to input coordinates `(x, y, 1)`, centred."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Pad(Geometric):
    """Shows the image inside a border of `width` pixels (filled with the middle of `input_range`).

    Args:
        width: The border, in pixels of the padded image (0: identity).
    """

    def __init__(self, width: int = 2) -> None:
        self.width = _non_negative("width", width)

    def matrices(self, batch, size, seed):
        factors = [(n + 2.0 * self.width) / n for n in size[::-1]] + [1.0] * (2 - len(size))
        return tf.tile(tf.linalg.diag([factors[0], factors[1], 1.0])[None], [batch, 1, 1])


class Jitter(Geometric):
    """Shifts the image by a random whole number of pixels in `[-pixels, pixels]` per axis.

    Args:
        pixels: The largest shift (0: identity).
    """

    def __init__(self, pixels: int = 1) -> None:
        self.pixels = int(_non_negative("pixels", pixels))

    def matrices(self, batch, size, seed):
        shift = tf.random.stateless_uniform([batch, 2], seed, -self.pixels, self.pixels + 1, tf.int32)
        return _translation(tf.cast(shift, tf.float32))


class Scale(Geometric):
    """Zooms the image by a random factor drawn from `factors` (about its centre).

    Args:
        factors: The factors to draw from, e.g. `(0.9, 1.0, 1.1)` (`(1.0,)`: identity).
    """

    def __init__(self, factors=(0.9, 0.95, 1.0, 1.05, 1.1)) -> None:
        self.factors = tuple(float(f) for f in factors)
        if not self.factors or min(self.factors) <= 0:
            raise ValueError(f"`factors` must be positive numbers. Received: factors={factors!r}")

    def matrices(self, batch, size, seed):
        factor = _choice(self.factors, batch, seed)
        return tf.linalg.diag(tf.stack([1.0 / factor, 1.0 / factor, tf.ones_like(factor)], axis=1))


class Rotate(Geometric):
    """Rotates the image by a random angle, uniform in `[-degrees, degrees]`, about its centre.

    Args:
        degrees: The largest angle (0: identity).
    """

    def __init__(self, degrees: float = 10.0) -> None:
        self.degrees = float(_non_negative("degrees", degrees))

    def matrices(self, batch, size, seed):
        limit = self.degrees * math.pi / 180.0
        angle = tf.random.stateless_uniform([batch], seed, -limit, limit) if limit else tf.zeros([batch])
        cos, sin, zero = tf.cos(angle), tf.sin(angle), tf.zeros_like(angle)
        rows = [[cos, -sin, zero], [sin, cos, zero], [zero, zero, tf.ones_like(angle)]]
        return tf.stack([tf.stack(row, axis=1) for row in rows], axis=1)


def robust(size: tuple) -> list:
    """The `transforms='robust'` list for images of `size`: lucid's standard set, scaled to the size.

    Pad, jitter, scale 0.9-1.1, rotate +-10 degrees (2-D only), jitter again;
    pad and jitter grow with the image (2 and 1 pixels at 32x32).
    """
    n = max(size)
    listed = [Pad(max(1, round(n / 16))), Jitter(max(1, round(n / 28))), Scale()]
    listed += [Rotate(10.0)] if len(size) == 2 else []
    return listed + [Jitter(max(1, round(n / 56)))]


def get(transforms, size: tuple) -> list:
    """Returns the list of transformations for `transforms`: 'robust', a list, or None (none).

    Raises:
        TypeError: For something else, or a list item that is not callable or `Geometric`.
    """
    if transforms is None:
        return []
    if isinstance(transforms, str) and transforms == "robust":
        return robust(size)
    listed = list(transforms) if isinstance(transforms, (list, tuple)) else None
    if listed is None or not all(isinstance(t, Geometric) or callable(t) for t in listed):
        raise TypeError(
            "`transforms` must be 'robust', None or a list of `vis.featurevis.transforms` objects or "
            f"callables `f(images[, seed])`. Received: transforms={transforms!r}"
        )
    return listed


def apply(transforms: list, images, seed, fill_value: float):
    """Applies `transforms` in order to a batch of images, channels last (TF ops).

    Args:
        transforms: What `get` returns.
        images: `(batch, height, width, channels)` or `(batch, length, channels)`.
        seed: A stateless seed, shape `(2,)`; each transformation draws from its own fold.
        fill_value: The value of areas moved into view from outside the image.

    Returns:
        The transformed images, of the same shape.
    """
    pending = []
    for j, transform in enumerate(transforms):
        sub = tf.random.experimental.stateless_fold_in(seed, j)
        if isinstance(transform, Geometric):
            pending.append((transform, sub))
            continue
        images = _resample(images, pending, fill_value)
        pending = []
        images = _call(transform, images, sub)
    return _resample(images, pending, fill_value)


def _resample(images, pending: list, fill_value: float):
    """Resamples the images once through the product of the pending maps."""
    if not pending:
        return images
    one_d = images.shape.rank == 3
    planar = images[:, None] if one_d else images
    batch, size = tf.shape(planar)[0], tuple(planar.shape[1:3])
    matrix = tf.eye(3, batch_shape=[batch])
    for transform, seed in pending:
        matrix = matrix @ transform.matrices(batch, size[1:] if one_d else size, seed)
    if one_d:  # The length is the x axis: y passes unchanged.
        keep, unit_y = (
            tf.constant([[1.0, 0, 1], [0, 0, 0], [1, 0, 1]]),
            tf.constant(np.diag([0.0, 1, 0]), tf.float32),
        )
        matrix = matrix * keep + unit_y
    centre = tf.constant([(size[1] - 1) / 2.0, (size[0] - 1) / 2.0], tf.float32)
    matrix = _translation(centre[None]) @ matrix @ _translation(-centre[None])
    flat = tf.reshape(matrix, [-1, 9])[:, :8] / matrix[:, 2:3, 2]
    out = keras.ops.image.affine_transform(
        planar,
        flat,
        interpolation="bilinear",
        fill_mode="constant",
        fill_value=fill_value,
        data_format="channels_last",
    )
    return out[:, 0] if one_d else out


def _translation(shift):
    """`(batch, 3, 3)` translations by `shift` `(batch, 2)` (x, y)."""
    batch = tf.shape(shift)[0]
    eye = tf.eye(3, batch_shape=[batch])
    return eye + tf.pad(shift[:, :, None], [[0, 0], [0, 1], [2, 0]])


def _choice(values: tuple, batch, seed):
    index = tf.random.stateless_uniform([batch], seed, 0, len(values), tf.int32)
    return tf.gather(tf.constant(values, tf.float32), index)


def _call(transform, images, seed):
    return transform(images, seed=seed) if accepts_seed(transform) else transform(images)


def _non_negative(name: str, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or value < 0:
        raise ValueError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")
    return value
