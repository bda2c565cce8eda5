"""`vis evaluate`: which map method to trust on a saved model, scored on your own images.

    vis evaluate MODEL_FILE IMAGE [IMAGE ...] [--class K] [--methods saliency,guided,gradcam,...]
                 [--boxes FILE] [--layer NAME|IDX] [--steps 10] [--random-layers 3] [--out DIR]

Runs each method on the images, then deletion, insertion, the cascading
randomisation test over the top few layers with weights and, with `--boxes`,
the pointing game; prints the table (method x metric, and milliseconds per map)
and writes it as `evaluation.csv`, with the curves in `evaluation.png`.

The boxes file is CSV, one object per line: `image,x_min,y_min,x_max,y_max`, in
pixels of the image file as it is (before resizing to the model's input), the
maxima exclusive; `image` is the path as given on the command line or its file
name; several lines may name the same image, and a header line is allowed.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import time

from vis.cli import images, model


def run(args: argparse.Namespace) -> list[str]:
    """Runs `vis evaluate`; prints the table and returns the written paths.

    Args:
        args: The parsed command line.

    Returns:
        The written files: `evaluation.csv` and `evaluation.png`.

    Raises:
        FileNotFoundError: For a missing model, image or boxes file.
        ValueError: For an unreadable file, an unknown layer or method, a bad box or option.
    """
    start = time.perf_counter()
    loaded = model.load_model(args.model_file)
    _check_files_and_counts(args)
    import keras
    import numpy as np

    from vis.evaluation import evaluate_methods

    names = None if args.methods is None else [n.strip() for n in args.methods.split(",") if n.strip()]
    layer_index = model.resolve_layer(loaded, args.layer)
    shape = model.input_shape(loaded)
    loaded = model.linear_head(loaded, layer_index)
    read = [images.load_image(path, shape, args.scale, quiet=True) for path in args.images]
    resized = [p for p, (o, _) in zip(args.images, read) if o.shape[:2] != shape[:2]]
    if resized:
        print(f"note: resized to the model's {shape[1]}x{shape[0]} input (boxes alike): {', '.join(resized)}")
    seeds = np.stack([x for _, x in read])
    masks = None if args.boxes is None else read_boxes(args.boxes, args.images, [o for o, _ in read], shape)
    target = "predicted" if args.class_index is None else args.class_index
    keras.utils.set_random_seed(0)  # The randomised weights, and so the table, are the same on every run.
    evaluation = evaluate_methods(
        loaded,
        layer_index,
        target,
        seeds,
        names,
        args.steps,
        _baseline(args.baseline),
        args.random_layers,
        masks,
    )
    os.makedirs(args.out, exist_ok=True)
    paths = [os.path.join(args.out, "evaluation.csv"), os.path.join(args.out, "evaluation.png")]
    evaluation.write_csv(paths[0])
    evaluation.write_figure(
        paths[1], f"vis evaluate: {os.path.basename(args.model_file)}, {len(seeds)} images"
    )
    print(evaluation.table())
    print(f"Randomised layers, top first: {', '.join(evaluation.layers)}")
    print(f"Wrote {len(paths)} files to {os.path.abspath(args.out)} in {time.perf_counter() - start:.1f} s")
    return paths


def _check_files_and_counts(args: argparse.Namespace) -> None:
    """Checks that the images (and the boxes file) exist and that the counts are positive."""
    if not args.images:
        raise ValueError("give at least one IMAGE file: vis evaluate MODEL_FILE IMAGE [IMAGE ...]")
    for path in [*args.images, *([args.boxes] if args.boxes else [])]:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{'boxes' if path == args.boxes else 'image'} file not found: {path}")
    for option, value in [("--steps", args.steps), ("--random-layers", args.random_layers)]:
        if value < 1:
            raise ValueError(f"{option} must be at least 1. Received: {option} {value}")


def _baseline(text: str) -> float | str:
    if text == "blur":
        return "blur"
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--baseline must be a number or 'blur'. Received: --baseline {text}") from None


def read_boxes(path: str, images: list[str], originals: list, shape: tuple) -> list:
    """Reads the boxes file and returns one object mask per image, at the model's input size.

    Args:
        path: The CSV file: `image,x_min,y_min,x_max,y_max` per line, in the image file's pixels.
        images: The image paths as given on the command line.
        originals: The images as read, for their sizes.
        shape: The model's input `(height, width, channels)`.

    Raises:
        ValueError: For a malformed line, a box outside its image, or an image without a box.
    """
    import numpy as np

    height, width = shape[:2]
    masks = [np.zeros((height, width), dtype=bool) for _ in images]
    keys = {}
    for index, image in enumerate(images):
        keys.setdefault(image, index)
        keys.setdefault(os.path.basename(image), index)
        keys.setdefault(os.path.abspath(image), index)
    with open(path, newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or (number == 1 and not _numbers(row[1:])):
                continue
            if len(row) != 5 or not _numbers(row[1:]):
                raise ValueError(
                    f"{path} line {number}: expected image,x_min,y_min,x_max,y_max. Received: {row}"
                )
            name = row[0].strip()
            index = keys.get(name, keys.get(os.path.abspath(name)))
            if index is None:
                raise ValueError(f"{path} line {number}: {name!r} is not one of the images given")
            x0, y0, x1, y1 = (float(v) for v in row[1:])
            size_y, size_x = originals[index].shape[:2]
            if not (0 <= x0 < x1 <= size_x and 0 <= y0 < y1 <= size_y):
                raise ValueError(
                    f"{path} line {number}: the box must satisfy 0 <= x_min < x_max <= {size_x} and "
                    f"0 <= y_min < y_max <= {size_y} for {row[0].strip()} ({size_x}x{size_y} pixels). "
                    f"Received: {','.join(v.strip() for v in row[1:])}"
                )
            sx, sy = width / size_x, height / size_y
            masks[index][
                math.floor(y0 * sy) : math.ceil(y1 * sy), math.floor(x0 * sx) : math.ceil(x1 * sx)
            ] = True
    missing = [image for image, mask in zip(images, masks) if not mask.any()]
    if missing:
        raise ValueError(f"{path} has no box for {', '.join(missing)}: the pointing game needs one per image")
    return masks


def _numbers(cells: list) -> bool:
    try:
        [float(c) for c in cells]
    except ValueError:
        return False
    return bool(cells)
