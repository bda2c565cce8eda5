"""The image files of the `vis` commands: finding them (files, folders, globs), reading, writing overlays.

Images are read with Pillow and resized to the model's input; a file that
cannot be read is skipped with a warning naming it (`read`). numpy and vis's
image helpers are imported when an image is read, not with this module.
"""

from __future__ import annotations

import glob
import os
import sys

SHOWN = 20  # Up to this many images, each one's predicted class (and each resize) is printed.


def load_image(path: str, shape: tuple[int, int, int], scale: float, quiet: bool = False):
    """Reads one image file as it is and as the model's input.

    Args:
        path: The image file.
        shape: The model's input `(height, width, channels)`.
        scale: The pixel scale factor.
        quiet: Whether to print no note when the image is resized.

    Returns:
        `(original_rgb_uint8, model_input_float32)`.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not a readable image.
    """
    import numpy as np

    from vis.utils.utils import load_img

    original = load_img(path)
    height, width, channels = shape
    if original.shape[:2] != (height, width) and not quiet:
        print(
            f"note: {path} is {original.shape[1]}x{original.shape[0]} pixels; resized to the model's "
            f"{width}x{height} input (maps are resized back for the overlay)"
        )
    pixels = load_img(path, grayscale=channels == 1, target_size=(height, width))
    pixels = pixels[..., None] if channels == 1 else pixels
    return original, (pixels.astype("float32") * np.float32(scale))


def save_overlay(heatmap, original, path: str) -> None:
    """Writes `heatmap` resized to `original`'s size, jet-coloured and blended onto it, as an image file.

    Args:
        heatmap: A map in [0, 1] `(rows, cols)`.
        original: The uint8 RGB image the map is of.
        path: The file to write (PNG).
    """
    import numpy as np
    from PIL import Image

    from vis.utils.colors import colorize
    from vis.visualization import overlay

    height, width = original.shape[:2]
    resized = Image.fromarray(np.asarray(heatmap, dtype="float32"), mode="F")
    resized = np.clip(np.asarray(resized.resize((width, height), Image.Resampling.BILINEAR)), 0.0, 1.0)
    Image.fromarray(overlay(original, colorize(resized), alpha=0.5)).save(path)


def expand(specs: list[str]) -> list[str]:
    """The image files that the command's IMAGE arguments name: files, folders (their files) and globs.

    Args:
        specs: The IMAGE arguments.

    Returns:
        The files, in order (a folder's and a glob's sorted).

    Raises:
        FileNotFoundError: If a file, folder or glob names nothing.
    """
    paths = []
    for spec in specs:
        if os.path.isdir(spec):
            found = sorted(
                os.path.join(spec, name)
                for name in os.listdir(spec)
                if os.path.isfile(os.path.join(spec, name))
            )
        elif os.path.isfile(spec):
            found = [spec]
        else:
            found = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
        if not found:
            what = "folder holds no files" if os.path.isdir(spec) else "image file not found"
            raise FileNotFoundError(f"{what}: {spec}")
        paths.extend(found)
    return paths


def read(paths: list[str], shape: tuple, scale: float, command: str) -> tuple[list, list, object]:
    """Reads images; unreadable files are skipped with a warning on stderr.

    Args:
        paths: The image files.
        shape: The model's input `(height, width, channels)`.
        scale: The pixel scale factor.
        command: The command's name, for the warnings.

    Returns:
        `(kept paths, originals, model inputs)`: the inputs stacked in one array, or None if none was read.
    """
    import numpy as np

    kept, originals, pixels = [], [], []
    for path in paths:
        try:
            original, x = load_image(path, shape, scale, quiet=len(paths) > SHOWN)
        except (ValueError, OSError) as error:
            print(f"vis {command}: warning: skipping {path}: {error}", file=sys.stderr)
            continue
        kept.append(path)
        originals.append(original)
        pixels.append(x)
    return kept, originals, (np.stack(pixels) if pixels else None)
