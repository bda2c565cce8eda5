"""Callbacks of `Optimizer.minimize`: printing, progress bars and GIFs of the optimization.

`minimize` calls `callback(i, named_losses, overall_loss, grads, wrt_value)`
after each step's gradients (numpy values) and `on_end()` once at the end.
Giving any callback makes `minimize` fetch those values from the device at
every step, so the loop runs a little slower than without callbacks.
"""

from __future__ import annotations

import functools
import math
import os
import pprint

import keras
import numpy as np
from PIL import Image, ImageFont

from vis.utils import utils


class OptimizerCallback:
    """Base class of the callbacks given to `Optimizer.minimize`."""

    def on_begin(self, max_iter: int) -> None:
        """Called once before the first step with the number of steps (does nothing here)."""

    def callback(self, i, named_losses, overall_loss, grads, wrt_value) -> None:
        """Called after the gradients of step `i` are computed.

        Args:
            i: The step, from 0.
            named_losses: List of `(loss_name, weighted_loss_value)` pairs;
                values are floats for one input, arrays for a batch.
            overall_loss: The weighted sum of the losses.
            grads: The gradients w.r.t. `wrt_tensor` (after the grad modifier),
                with the batch axis.
            wrt_value: The value of `wrt_tensor` (the input by default), with
                the batch axis.
        """
        raise NotImplementedError()

    def on_end(self) -> None:
        """Called once after the last step, e.g. to close files."""


class Print(OptimizerCallback):
    """Prints every step's named losses and overall loss, as keras-vis did."""

    def callback(self, i, named_losses, overall_loss, grads, wrt_value) -> None:
        print(
            f"Iteration: {i + 1}, named_losses: {pprint.pformat(named_losses)}, overall loss: {overall_loss}"
        )


class ProgressBar(OptimizerCallback):
    """Shows a `keras.utils.Progbar` with the losses, for long runs.

    Args:
        verbose: Progbar verbosity: 1 for a bar, 2 for one line at the end.
    """

    def __init__(self, verbose: int = 1) -> None:
        self.verbose = verbose
        self._bar = None

    def on_begin(self, max_iter: int) -> None:
        self._bar = keras.utils.Progbar(max_iter, verbose=self.verbose, unit_name="step")

    def callback(self, i, named_losses, overall_loss, grads, wrt_value) -> None:
        if self._bar is None:
            self._bar = keras.utils.Progbar(None, verbose=self.verbose, unit_name="step")
        values = [(name, float(np.mean(value))) for name, value in named_losses]
        self._bar.update(i + 1, values=values + [("overall", float(np.mean(overall_loss)))])

    def on_end(self) -> None:
        self._bar = None


class GifGenerator(OptimizerCallback):
    """Writes an animated GIF of the optimized input, one frame per step, with Pillow.

    Each frame is the first sample of `wrt_value` rescaled with
    `utils.deprocess_input` to 8 bits and captioned "Step N" (in DejaVu Sans,
    the font that ships with matplotlib). Images smaller than 128 pixels are
    enlarged (nearest neighbour) so the caption stays legible. The file is
    written by `on_end`, in one call: colour frames share one 256-colour
    palette, made once from a sample of the frames (quantising each frame on
    its own took Pillow about 0.2 s per 224x224 frame).

    Args:
        path: The file path; ".gif" is appended when missing.
        input_range: The `(min, max)` range of the input (kept for keras-vis
            compatibility: frames are always written as 8-bit images).

    Raises:
        FileNotFoundError: If the folder of `path` does not exist.
    """

    def __init__(self, path, input_range=(0, 255)) -> None:
        path = os.fspath(path)
        if not path.endswith(".gif"):
            path += ".gif"
        folder = os.path.dirname(path)
        if folder and not os.path.isdir(folder):
            raise FileNotFoundError(f"The folder of the GIF does not exist. Received: path={path!r}")
        self.path = path
        self.input_range = input_range
        self._frames: list[np.ndarray] = []

    def callback(self, i, named_losses, overall_loss, grads, wrt_value) -> None:
        img = np.asarray(wrt_value[0])
        if img.ndim == 3 and keras.config.image_data_format() == "channels_first":
            img = np.moveaxis(img, 0, -1)
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] not in (1, 3, 4)):
            raise ValueError(
                f"`GifGenerator` needs 2D images (rows, cols[, 1, 3 or 4 channels]). "
                f"Received: wrt_value with shape {np.shape(wrt_value)}"
            )
        img = np.clip(utils.deprocess_input(img, (0, 255)), 0, 255).astype("uint8")
        if img.ndim == 3 and img.shape[-1] != 3:
            img = img[..., 0] if img.shape[-1] == 1 else img[..., :3]  # A GIF has no alpha channel.
        factor = max(1, math.ceil(128 / min(img.shape[:2])))
        img = np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)
        self._frames.append(utils.draw_text(img, f"Step {i + 1}", font=_caption_font(), font_size=14))

    def on_end(self) -> None:
        if not self._frames:
            return
        frames = _gif_frames(self._frames)
        frames[0].save(self.path, save_all=True, append_images=frames[1:], duration=100, loop=0)
        self._frames = []


@functools.lru_cache(maxsize=1)
def _caption_font(size: int = 14):
    """DejaVu Sans, the TrueType font that ships with matplotlib (Pillow's default font if it is missing)."""
    import matplotlib

    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return ImageFont.load_default(size=size)


def _gif_frames(frames: list[np.ndarray]) -> list[Image.Image]:
    """Pillow images of uint8 frames: grayscale as they are, colour ones mapped to one shared palette.

    The palette is made once (median cut) from up to 16 frames spread over the
    run, with black kept exactly for the captions.
    """
    if frames[0].ndim == 2:
        return [Image.fromarray(frame) for frame in frames]
    sample = frames[:: max(1, len(frames) // 16)][:16]
    mosaic = Image.fromarray(np.concatenate(sample, axis=0))
    palette = mosaic.quantize(255, method=Image.Quantize.MEDIANCUT)
    colours = palette.getpalette()[: 255 * 3] + [0, 0, 0]
    palette.putpalette(colours)
    return [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]


def check_callbacks(callbacks) -> list:
    """Returns the callbacks as a new list after checking each has `callback` and `on_end`.

    Raises:
        TypeError: Naming the first object without those methods.
    """
    callbacks = list(utils.listify(callbacks)) if callbacks is not None else []
    for c in callbacks:
        if not (callable(getattr(c, "callback", None)) and callable(getattr(c, "on_end", None))):
            raise TypeError(
                "Each of `callbacks` needs `callback(i, named_losses, overall_loss, grads, wrt_value)` "
                "and `on_end()` methods (see `vis.callbacks.OptimizerCallback`). "
                f"Received: callbacks containing {c!r}"
            )
    return callbacks
