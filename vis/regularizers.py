"""Regularizers: losses over the input image that keep it natural-looking.

They are `Loss` subclasses like the others and are given to the engine as
`(loss, weight)` pairs. `build_loss()` returns one value per sample (shape
`(batch,)`), divided by the number of values in one input sample (see
`normalize`) so that the same weight suits inputs of any size.
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np

from vis.losses_base import Loss


def normalize(input_tensor, output_tensor):
    """Divides `output_tensor` by the number of values in one input sample.

    This keeps a regularizer's weight meaningful across input sizes: a
    (224, 224, 3) image and a (32, 32, 1) one get losses on the same scale.

    Args:
        input_tensor: A tensor with the batch as its first axis and static
            non-batch dimensions, e.g. `model.input`.
        output_tensor: The tensor (or number) to divide.

    Returns:
        `output_tensor` divided by the product of the non-batch dimensions of
        `input_tensor`.

    Raises:
        ValueError: If a non-batch dimension of `input_tensor` is unknown.
    """
    dims = tuple(input_tensor.shape)[1:]
    if any(dim is None for dim in dims):
        raise ValueError(
            "`normalize` needs the input's non-batch dimensions to be known "
            "statically, e.g. `keras.Input(shape=(224, 224, 3))`. "
            f"Received: input_tensor with shape {tuple(input_tensor.shape)}"
        )
    return output_tensor / float(np.prod(dims, dtype="float64"))


class TotalVariation(Loss):
    """Total variation regularizer: favours smooth, blob-like images.

    For every pixel (every channel separately) it takes the squared
    differences with the next pixel along each spatial axis, adds them and
    raises the sum to `beta / 2`:

    `TV(x) = sum_pixels (sum_axes (x[p + e_axis] - x[p]) ** 2) ** (beta / 2)`

    The sum runs over the pixels whose neighbour exists along every spatial
    axis (the last row, column, ... is left out), as in keras-vis. Images may
    have 1, 2 or 3 (or more) spatial axes; the channel axis follows
    `keras.config.image_data_format()` at the time `build_loss()` is called.
    See section 3.2.2 of "Visualizing deep convolutional neural networks
    using natural pre-images" (Mahendran & Vedaldi, 2016).

    Args:
        img_input: The input Keras tensor, e.g. `model.input`, of shape
            `(batch, spatial..., channels)` or `(batch, channels, spatial...)`.
        beta: The exponent. Smaller values give sharper but spikier images;
            values in [1.5, 3] are a reasonable compromise.

    Raises:
        TypeError: If `img_input` is not a Keras tensor or `beta` is not a
            number.
        ValueError: If `beta` is not positive.
    """

    def __init__(self, img_input, beta: float = 2.0) -> None:
        super().__init__()
        _check_keras_tensor(img_input, "TotalVariation")
        if not _is_real_number(beta):
            raise TypeError(f"`beta` must be a number. Received: beta={beta!r} of type {type(beta).__name__}")
        if not beta > 0 or math.isinf(beta):
            raise ValueError(f"`beta` must be a positive, finite number. Received: beta={beta!r}")
        self.name = f"TV({beta}) Loss"
        self.img = img_input
        self.img_input = img_input
        self.beta = beta

    def cache_key(self) -> tuple:
        """Instances on the same input with the same `beta` share one compiled program."""
        return ("TotalVariation", id(self.img), float(self.beta), keras.config.image_data_format())

    def build_loss(self):
        """Returns the total variation of each sample, normalised.

        Returns:
            A Keras tensor of shape `(batch,)`.

        Raises:
            ValueError: If the input has no spatial axis or unknown dimensions.
        """
        img = self.img
        ndim = len(img.shape)
        if ndim < 3:
            raise ValueError(
                "`TotalVariation` needs an image input with a batch axis, at least one spatial axis "
                f"and a channel axis. Received: img_input with shape {tuple(img.shape)}"
            )
        if keras.config.image_data_format() == "channels_first":
            spatial_axes = list(range(2, ndim))
        else:
            spatial_axes = list(range(1, ndim - 1))
        img = keras.ops.cast(img, "float32")

        def crop(shift_axis=None):
            # Every spatial axis loses its last position; `shift_axis` loses
            # its first instead, which pairs each pixel with its neighbour.
            index = [slice(None)] * ndim
            for axis in spatial_axes:
                index[axis] = slice(1, None) if axis == shift_axis else slice(None, -1)
            return img[tuple(index)]

        base = crop()
        squared = None
        for axis in spatial_axes:
            diff = keras.ops.square(crop(axis) - base)
            squared = diff if squared is None else squared + diff
        per_pixel = _safe_pow(squared, self.beta / 2.0)
        tv = keras.ops.sum(per_pixel, axis=tuple(range(1, ndim)))
        return normalize(self.img, tv)


class LPNorm(Loss):
    """L-p norm regularizer: keeps the input's values bounded.

    The loss of a sample is `(sum |x| ** p) ** (1 / p)` over all its values,
    or `max |x|` for `p = float("inf")`, divided by the number of values.

    Args:
        img_input: The input Keras tensor, e.g. `model.input`.
        p: The order of the norm, at least 1; `float("inf")` for the
            infinity norm.

    Raises:
        TypeError: If `img_input` is not a Keras tensor or `p` is not a
            number.
        ValueError: If `p` is smaller than 1 (or NaN).
    """

    def __init__(self, img_input, p: float = 6.0) -> None:
        super().__init__()
        _check_keras_tensor(img_input, "LPNorm")
        if not _is_real_number(p):
            raise TypeError(f"`p` must be a number. Received: p={p!r} of type {type(p).__name__}")
        if not p >= 1:
            raise ValueError(f"`p` must be in [1, inf]. Received: p={p!r}")
        self.name = f"L-{p} Norm Loss"
        self.img = img_input
        self.img_input = img_input
        self.p = p

    def cache_key(self) -> tuple:
        """Instances on the same input with the same `p` share one compiled program."""
        return ("LPNorm", id(self.img), float(self.p))

    def build_loss(self):
        """Returns the L-p norm of each sample, normalised.

        Returns:
            A Keras tensor of shape `(batch,)`.
        """
        img = keras.ops.abs(keras.ops.cast(self.img, "float32"))
        axes = tuple(range(1, len(img.shape)))
        largest = keras.ops.max(img, axis=axes) if axes else img
        if math.isinf(self.p):
            return normalize(self.img, largest)
        if self.p == 1:
            return normalize(self.img, keras.ops.sum(img, axis=axes) if axes else img)
        # Computed as m * (sum (|x| / m) ** p) ** (1 / p) with m = max |x|, which
        # is the same norm but cannot overflow float32 for large p or large
        # pixel values. m is a constant for the gradient: the norm is
        # homogeneous of degree 1, so this gives exactly the norm's gradient.
        scale = keras.ops.stop_gradient(largest)
        safe_scale = keras.ops.where(scale > 0, scale, keras.ops.ones_like(scale))
        safe_scale = keras.ops.reshape(safe_scale, (-1,) + (1,) * len(axes))
        powered = keras.ops.power(img / safe_scale, self.p)
        total = keras.ops.sum(powered, axis=axes) if axes else powered
        value = keras.ops.reshape(safe_scale, (-1,)) * _safe_pow(total, 1.0 / self.p)
        return normalize(self.img, value)


def _safe_pow(x, exponent: float):
    """Returns `x ** exponent` for `x >= 0`, with a zero gradient where `x == 0`.

    A plain power has an infinite derivative at 0 when `exponent < 1` (and
    the chain rule then gives NaN), which happens for a constant image.
    Rather than adding an epsilon, which would change the values, zeros are
    replaced by ones before the power and the result is put back to 0, so
    the values are exact and the gradient there is 0 (a valid subgradient).
    """
    if exponent == 1:
        return x
    positive = x > 0
    safe_x = keras.ops.where(positive, x, keras.ops.ones_like(x))
    return keras.ops.where(positive, keras.ops.power(safe_x, exponent), keras.ops.zeros_like(x))


def _is_real_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_keras_tensor(img_input, owner: str) -> None:
    if not isinstance(img_input, keras.KerasTensor):
        if hasattr(img_input, "shape"):
            # An array's repr would flood the message: show what it is instead.
            received = f"img_input of type {type(img_input).__name__} with shape {tuple(img_input.shape)}"
        else:
            received = f"img_input={img_input!r} of type {type(img_input).__name__}"
        raise TypeError(
            f"`{owner}` expects `img_input` to be a symbolic Keras tensor such as `model.input` or "
            f"`keras.Input(...)`. Received: {received}"
        )
    if len(img_input.shape) < 1:
        raise TypeError(
            f"`{owner}` expects `img_input` to have a batch axis. "
            f"Received: img_input with shape {tuple(img_input.shape)}"
        )
