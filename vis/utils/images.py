"""Image helpers of keras-vis `vis.utils.utils`, re-exported from there.

Array helpers: deprocessing, stitching, loading, text, normalisation (the
data-format helpers `get_img_shape` and `slicer` are in `vis.utils.data_format`).
None modifies its input.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import os
import urllib.request

import keras
import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

logger = logging.getLogger(__name__)

_URL_PREFIXES = ("http://", "https://", "ftp://")


def _float_dtype(array: np.ndarray) -> np.dtype:
    """Returns `array`'s dtype if it is a float type, else Keras' `floatx`."""
    if np.issubdtype(array.dtype, np.floating):
        return array.dtype
    return np.dtype(keras.config.floatx())


def _check_range(name: str, value) -> tuple:
    """Checks that `value` is a `(low, high)` pair with `low < high`."""
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not value[0] < value[1]:
        raise ValueError(f"`{name}` must be a `(min, max)` pair with min < max. Received: {name}={value!r}")
    return tuple(value)


def deprocess_input(input_array, input_range=(0, 255)) -> np.ndarray:
    """Scales `input_array` to `input_range`, throwing away high-frequency artifacts.

    The array is standardised to mean 0 and standard deviation 0.1, shifted by
    0.5, clipped to [0, 1] and finally scaled to `input_range`. The caller's
    array is not modified.

    Args:
        input_array: An N-dimensional array (numpy or anything `np.asarray` takes).
        input_range: The `(min, max)` range of the result.

    Returns:
        A new float array (the input's float dtype, else `floatx`) in `input_range`.

    Raises:
        ValueError: If `input_range` is not a `(min, max)` pair with min < max.
    """
    low, high = _check_range("input_range", input_range)
    array = np.asarray(input_array)
    array = np.array(array, dtype=_float_dtype(array), copy=True)
    array -= array.mean()
    array /= array.std() + keras.config.epsilon()
    array *= 0.1
    array += 0.5
    array = np.clip(array, 0, 1)
    return ((high - low) * array + low).astype(array.dtype, copy=False)


def stitch_images(images, margin: int = 5, cols: int = 5) -> np.ndarray | None:
    """Stitches same-shape images into a grid separated by black margins.

    Args:
        images: A sequence of images of identical shape `(rows, cols, ...)`
            (or an array with the images on its first axis).
        margin: The width in pixels of the black border between images.
        cols: The maximum number of images per grid row; further images start
            a new row.

    Returns:
        One array in the dtype of `images[0]`, or None when `images` is empty
        (as in keras-vis).

    Raises:
        ValueError: If `margin` < 0, `cols` < 1, or the images differ in shape
            or have fewer than 2 dimensions.
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or margin < 0:
        raise ValueError(f"`margin` must be an int >= 0. Received: margin={margin!r}")
    if isinstance(cols, bool) or not isinstance(cols, (int, np.integer)) or cols < 1:
        raise ValueError(f"`cols` must be an int >= 1. Received: cols={cols!r}")
    if len(images) == 0:
        return None
    arrays = [np.asarray(image) for image in images]
    shape = arrays[0].shape
    if len(shape) < 2:
        raise ValueError(f"Each image needs at least 2 dimensions. Received: images[0].shape={shape}")
    for idx, array in enumerate(arrays):
        if array.shape != shape:
            raise ValueError(
                f"All images must have the same shape. Received: images[0].shape={shape}, "
                f"images[{idx}].shape={array.shape}"
            )
    h, w = shape[:2]
    n_rows = int(math.ceil(len(arrays) / cols))
    n_cols = min(len(arrays), cols)
    out_h = n_rows * h + (n_rows - 1) * margin
    out_w = n_cols * w + (n_cols - 1) * margin
    stitched = np.zeros((out_h, out_w) + shape[2:], dtype=arrays[0].dtype)
    for idx, array in enumerate(arrays):
        top = (idx // cols) * (h + margin)
        left = (idx % cols) * (w + margin)
        stitched[top : top + h, left : left + w] = array
    return stitched


def _open_image(path) -> Image.Image:
    """Opens `path` (a file path or an http(s)/ftp URL) with Pillow."""
    source = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(source, (str, bytes)):
        raise TypeError(f"`path` must be a file path or URL string. Received: path={path!r}")
    if isinstance(source, str) and source.lower().startswith(_URL_PREFIXES):
        with urllib.request.urlopen(source, timeout=60) as response:
            source = io.BytesIO(response.read())
    elif not os.path.isfile(source):
        raise FileNotFoundError(f"No image file found at path={path!r}")
    try:
        image = Image.open(source)
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"Could not read an image from path={path!r}: {error}") from error
    return image


def load_img(path, grayscale: bool = False, target_size=None) -> np.ndarray:
    """Loads an image from disk (or an http(s) URL, as keras-vis' skimage did).

    Args:
        path: The image file path, or a URL.
        grayscale: True to return a grayscale image.
        target_size: `(height, width)` to resize the image to (bilinear), or None.

    Returns:
        A uint8 numpy array `(height, width, 3)`, or `(height, width)` if `grayscale`.

    Raises:
        FileNotFoundError: If no file exists at `path`.
        ValueError: If the file is not a readable image or `target_size` is invalid.
        TypeError: If `path` is not a string or path-like.
    """
    if target_size is not None:
        valid = isinstance(target_size, (tuple, list)) and len(target_size) == 2
        if not valid or not all(isinstance(v, (int, np.integer)) and v > 0 for v in target_size):
            raise ValueError(
                f"`target_size` must be a `(height, width)` pair of positive ints. "
                f"Received: target_size={target_size!r}"
            )
    image = _open_image(path).convert("L" if grayscale else "RGB")
    if target_size is not None:
        image = image.resize((int(target_size[1]), int(target_size[0])), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8).copy()


def _load_font(font, font_size: int):
    """Returns a Pillow font for `font`, or Pillow's default font if it is missing."""
    if isinstance(font, ImageFont.ImageFont | ImageFont.FreeTypeFont):
        return font
    return _font_file(font, font_size)


@functools.lru_cache(maxsize=16)
def _font_file(font: str, font_size: int):
    """Loads a font file once per size (a GIF draws text on every frame); warns once if missing."""
    try:
        return ImageFont.truetype(font, font_size)
    except OSError:
        logger.warning("Failed to load font %r, falling back to Pillow's default font.", font)
        return ImageFont.load_default(size=font_size)


def draw_text(
    img, text, position=(10, 10), font="FreeSans.ttf", font_size: int = 14, color=(0, 0, 0)
) -> np.ndarray:
    """Draws `text` over an image with Pillow.

    Args:
        img: A uint8 image `(rows, cols, 3 or 4)`, `(rows, cols, 1)` or `(rows, cols)`.
        text: The text. A list or tuple (e.g. from `lookup_imagenet_labels`) is joined with ", ".
        position: The `(x, y)` position of the text's top-left corner.
        font: A TrueType/OpenType font file name or path, or a Pillow font. When the
            file cannot be found, Pillow's default font of `font_size` is used.
        font_size: The font size.
        color: The `(r, g, b)` text colour (its luminance on grayscale images).

    Returns:
        A new uint8 array of the same shape with the text drawn; `img` is untouched.

    Raises:
        TypeError: If `img` is not uint8.
        ValueError: If `img` does not have an image shape.
    """
    array = np.asarray(img)
    if array.dtype != np.uint8:
        raise TypeError(f"`img` must be a uint8 array. Received: img with dtype={array.dtype}")
    squeeze = array.ndim == 3 and array.shape[-1] == 1
    if squeeze:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"`img` must be a 2D or RGB(A) image. Received: img.shape={np.shape(img)}")
    if isinstance(text, (list, tuple)):
        text = ", ".join(str(item) for item in text)
    image = Image.fromarray(np.ascontiguousarray(array))
    fill = tuple(int(c) for c in color)
    if image.mode == "L" and len(fill) >= 3:
        fill = (fill[0] * 299 + fill[1] * 587 + fill[2] * 114) // 1000
    ImageDraw.Draw(image).text(tuple(position), str(text), fill=fill, font=_load_font(font, font_size))
    result = np.array(image, dtype=np.uint8)
    return result[..., np.newaxis] if squeeze else result


def bgr2rgb(img) -> np.ndarray:
    """Converts an RGB image to BGR and vice versa (reverses the last axis).

    Args:
        img: An array whose last axis holds the colour channels.

    Returns:
        A new array with the channel order reversed.
    """
    return np.array(np.asarray(img)[..., ::-1])


def normalize(array, min_value: float = 0.0, max_value: float = 1.0) -> np.ndarray:
    """Min-max normalises `array` to `[min_value, max_value]`.

    Args:
        array: An array (numpy or anything `np.asarray` takes).
        min_value: The value the array's minimum maps to.
        max_value: The value the array's maximum maps to.

    Returns:
        A new float array. A constant array maps to all `min_value` (never NaN).

    Raises:
        ValueError: If `min_value` > `max_value`.
    """
    if not min_value <= max_value:
        raise ValueError(
            f"`min_value` must be <= `max_value`. Received: min_value={min_value!r}, max_value={max_value!r}"
        )
    array = np.asarray(array)
    array = array.astype(_float_dtype(array), copy=True)
    low, high = np.min(array), np.max(array)
    span = high - low
    scaled = (array - low) / span if span > 0 else np.zeros_like(array)
    return ((max_value - min_value) * scaled + min_value).astype(array.dtype, copy=False)


__all__ = [
    "bgr2rgb",
    "deprocess_input",
    "draw_text",
    "load_img",
    "normalize",
    "stitch_images",
]
