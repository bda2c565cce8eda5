"""Image parametrisations: what the optimizer changes, and how it becomes an image.

Two parametrisations, as in Olah et al., "Feature Visualization" (Distill
2017), section "The Enemy of Feature Visualization":

- `Pixel`: the parameters are the (pre-colour) image itself.
- `Fourier`: the parameters are the real and imaginary parts of the image's
  real-FFT spectrum, one spectrum per channel, each frequency scaled by
  `1 / max(f, 1 / max(size)) ** decay_power`. Gradient steps of the same
  size then change low frequencies more than high ones (a 1/f prior, the
  spectrum of natural images), so the optimization finds features before
  high-frequency adversarial noise. The inverse real FFT runs inside the
  compiled step.

Images are channels last: `(batch, height, width, channels)` (2-D) or
`(batch, length, channels)` (1-D). The parameters are what `encode` returns;
`decode` maps them back to an image (before colour mixing and squashing,
see `vis.featurevis.color`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

INIT_STD = 0.01  # The standard deviation of random parameters (lucid's `sd`).


def frequencies(size: tuple) -> np.ndarray:
    """The magnitude of each frequency (cycles per sample) of a real FFT of `size` (1-D or 2-D).

    Args:
        size: `(length,)` or `(height, width)`.

    Returns:
        An array of the spectrum's shape: `(length // 2 + 1,)` or `(height, width // 2 + 1)`.
    """
    last = np.fft.rfftfreq(size[-1])
    if len(size) == 1:
        return np.abs(last)
    rows = np.fft.fftfreq(size[0])[:, None]
    return np.sqrt(rows**2 + last[None, :] ** 2)


def spectrum_scale(size: tuple, decay_power: float = 1.0) -> np.ndarray:
    """`1 / max(f, 1 / max(size)) ** decay_power`, times `sqrt(prod(size))` (an orthonormal inverse FFT).

    Args:
        size: `(length,)` or `(height, width)`.
        decay_power: The exponent of the 1/f decay (0: a flat spectrum, as pixels).

    Returns:
        A float32 array of the spectrum's shape.
    """
    floor = 1.0 / max(size)
    return (np.sqrt(np.prod(size)) / np.maximum(frequencies(size), floor) ** decay_power).astype("float32")


class Pixel:
    """The parameters are the image: `decode` and `encode` are the identity.

    Args:
        shape: One image's shape, channels last (no batch axis).
    """

    name = "pixel"

    def __init__(self, shape: tuple) -> None:
        self.shape = tuple(shape)
        self.param_shape = self.shape

    def decode(self, params):
        """Returns the image the parameters stand for (a tensor)."""
        return params

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Returns the parameters of a batch of images (the inverse of `decode`)."""
        return np.asarray(images, "float32")

    def random(self, batch: int) -> np.ndarray:
        """Random pre-colour pixels: normal, standard deviation `INIT_STD` (numpy's global generator)."""
        return np.random.normal(0.0, INIT_STD, (batch, *self.param_shape)).astype("float32")


class Fourier:
    """The parameters are a 1/f-scaled real-FFT spectrum per channel.

    Args:
        shape: One image's shape, channels last (no batch axis): `(H, W, C)`
            or `(L, C)`.
        decay_power: The exponent of the 1/f scaling (default 1.0, lucid's).

    Raises:
        ValueError: For a shape with fewer than 1 or more than 2 spatial axes.
    """

    name = "fft"

    def __init__(self, shape: tuple, decay_power: float = 1.0) -> None:
        self.shape = tuple(int(d) for d in shape)
        self.size, channels = self.shape[:-1], self.shape[-1]
        if len(self.size) not in (1, 2):
            raise ValueError(
                "`image_param='fft'` needs a 1-D or 2-D input with channels last (rank 3 or 4 with the "
                f"batch axis). Received: an input of shape {(None, *self.shape)}"
            )
        self.scale = spectrum_scale(self.size, decay_power)
        self.param_shape = (channels, *self.scale.shape, 2)  # Real and imaginary parts last.

    def decode(self, params):
        """Returns the images, channels last, of a batch of parameters (inverse real FFT, in TF ops)."""
        spectrum = tf.complex(params[..., 0], params[..., 1]) * tf.cast(self.scale, tf.complex64)
        if len(self.size) == 1:
            images = tf.signal.irfft(spectrum, fft_length=self.size)
            return tf.transpose(images, [0, 2, 1])
        images = tf.signal.irfft2d(spectrum, fft_length=self.size)
        return tf.transpose(images, [0, 2, 3, 1])

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Returns the parameters whose `decode` is the batch of `images` (numpy)."""
        images = np.asarray(images, "float64")
        first = np.moveaxis(images, -1, 1)  # (batch, channels, *size)
        axes = (-1,) if len(self.size) == 1 else (-2, -1)
        spectrum = np.fft.rfftn(first, axes=axes) / self.scale
        return np.stack([spectrum.real, spectrum.imag], axis=-1).astype("float32")

    def random(self, batch: int) -> np.ndarray:
        """Random parameters: normal, standard deviation `INIT_STD` (numpy's global generator)."""
        return np.random.normal(0.0, INIT_STD, (batch, *self.param_shape)).astype("float32")


def get(image_param: str, shape: tuple, decay_power: float = 1.0):
    """Returns the parametrisation named `image_param` ('pixel' or 'fft') for images of `shape`.

    Raises:
        ValueError: For another name.
    """
    if image_param == "fft":
        return Fourier(shape, decay_power)
    if image_param == "pixel":
        return Pixel(shape)
    raise ValueError(f"`image_param` must be 'pixel' or 'fft'. Received: image_param={image_param!r}")
