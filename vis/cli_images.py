"""`vis saliency|cam MODEL IMAGES...`: maps of image files, folders and globs, in batches.

Images are read with Pillow, resized to the model's input and run through the
map method `--batch-size` at a time; each image gets an overlay PNG of its own
size and its map as `.npy` (or all maps in one stacked `.npy` with `--stack`).
A file that cannot be read is skipped with a warning naming it, and counted at
the end: the other images are all written. The map method is `--method`'s
function for `vis cam` (`cam_method`), `--smooth` SmoothGrad for `vis saliency`.
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np

_SHOWN = 20  # Up to this many images, each one's predicted class is printed.


CAM_METHODS = ("gradcam", "gradcam++", "layercam", "scorecam")


def cam_method(name: str):
    """The map function of a `vis cam --method` name.

    Raises:
        ValueError: For a name that is not one of `CAM_METHODS`.
    """
    if name not in CAM_METHODS:
        raise ValueError(
            f"unknown --method {name!r}: use one of {', '.join(CAM_METHODS)}. Received: method={name!r}"
        )
    from vis.visualization import methods

    return methods.get(name)


def load_image(path: str, shape: tuple[int, int, int], scale: float, quiet: bool = False):
    """Returns `(original_rgb_uint8, model_input_float32)` for one image file.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not a readable image.
    """
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
    """Writes `heatmap` (a [0, 1] map) resized to `original`'s size, jet-coloured and blended onto it."""
    from PIL import Image

    from vis.utils.colors import colorize
    from vis.visualization import overlay

    height, width = original.shape[:2]
    resized = Image.fromarray(np.asarray(heatmap, dtype="float32"), mode="F")
    resized = np.clip(np.asarray(resized.resize((width, height), Image.Resampling.BILINEAR)), 0.0, 1.0)
    Image.fromarray(overlay(original, colorize(resized), alpha=0.5)).save(path)


def expand(specs: list[str]) -> list[str]:
    """The image files that the command's IMAGE arguments name: files, folders (their files) and globs.

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


def read(paths: list[str], shape: tuple, scale: float, command: str) -> tuple[list, list, np.ndarray | None]:
    """Reads images; returns `(kept paths, originals, model inputs)`; unreadable files are skipped."""

    kept, originals, pixels = [], [], []
    for path in paths:
        try:
            original, x = load_image(path, shape, scale, quiet=len(paths) > _SHOWN)
        except (ValueError, OSError) as error:
            print(f"vis {command}: warning: skipping {path}: {error}", file=sys.stderr)
            continue
        kept.append(path)
        originals.append(original)
        pixels.append(x)
    return kept, originals, (np.stack(pixels) if pixels else None)


def attention(args, model, layer_index: int, shape: tuple) -> list[str]:
    """Writes the overlay and map of each image; returns the written paths.

    One batch runs eagerly (nothing is compiled for a single call); more
    batches compile in the background after the first (see `vis.engine.compiling`).

    Raises:
        ValueError: If no image could be read.
    """
    from vis.engine import compiling

    paths = expand(args.images)
    with compiling.policy("eager" if len(paths) <= args.batch_size else "auto"):
        return _attention(args, model, layer_index, shape, paths)


def _attention(args, model, layer_index: int, shape: tuple, paths: list[str]) -> list[str]:
    import keras

    from vis.cli import output_layer_index
    from vis.streaming import apply_batch, predicted
    from vis.streaming_data import NpyWriter

    function, kwargs = method_of(args)
    layer = model.layers[layer_index]
    bar = keras.utils.Progbar(len(paths), verbose=1 if len(paths) > _SHOWN else 0, unit_name="image")
    stack = NpyWriter(os.path.join(args.out, f"{suffix_of(args)}_maps.npy")) if args.stack else None
    written, stacked, skipped, done = [], [], 0, 0
    for start in range(0, len(paths), args.batch_size):
        chunk = paths[start : start + args.batch_size]
        kept, originals, x = read(chunk, shape, args.scale, args.command)
        skipped, done = skipped + len(chunk) - len(kept), done + len(chunk)
        if x is None:
            bar.update(done)
            continue
        target = args.class_index
        if target is None and layer_index == output_layer_index(model):
            classes = predicted(model, layer, x)
            for path, k in zip(kept, classes[:_SHOWN] if len(paths) <= _SHOWN else []):
                print(f"{path}: predicted class {k}")
            target = classes
        maps = apply_batch(function, model, layer, target, x, kwargs)
        for path, original, heatmap in zip(kept, originals, maps):
            stem = os.path.join(args.out, f"{os.path.splitext(os.path.basename(path))[0]}_{suffix_of(args)}")
            save_overlay(heatmap, original, stem + ".png")
            written.append(stem + ".png")
            if stack is None:
                np.save(stem + ".npy", heatmap)
                written.append(stem + ".npy")
        if stack is not None:
            stack.add(np.asarray(maps))
            stacked.extend(kept)
        bar.update(done)
    if not written:
        raise ValueError(f"none of the {len(paths)} image files could be read (see the warnings above)")
    if stack is not None:
        stack.close()
        with open(os.path.join(args.out, f"{suffix_of(args)}_maps.txt"), "w", encoding="utf-8") as listing:
            listing.write("".join(f"{path}\n" for path in stacked))
        written += [stack.path, listing.name]
    if skipped:
        print(
            f"vis {args.command}: warning: skipped {skipped} of {len(paths)} files (not readable images)",
            file=sys.stderr,
        )
    return written


def method_of(args):
    """The map method (`vis.visualization.methods`) and its keywords for the command's options."""
    from vis.visualization import methods

    if args.command == "saliency":
        return methods.get("saliency"), {"backprop_modifier": args.backprop, "smooth_samples": args.smooth}
    if args.command == "ig":
        return methods.get("ig"), {"baseline": args.baseline, "steps": args.steps}
    spec = args.penultimate
    penultimate = int(spec) if spec is not None and spec.lstrip("-").isdigit() else spec
    return cam_method(args.method), {"penultimate_layer_idx": penultimate, "backprop_modifier": args.backprop}


def suffix_of(args) -> str:
    """The file-name suffix of the command's maps: the command, or the CAM method other than grad-CAM."""
    return args.method if args.command == "cam" and args.method != "gradcam" else args.command
