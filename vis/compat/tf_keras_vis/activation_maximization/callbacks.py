"""tf-keras-vis 0.8.7's callbacks of `ActivationMaximization`.

Each gets `on_begin(**arguments of the call)`, then after each step
`callback(i, values, grads, scores, model_outputs, regularizations=...,
overall_score=...)`, and `on_end()` at the end, also when a step raises.
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

from vis.compat.tf_keras_vis.activation_maximization._legacy import deprecated_class
from vis.compat.tf_keras_vis.utils import listify


class Callback(ABC):  # noqa: B024 (as 0.8.7: abstract, every method optional)
    """Base class of the callbacks: every method does nothing."""

    def on_begin(self, **kwargs) -> None:  # noqa: B027
        """Called before the first step with the arguments of the call."""

    def __call__(self, i, values, grads, scores, model_outputs, **kwargs) -> None:  # noqa: B027
        """Called after step `i` with the clipped inputs, the gradients, the scores, the model outputs
        on the step's input, and `regularizations` (`(name, value)` pairs) and `overall_score`."""

    def on_end(self) -> None:  # noqa: B027
        """Called after the last step."""


@deprecated_class(version="0.7.0", reason="Use `Progress` instead.")
class PrintLogger(Callback):
    """Prints the scores and regularizations every `interval` steps.

    Args:
        interval: Defaults to 10.
    """

    def __init__(self, interval=10) -> None:
        self.interval = interval

    def __call__(self, i, values, grads, scores, model_outputs, regularizations, **kwargs) -> None:
        if (i + 1) % self.interval == 0:
            scores, regularizations = _tolist(scores), _tolist(regularizations)
            tf.print(f"Steps: {i + 1:03d}\tScores: {scores},\tRegularization: {regularizations}")


def _tolist(value):
    if isinstance(value, (list, np.ndarray, np.generic)):
        return [_tolist(e) for e in value]
    if isinstance(value, tuple):
        return tuple(_tolist(e) for e in value)
    return value.numpy().tolist() if tf.is_tensor(value) else value


class GifGenerator2D(Callback):
    """Writes a GIF of each input's first image, one frame per step captioned "Step N" (Pillow).

    Args:
        path: The file path (".gif" appended when missing); with several inputs the last one wins.
    """

    def __init__(self, path) -> None:
        self.path = path

    def on_begin(self, **kwargs) -> None:
        self.data = None

    def __call__(self, i, values, *args, **kwargs) -> None:
        self.data = self.data or [[] for _ in values]
        for frames, value in zip(self.data, values):
            img = Image.fromarray(np.asarray(value[0]).astype(np.uint8))
            ImageDraw.Draw(img).text((10, 10), f"Step {i + 1}", font=ImageFont.load_default())
            frames.append(img)

    def on_end(self) -> None:
        path = self.path if self.path.endswith(".gif") else f"{self.path}.gif"
        for frames in self.data or []:
            if frames:
                frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


class Progress(Callback):
    """Shows a `keras.utils.Progbar` with the scores and regularizations."""

    def on_begin(self, steps=None, **kwargs) -> None:
        self.progbar = keras.utils.Progbar(steps)

    def __call__(self, i, values, grads, scores, model_outputs, regularizations, **kwargs) -> None:
        names = [f"Score[{j}]" for j in range(len(scores))] if len(scores) > 1 else ["Score"] * len(scores)
        # tf-keras-vis lists the regularizations twice; kept so the bar shows the same numbers.
        self.progbar.update(i + 1, list(zip(names, scores)) + list(regularizations) * 2)


@contextmanager
def managed_callbacks(callbacks=None, **kwargs):
    """Begins the callbacks, yields them, and ends each one once, also when the body raises."""
    activated = []
    try:
        for c in listify(callbacks):
            if len(signature(c.on_begin).parameters) == 0:
                warnings.warn(
                    "`Callback#on_begin()` now must accept keyword arguments.", DeprecationWarning, 3
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
