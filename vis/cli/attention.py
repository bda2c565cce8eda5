"""`vis saliency|ig|cam MODEL IMAGES...`: maps of image files, folders and globs, in batches.

Images are run through the map method `--batch-size` at a time; each image
gets an overlay PNG of its own size and its map as `.npy` (or all maps in one
stacked `.npy` with `--stack`). A file that cannot be read is skipped with a
warning naming it, and counted at the end: the other images are all written.
The map method is `--method`'s function for `vis cam` (`cam_method`),
`--smooth` SmoothGrad for `vis saliency`, Integrated Gradients for `vis ig`.
"""

from __future__ import annotations

import argparse
import os
import sys

from vis.cli import images, model
from vis.cli.parser import CAM_METHODS


def check_cam_method(name: str) -> None:
    """Checks a `vis cam --method` name (without importing TensorFlow).

    Args:
        name: The method's name.

    Raises:
        ValueError: For a name that is not one of `CAM_METHODS`.
    """
    if name not in CAM_METHODS:
        raise ValueError(
            f"unknown --method {name!r}: use one of {', '.join(CAM_METHODS)}. Received: --method {name}"
        )


def cam_method(name: str):
    """The map function of a `vis cam --method` name.

    Args:
        name: One of `CAM_METHODS`.

    Returns:
        The method's function (`vis.visualization.methods`).

    Raises:
        ValueError: For a name that is not one of `CAM_METHODS`.
    """
    check_cam_method(name)
    from vis.visualization import methods

    return methods.get(name)


def run(args: argparse.Namespace) -> None:
    """Runs `vis saliency|ig|cam` on a saved model and prints where the files went.

    Args:
        args: The parsed command line.

    Raises:
        FileNotFoundError: For a missing model or image file.
        ValueError: For an unreadable model, no readable image, an unknown layer or a bad option.
    """
    if args.command == "cam":
        check_cam_method(args.method)
    loaded = model.load_model(args.model_file)
    if not args.images:
        raise ValueError(f"give at least one IMAGE file: vis {args.command} MODEL_FILE IMAGE [IMAGE ...]")
    paths = images.expand(args.images)  # Missing files fail before any work.
    layer_index = model.resolve_layer(loaded, args.layer)
    shape = model.input_shape(loaded)
    if getattr(args, "method", None) != "scorecam":  # Score-CAM weighs by the probabilities of a softmax.
        loaded = model.linear_head(loaded, layer_index)
    with model.output_folder(args.out):
        written = attention(args, loaded, layer_index, shape, paths)
    print(f"Wrote {len(written)} files to {os.path.abspath(args.out)}")


def attention(args, keras_model, layer_index: int, shape: tuple, paths: list[str]) -> list[str]:
    """Writes the overlay and map of each image; returns the written paths.

    One batch runs eagerly (nothing is compiled for a single batch); with more
    batches, each program compiles at its second call (see `vis.engine.compiling`).

    Args:
        args: The parsed command line.
        keras_model: The model (its softmax swapped for a linear head).
        layer_index: The index of the layer to explain.
        shape: The model's input `(height, width, channels)`.
        paths: The image files.

    Returns:
        The written files.

    Raises:
        ValueError: If no image could be read.
    """
    from vis.engine import compiling

    with compiling.policy("eager" if len(paths) <= args.batch_size else "auto"):
        return _attention(args, keras_model, layer_index, shape, paths)


def _attention(args, keras_model, layer_index: int, shape: tuple, paths: list[str]) -> list[str]:
    import keras
    import numpy as np

    from vis.streaming import apply_batch, predicted
    from vis.streaming_data import NpyWriter

    function, kwargs = method_of(args)
    layer = keras_model.layers[layer_index]
    bar = keras.utils.Progbar(len(paths), verbose=1 if len(paths) > images.SHOWN else 0, unit_name="image")
    stack = NpyWriter(os.path.join(args.out, f"{suffix_of(args)}_maps.npy")) if args.stack else None
    written, stacked, skipped, done = [], [], 0, 0
    for start in range(0, len(paths), args.batch_size):
        chunk = paths[start : start + args.batch_size]
        kept, originals, x = images.read(chunk, shape, args.scale, args.command)
        skipped, done = skipped + len(chunk) - len(kept), done + len(chunk)
        if x is None:
            bar.update(done)
            continue
        target = args.class_index
        if target is None and layer_index == model.output_layer_index(keras_model):
            classes = predicted(keras_model, layer, x)
            for path, k in zip(kept, classes[: images.SHOWN] if len(paths) <= images.SHOWN else []):
                print(f"{path}: predicted class {k}")
            target = classes
        maps = apply_batch(function, keras_model, layer, target, x, kwargs)
        for path, original, heatmap in zip(kept, originals, maps):
            stem = os.path.join(args.out, f"{os.path.splitext(os.path.basename(path))[0]}_{suffix_of(args)}")
            images.save_overlay(heatmap, original, stem + ".png")
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
        written += _close_stack(args, stack, stacked)
    if skipped:
        print(
            f"vis {args.command}: warning: skipped {skipped} of {len(paths)} files (not readable images)",
            file=sys.stderr,
        )
    return written


def _close_stack(args, stack, stacked: list[str]) -> list[str]:
    """Closes the stacked `.npy` and writes the list of its images; returns both paths."""
    stack.close()
    with open(os.path.join(args.out, f"{suffix_of(args)}_maps.txt"), "w", encoding="utf-8") as listing:
        listing.write("".join(f"{path}\n" for path in stacked))
    return [stack.path, listing.name]


def method_of(args) -> tuple:
    """The map method (`vis.visualization.methods`) and its keywords for the command's options.

    Args:
        args: The parsed command line.

    Returns:
        `(function, keyword arguments)`.
    """
    from vis.visualization import methods

    if args.command == "saliency":
        return methods.get("saliency"), {"backprop_modifier": args.backprop, "smooth_samples": args.smooth}
    if args.command == "ig":
        return methods.get("ig"), {"baseline": args.baseline, "steps": args.steps}
    spec = args.penultimate
    penultimate = int(spec) if spec is not None and spec.lstrip("-").isdigit() else spec
    return cam_method(args.method), {"penultimate_layer_idx": penultimate, "backprop_modifier": args.backprop}


def suffix_of(args) -> str:
    """The file-name suffix of the command's maps: the command, or the CAM method other than grad-CAM.

    Args:
        args: The parsed command line.

    Returns:
        The suffix.
    """
    return args.method if args.command == "cam" and args.method != "gradcam" else args.command
