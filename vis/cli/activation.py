"""`vis activation MODEL`: the inputs that maximize a layer's units, as PNG and `.npy` files."""

from __future__ import annotations

import argparse
import os

from vis.cli import model


def run(args: argparse.Namespace) -> None:
    """Runs `vis activation` on a saved model and prints where the files went.

    Args:
        args: The parsed command line.

    Raises:
        FileNotFoundError: For a missing model file.
        ValueError: For an unreadable model, an unknown layer or unit, or a bad option.
    """
    loaded = model.load_model(args.model_file)
    layer_index = model.resolve_layer(loaded, args.layer)
    model.input_shape(loaded)
    loaded = model.linear_head(loaded, layer_index)
    with model.output_folder(args.out):
        written = maximize(args, loaded, layer_index)
    print(f"Wrote {len(written)} files to {os.path.abspath(args.out)}")


def maximize(args: argparse.Namespace, keras_model, layer_index: int) -> list[str]:
    """Writes the activation-maximizing input of each chosen unit.

    Args:
        args: The parsed command line (`--class`: one unit; none: the first ten;
            `--param`, `--decorrelate`, `--transforms`: the feature-visualization options).
        keras_model: The model (its softmax swapped for a linear head).
        layer_index: The index of the layer whose units are maximized.

    Returns:
        The written files.
    """
    import numpy as np
    from PIL import Image

    from vis.visualization import get_num_filters, visualize_activation

    top = 255.0 * args.scale
    units = [args.class_index]
    if args.class_index is None:
        units = list(range(min(10, get_num_filters(keras_model.layers[layer_index]))))
    written = []
    for unit in units:
        image = visualize_activation(
            keras_model,
            layer_index,
            unit,
            input_range=(0.0, top),
            max_iter=args.max_iter,
            backprop_modifier=args.backprop,
            image_param=args.param,
            decorrelate=args.decorrelate,
            transforms=None if args.transforms == "none" else args.transforms,
        )
        stem = os.path.join(args.out, f"activation_{keras_model.layers[layer_index].name}_{unit}")
        np.save(stem + ".npy", image)
        pixels = np.clip(np.asarray(image, dtype="float64") / top * 255.0, 0, 255).astype(np.uint8)
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(stem + ".png")
        written += [stem + ".png", stem + ".npy"]
    return written
