"""The `vis` command: `vis demo`, and attention maps and activation maximization on a saved model.

    vis demo [--out DIR]
    vis saliency MODEL_FILE IMAGE|FOLDER|GLOB ... [--layer NAME|IDX] [--class N] [--backprop guided|rectified]
                 [--smooth N] [--batch-size N] [--stack]
    vis ig MODEL_FILE IMAGE|FOLDER|GLOB ... [--layer NAME|IDX] [--class N] [--steps N] [--baseline VALUE]
    vis cam MODEL_FILE IMAGE|FOLDER|GLOB ... [--layer NAME|IDX] [--class N] [--penultimate NAME|IDX]
            [--method gradcam|gradcam++|layercam|scorecam]
    vis activation MODEL_FILE [--layer NAME|IDX] [--class N]
    vis evaluate MODEL_FILE IMAGE [IMAGE ...] [--class K] [--methods saliency,guided,...] [--boxes FILE]

Also `python -m vis ...`. Bad input (a missing file, an unreadable model, an
unknown layer) prints one line on stderr and exits with code 2. Images that
cannot be read are skipped with a warning naming each and a count at the end;
the exit code is then 0 as long as one image was written (2 if none was).
"""

from __future__ import annotations

import argparse
import os
import sys

from vis.cli_images import CAM_METHODS, cam_method, load_image, save_overlay  # noqa: F401  (re-exported)

_ASSUMPTIONS = (
    "Assumes an image model with one channels-last input (height, width, 1 or 3). Images are read with "
    "Pillow, converted to grayscale or RGB to match the input's channels, resized to its size (with a "
    "note) and multiplied by --scale (default 1/255: pixels in [0, 1]). Writes, per image, an overlay PNG "
    "of the image's original size and the raw map as .npy."
)


def _add_model_arguments(parser: argparse.ArgumentParser, images: bool, backprop: bool = True) -> None:
    """Adds the arguments shared by the saliency, cam and activation commands."""
    parser.add_argument("model_file", metavar="MODEL_FILE", help="a saved Keras model (.keras or .h5)")
    if images:
        parser.add_argument(
            "images",
            metavar="IMAGE",
            nargs="*",
            help="image files (PNG, JPEG, ...), folders of them, or globs",
        )
    parser.add_argument(
        "--layer",
        default=None,
        metavar="NAME|IDX",
        help="layer to visualize, by name or index (default: the layer of the model's first output)",
    )
    parser.add_argument(
        "--class",
        dest="class_index",
        metavar="N",
        type=int,
        default=None,
        help="output unit (class) or filter to visualize (default: the predicted class"
        + (")" if images else "; for activation: every unit, up to 10)"),
    )
    if backprop:
        modifiers = ["guided", "rectified"]
        parser.add_argument("--backprop", choices=modifiers, default=None, help="backprop modifier")
    parser.add_argument("--scale", type=float, default=1 / 255, help="pixel scale factor (default: 1/255)")
    parser.add_argument(
        "--out", default="vis-output", metavar="DIR", help="output folder (default: vis-output/)"
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of the `vis` command."""
    parser = argparse.ArgumentParser(prog="vis", description="Attention maps and activation maximization.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="all methods on a small digit CNN that ships with vis")
    demo.add_argument("--out", default="vis-demo", metavar="DIR", help="output folder (default: vis-demo/)")
    for name, images, text in [
        ("saliency", True, "saliency (or SmoothGrad) maps of images"),
        ("ig", True, "Integrated Gradients maps of images"),
        ("cam", True, "grad-CAM (or grad-CAM++, LayerCAM, Score-CAM) maps of images"),
        ("activation", False, "inputs that maximize a layer's units"),
    ]:
        sub = commands.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}. {_ASSUMPTIONS}")
        _add_model_arguments(sub, images, backprop=name != "ig")
        if name == "saliency":
            text = "SmoothGrad: average N noisy copies (default: 0, plain saliency)"
            sub.add_argument("--smooth", type=int, default=0, metavar="N", help=text)
        if name == "ig":
            sub.add_argument("--steps", type=int, default=50, help="path steps (default: 50)")
            text = "baseline pixel value, after --scale (default: 0, black)"
            sub.add_argument("--baseline", type=float, default=0.0, metavar="VALUE", help=text)
        if name == "cam":
            metavar, text = "|".join(CAM_METHODS), "CAM method (default: gradcam)"
            sub.add_argument("--method", default="gradcam", metavar=metavar, help=text)
            sub.add_argument(
                "--penultimate",
                default=None,
                metavar="NAME|IDX",
                help="layer whose output grad-CAM weighs, by name or index (default: the last "
                "convolution or pooling layer before --layer)",
            )
        if not images:
            sub.add_argument("--max-iter", type=int, default=200, help="optimizer steps (default: 200)")
        else:
            sub.add_argument(
                "--batch-size", type=_positive, default=32, help="images per batch (default: 32)"
            )
            sub.add_argument(
                "--stack",
                action="store_true",
                help="write all maps into one NAME_maps.npy (with NAME_maps.txt listing the files in order) "
                "instead of one .npy per image",
            )
    from vis.cli_evaluate import add_parser

    add_parser(commands)
    return parser


def load_model(path: str):
    """Loads a saved Keras model without compiling it.

    Raises:
        FileNotFoundError: If `path` does not exist.
        ValueError: If the file is not a readable Keras model.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except (ValueError, OSError, TypeError, KeyError) as error:
        message = f"could not read the model file {path} (a Keras .keras or .h5 file): {error}"
        raise ValueError(message) from None


def output_layer_index(model) -> int:
    """The index in `model.layers` of the layer that makes the model's first output.

    For a model with several outputs the first output is the default, for the
    layer and the predicted class alike.
    """
    made_by = model.outputs[0]._keras_history.operation
    for index, layer in enumerate(model.layers):
        if layer is made_by:
            return index
    return len(model.layers) - 1


def resolve_layer(model, spec: str | None) -> int:
    """Returns the index in `model.layers` of the layer named or numbered by `spec`.

    None stands for the layer that makes the model's (first) output. A name
    keras.applications used in Keras 2 (`'fc1000'`) finds the layer it became,
    with a warning.

    Raises:
        ValueError: If no layer of the model (nested ones aside) has that name or index.
    """
    count = len(model.layers)
    if spec is None:
        return output_layer_index(model)
    if spec.lstrip("-").isdigit():
        index = int(spec)
        if not -count <= index < count:
            raise ValueError(f"unknown layer {spec}: the model has {count} layers (indices 0 to {count - 1})")
        return index % count
    from vis.utils import layers

    try:
        layer = layers.get_layer(model, spec, argument="--layer")
    except ValueError as error:
        raise ValueError(f"unknown layer '{spec}': {error}") from None
    index = layers.position(model.layers, layer)
    if index is None:
        raise ValueError(
            f"unknown layer '{spec}': it is inside a nested model; the command line visualizes "
            f"the model's own layers"
        )
    return index


def input_shape(model) -> tuple[int, int, int]:
    """Returns `(height, width, channels)` of the model's image input.

    Raises:
        ValueError: If the model does not take one channels-last image with 1 or 3 channels.
    """
    shape = tuple(model.inputs[0].shape)
    if len(model.inputs) != 1 or len(shape) != 4 or shape[3] not in (1, 3) or None in shape[1:]:
        raise ValueError(
            f"the command line handles models with one image input (height, width, 1 or 3 channels, "
            f"channels last); this model's input shape is {shape}. Use the Python API instead."
        )
    return int(shape[1]), int(shape[2]), int(shape[3])


def linear_head(model, layer_index: int):
    """Returns the model with the layer's softmax swapped for a linear activation (keras-vis recipe)."""
    layer = model.layers[layer_index]
    if getattr(getattr(layer, "activation", None), "__name__", "") != "softmax":
        return model
    import keras

    from vis.utils.utils import apply_modifications

    print(f"note: layer '{layer.name}' ends in softmax; visualizing its logits (softmax swapped for linear)")
    layer.activation = keras.activations.linear
    return apply_modifications(model)


def _activation(args, model, layer_index: int) -> list[str]:
    """Writes the activation-maximizing input of each chosen unit; returns the written paths."""
    import numpy as np
    from PIL import Image

    from vis.visualization import get_num_filters, visualize_activation

    top = 255.0 * args.scale
    units = [args.class_index]
    if args.class_index is None:
        units = list(range(min(10, get_num_filters(model.layers[layer_index]))))
    written = []
    for unit in units:
        image = visualize_activation(
            model,
            layer_index,
            unit,
            input_range=(0.0, top),
            max_iter=args.max_iter,
            backprop_modifier=args.backprop,
        )
        stem = os.path.join(args.out, f"activation_{model.layers[layer_index].name}_{unit}")
        np.save(stem + ".npy", image)
        pixels = np.clip(np.asarray(image, dtype="float64") / top * 255.0, 0, 255).astype(np.uint8)
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(stem + ".png")
        written += [stem + ".png", stem + ".npy"]
    return written


def run_model_command(args: argparse.Namespace) -> None:
    """Runs `vis saliency|ig|cam|activation` on a saved model and prints where the files went."""
    from vis import cli_images

    if args.command == "cam":
        cam_method(args.method)
    model = load_model(args.model_file)
    if args.command != "activation" and not args.images:
        raise ValueError(f"give at least one IMAGE file: vis {args.command} MODEL_FILE IMAGE [IMAGE ...]")
    if args.command != "activation":
        cli_images.expand(args.images)  # Missing files fail before any work.
    layer_index = resolve_layer(model, args.layer)
    shape = input_shape(model)
    if getattr(args, "method", None) != "scorecam":  # Score-CAM weighs by the probabilities of a softmax.
        model = linear_head(model, layer_index)
    created = not os.path.isdir(args.out)
    os.makedirs(args.out, exist_ok=True)
    try:
        if args.command == "activation":
            written = _activation(args, model, layer_index)
        else:
            written = cli_images.attention(args, model, layer_index, shape)
    except Exception:
        if created and not os.listdir(args.out):
            os.rmdir(args.out)  # A failed run leaves no empty folder behind.
        raise
    print(f"Wrote {len(written)} files to {os.path.abspath(args.out)}")


def main(argv: list[str] | None = None) -> int:
    """Runs the `vis` command.

    Args:
        argv: The arguments after the program name (default: `sys.argv[1:]`).

    Returns:
        The exit code: 0 on success, 2 for bad input (the message goes to stderr).
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from vis.demo import run_demo

            run_demo(args.out)
        elif args.command == "evaluate":
            from vis.cli_evaluate import run

            run(args)
        else:
            run_model_command(args)
    except (FileNotFoundError, ValueError, OSError, TypeError) as error:
        print(f"vis {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0
