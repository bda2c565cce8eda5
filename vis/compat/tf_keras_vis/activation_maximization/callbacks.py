"""tf-keras-vis 0.8.7's callbacks of `ActivationMaximization`.

`ActivationMaximization.__call__` calls every callback's
`on_begin(**arguments)` (the arguments of the call, `callbacks` aside), then
after each step's update `callback(i, values, grads, scores, model_outputs,
regularizations=..., overall_score=...)` and at the end `on_end()`, also
when a step raises (`managed_callbacks`). vis's own callbacks
(`vis.callbacks`) take `(i, named_losses, overall_loss, grads, wrt_value)`
instead; `GifGenerator2D` writes its file with Pillow as vis's
`GifGenerator` does (tf-keras-vis used imageio).
"""

from __future__ import annotations

import warnings
from abc import ABC
from contextlib import contextmanager
from inspect import signature

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFont

from vis.compat.tf_keras_vis.activation_maximization._deprecation import deprecated_class
from vis.compat.tf_keras_vis.utils import listify


class Callback(ABC):  # noqa: B024 (as 0.8.7: abstract, every method optional)
    """Base class of the callbacks: every method does nothing."""

    def on_begin(self, **kwargs) -> None:  # noqa: B027
        """Called before the first step.

        Args:
            **kwargs: The arguments given to `ActivationMaximization.__call__` (`callbacks` aside).
        """

    def __call__(self, i, values, grads, scores, model_outputs, **kwargs) -> None:  # noqa: B027
        """Called after each step's update.

        Args:
            i: The step, from 0.
            values: The inputs after the update, clipped to `input_range`: a list, one per model input.
            grads: The gradients w.r.t. each input (after `gradient_modifier`).
            scores: Each model output's score, one value per sample.
            model_outputs: The model outputs (on the step's modified input).
            **kwargs: `regularizations`, a list of `(name, value)` pairs, and
                `overall_score`, the list of the negated scores and the regularization values.
        """

    def on_end(self) -> None:  # noqa: B027
        """Called after the last step."""


@deprecated_class(version="0.7.0", reason="Use `Progress` instead.")
class PrintLogger(Callback):
    """Prints the scores and regularization values every `interval` steps (deprecated: use `Progress`).

    Args:
        interval: The number of steps between prints. Defaults to 10.
    """

    def __init__(self, interval=10) -> None:
        self.interval = interval

    def __call__(self, i, values, grads, scores, model_outputs, regularizations, **kwargs) -> None:
        i += 1
        if i % self.interval == 0:
            scores, regularizations = self._tolist(scores), self._tolist(regularizations)
            tf.print(f"Steps: {i:03d}\tScores: {scores},\tRegularization: {regularizations}")

    def _tolist(self, ary):
        if isinstance(ary, (list, np.ndarray, np.generic)):
            return [self._tolist(e) for e in ary]
        if isinstance(ary, tuple):
            return tuple(self._tolist(e) for e in ary)
        if tf.is_tensor(ary):
            return ary.numpy().tolist()
        return ary


class GifGenerator2D(Callback):
    """Writes a GIF of the first image of each input's batch, one frame per step, captioned "Step N".

    Values are cast to uint8 as they are (with `input_range=(0, 255)` they are
    pixels). One file per model input is written to `path` (".gif" appended
    when missing); with several inputs the last one wins, as in tf-keras-vis.

    Args:
        path: The file path.
    """

    def __init__(self, path) -> None:
        self.path = path

    def on_begin(self, **kwargs) -> None:
        self.data = None

    def __call__(self, i, values, *args, **kwargs) -> None:
        if self.data is None:
            self.data = [[] for _ in range(len(values))]
        for n, value in enumerate(values):
            img = Image.fromarray(np.asarray(value[0]).astype(np.uint8))
            ImageDraw.Draw(img).text((10, 10), f"Step {i + 1}", font=ImageFont.load_default())
            self.data[n].append(np.asarray(img))

    def on_end(self) -> None:
        path = self.path if self.path.endswith(".gif") else f"{self.path}.gif"
        for frames in self.data or []:
            if frames:
                images = [Image.fromarray(frame) for frame in frames]
                images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)


class Progress(Callback):
    """Shows a `keras.utils.Progbar` with the scores and regularization values."""

    def on_begin(self, steps=None, **kwargs) -> None:
        self.progbar = keras.utils.Progbar(steps)

    def __call__(self, i, values, grads, scores, model_outputs, regularizations, **kwargs) -> None:
        if len(scores) > 1:
            scores = [(f"Score[{j}]", value) for j, value in enumerate(scores)]
        else:
            scores = [("Score", value) for value in scores]
        scores += regularizations
        # tf-keras-vis lists the regularizations twice; kept so the bar shows the same numbers.
        self.progbar.update(i + 1, scores + regularizations)


@contextmanager
def managed_callbacks(callbacks=None, **kwargs):
    """Begins the callbacks, yields them, and ends each one once, also when the body raises.

    Args:
        callbacks: A callback, a list of them or None.
        **kwargs: The arguments given to each `on_begin`.

    Yields:
        The list of the begun callbacks.
    """
    activated = []
    try:
        for c in listify(callbacks):
            if len(signature(c.on_begin).parameters) == 0:
                warnings.warn(
                    "`Callback#on_begin()` now must accept keyword arguments.",
                    DeprecationWarning,
                    stacklevel=3,
                )
                c.on_begin()
            else:
                c.on_begin(**kwargs)
            activated.append(c)
        yield activated
        while activated:
            activated.pop(0).on_end()
    finally:
        for c in activated:
            try:
                c.on_end()
            except Exception as error:  # noqa: BLE001 (the body's own error is the one to raise)
                tf.print("Exception args: ", error)
