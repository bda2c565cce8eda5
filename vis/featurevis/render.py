"""The render pipeline: parameters -> image -> transformed image, as the compiled step runs it.

`Renderer` puts the pieces together in lucid's order: the parametrisation
(`vis.featurevis.param`) decodes the parameters, the colour module
(`vis.featurevis.color`) mixes decorrelated channels and squashes the image
into `input_range`, and the transformations (`vis.featurevis.transforms`)
move it randomly before the model sees it. The optimizer loop
(`vis.optimizer_loop`) calls it inside the engine's gradient computation,
so the gradient reaches the parameters; `image` is the same pipeline without
the transformations: the result.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from vis.featurevis import color, param
from vis.featurevis import transforms as transforms_lib

ADAM_LEARNING_RATE = 0.05  # The step of the new parametrisations (lucid's Adam default).


class Renderer:
    """Turns parameters into model inputs for one image input.

    Args:
        shape: One input's shape, channels last, without the batch axis.
        input_range: The `(min, max)` range of the images.
        image_param: 'pixel' or 'fft' (see `vis.featurevis.param`).
        decay_power: The exponent of the Fourier parametrisation's 1/f scaling.
        decorrelate: Mix 3-channel images from decorrelated colour channels.
        transforms: 'robust', a list of transformations, or None.

    Raises:
        ValueError: For an unknown `image_param`, a bad shape or `decay_power`.
        TypeError: For bad `transforms`.
    """

    def __init__(
        self,
        shape: tuple,
        input_range: tuple,
        image_param="fft",
        decay_power=1.0,
        decorrelate=True,
        transforms=None,
    ) -> None:
        if isinstance(decay_power, bool) or not isinstance(decay_power, (int, float)) or decay_power < 0:
            raise ValueError(f"`decay_power` must be a number >= 0. Received: decay_power={decay_power!r}")
        self.shape, self.input_range = tuple(shape), tuple(input_range)
        self.param = param.get(image_param, self.shape, float(decay_power))
        self.mixes = color.mixes(self.shape[-1], decorrelate)
        self.transforms = transforms_lib.get(transforms, self.shape[:-1])
        self.fill_value = float(sum(self.input_range) / 2.0)
        self.flat = False  # A vector input `(batch, n)`, rendered as `(batch, n, 1)`.
        self.key = (image_param, float(decay_power), self.mixes, self.input_range, _key(transforms))

    def _image(self, params):
        images = self.param.decode(params)
        if self.mixes:
            images = color.to_rgb(images)
        return color.squash(images, self.input_range)

    def image(self, params):
        """The image of a batch of parameters, in `input_range` (TF ops; no transformation)."""
        images = self._image(params)
        return images[..., 0] if self.flat else images

    def __call__(self, params, seed):
        """The model input of a batch of parameters: `image`, then the transformations drawn from `seed`."""
        images = transforms_lib.apply(self.transforms, self._image(params), seed, self.fill_value)
        return images[..., 0] if self.flat else images

    def encode(self, images: np.ndarray) -> np.ndarray:
        """The parameters whose `image` is `images` (values clipped just inside `input_range`)."""
        images = np.asarray(images)[..., None] if self.flat else images
        pre = color.unsquash(images, self.input_range)
        if self.mixes:
            pre = color.from_rgb(pre)
        return self.param.encode(pre)

    def random(self, batch: int) -> np.ndarray:
        """Random starting parameters (numpy's global generator)."""
        return self.param.random(batch)

    def render(self, params) -> np.ndarray:
        """`image` as a numpy array (for the result)."""
        return np.asarray(self.image(tf.convert_to_tensor(params, tf.float32)))


def _key(transforms):
    """A cache key: equal for equal built-in transformation lists, the object's id otherwise."""
    if transforms is None or isinstance(transforms, str):
        return transforms
    return tuple(repr(t) if isinstance(t, transforms_lib.Geometric) else id(t) for t in transforms)


def renderer_for(input_tensors: list, input_ranges: list, wrt_is_input: bool, **options):
    """The `Renderer` of an `Optimizer`'s options, or None for the keras-vis pixel path.

    Args:
        input_tensors: The model's inputs (one, for the new options).
        input_ranges: Their `(min, max)` ranges.
        wrt_is_input: Whether the gradients are taken w.r.t. the input.
        **options: `image_param`, `decay_power`, `decorrelate`, `transforms`.

    Returns:
        None when `image_param='pixel'`, `decorrelate` is false and `transforms` None.

    Raises:
        ValueError: For several inputs, an intermediate `wrt_tensor`, an input
            of unknown size or rank other than 2 to 4, or channels-first data.
        TypeError: For a `decorrelate` that is not a bool.
    """
    if not isinstance(options["decorrelate"], (bool, np.bool_)):
        raise TypeError(
            f"`decorrelate` must be True or False. Received: decorrelate={options['decorrelate']!r}"
        )
    new = options["image_param"] != "pixel" or options["decorrelate"] or options["transforms"] is not None
    if not new:
        return None
    received = {k: v for k, v in options.items() if k != "decay_power"}
    shape = tuple(input_tensors[0].shape[1:])
    problem = None
    if len(input_tensors) != 1 or not wrt_is_input:
        problem = "one model input, differentiated w.r.t. the input (no `wrt_tensor`)"
    elif any(d is None for d in shape) or not 1 <= len(shape) <= 3:
        problem = f"an input of known size and rank 2 to 4; the input has shape {(None, *shape)}"
    elif len(shape) >= 2 and _channels_first():
        problem = "channels-last images (`keras.config.image_data_format()` is 'channels_first')"
    if problem:
        raise ValueError(f"The feature-visualization options {received} need {problem}.")
    shape = shape if len(shape) >= 2 else (*shape, 1)
    renderer = Renderer(shape, input_ranges[0], **options)
    renderer.flat = len(input_tensors[0].shape) == 2
    return renderer


def _channels_first() -> bool:
    import keras

    return keras.config.image_data_format() == "channels_first"
