"""Colour: decorrelated channels, and the sigmoid that maps an image into `input_range`.

Neighbouring colour channels of natural images are strongly correlated; a
gradient step on raw RGB moves them independently and paints colour noise.
With `decorrelate=True` the optimizer works on decorrelated channels, mixed
into RGB by the square root of the colour covariance of ImageNet, the
constant published with lucid (github.com/tensorflow/lucid,
`lucid/optvis/param/color.py`, `color_correlation_svd_sqrt`), divided, as
there, by the largest L2 norm of its columns. Any channel count other than 3
(grayscale) skips the mixing.

The image is then squashed into `input_range` with a sigmoid, so every
step's image is valid and the result needs no re-normalisation.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# lucid's `color_correlation_svd_sqrt`: a square root of ImageNet's RGB covariance.
IMAGENET_COLOR_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype="float64"
)
COLOR_MIX = (IMAGENET_COLOR_SQRT / np.max(np.linalg.norm(IMAGENET_COLOR_SQRT, axis=0))).astype("float32")
_EPSILON = 1e-4  # How close to the range's ends `unsquash` clips.


def mixes(channels: int, decorrelate: bool) -> bool:
    """Whether images of `channels` channels are colour-mixed (3 channels and `decorrelate`)."""
    return bool(decorrelate) and channels == 3


def to_rgb(decorrelated):
    """Mixes decorrelated channels (last axis, 3) into RGB: `x @ COLOR_MIX.T` (TF ops)."""
    return tf.tensordot(decorrelated, tf.constant(COLOR_MIX.T), axes=[[-1], [0]])


def from_rgb(rgb: np.ndarray) -> np.ndarray:
    """The inverse of `to_rgb` (numpy): the decorrelated channels whose mix is `rgb`."""
    return np.asarray(rgb, "float64") @ np.linalg.inv(COLOR_MIX.T.astype("float64"))


def squash(images, input_range: tuple):
    """Maps any real values into `input_range` with a sigmoid (TF ops)."""
    low, high = (float(v) for v in input_range)
    return low + (high - low) * tf.sigmoid(images)


def unsquash(images: np.ndarray, input_range: tuple) -> np.ndarray:
    """The inverse of `squash` (numpy), values clipped just inside `input_range`."""
    low, high = (float(v) for v in input_range)
    unit = np.clip((np.asarray(images, "float64") - low) / (high - low), _EPSILON, 1.0 - _EPSILON)
    return np.log(unit) - np.log1p(-unit)
