"""The arguments of the `vis` command, and the flags that stand for the Python API's arguments.

Imports nothing but the standard library: `vis --help`, `vis COMMAND --help`
and argument errors answer without loading TensorFlow.
"""

from __future__ import annotations

import argparse
import re

CAM_METHODS = ("gradcam", "gradcam++", "layercam", "scorecam")

_ASSUMPTIONS = (
    "Assumes an image model with one channels-last input (height, width, 1 or 3). Images are read with "
    "Pillow, converted to grayscale or RGB to match the input's channels, resized to its size (with a "
    "note) and multiplied by --scale (default 1/255: pixels in [0, 1]). Writes, per image, an overlay PNG "
    "of the image's original size and the raw map as .npy."
)
_BOXES = (
    "The boxes file is CSV, one object per line: `image,x_min,y_min,x_max,y_max`, in pixels of the image "
    "file as it is (before resizing to the model's input), the maxima exclusive; `image` is the path as "
    "given on the command line or its file name; several lines may name the same image, and a header line "
    "is allowed."
)

# The Python API's argument names that a command-line flag sets: name -> (flag, attribute of the parsed args).
FLAGS = {
    "filter_indices": ("--class", "class_index"),
    "layer_idx": ("--layer", "layer"),
    "penultimate_layer_idx": ("--penultimate", "penultimate"),
    "backprop_modifier": ("--backprop", "backprop"),
    "smooth_samples": ("--smooth", "smooth"),
    "steps": ("--steps", "steps"),
    "baseline": ("--baseline", "baseline"),
    "max_iter": ("--max-iter", "max_iter"),
    "batch_size": ("--batch-size", "batch_size"),
    "num_layers": ("--random-layers", "random_layers"),
    "method": ("--method", "method"),
}
# A value as the API's messages print it: a quoted string, a bracketed list or tuple, or one token.
_VALUE = r"(?:'[^']*'|\"[^\"]*\"|\[[^\]]*\]|\([^)]*\)|[^\s,;]+?)(?=[.,;]?(?:\s|$))"


def name_flags(message: str, args: argparse.Namespace) -> str:
    """Rewrites the API argument names in an error message as the flags the user typed.

    `` `filter_indices` must be ... Received: filter_indices=12 `` becomes
    `--class must be ... Received: --class 12`. Only arguments that the user set
    on the command line are rewritten (a default the command chose is not a flag
    the user typed).

    Args:
        message: The error message of vis's Python API.
        args: The parsed command line.

    Returns:
        The message with each such `name` and `name=value` replaced by `--flag value`.
    """
    for name, (flag, attribute) in FLAGS.items():
        typed = getattr(args, attribute, None)
        if typed is None or name not in message:
            continue
        message = re.sub(rf"(?<![\w-]){name}={_VALUE}", f"{flag} {typed}", message)
        message = re.sub(rf"`{name}`", flag, message)
    return message


def positive(text: str) -> int:
    """Parses an int >= 1 (an argparse `type`).

    Raises:
        argparse.ArgumentTypeError: If `text` is not such an int.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int >= 1. Received: {text}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1. Received: {text}")
    return value


def _add_model_arguments(parser: argparse.ArgumentParser, images: bool, backprop: bool = True) -> None:
    """Adds the arguments shared by the saliency, ig, cam and activation commands."""
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


def _add_command_options(sub: argparse.ArgumentParser, name: str, images: bool) -> None:
    """Adds the options of one of the saliency, ig, cam and activation commands."""
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
        _add_feature_options(sub)
        return
    sub.add_argument("--batch-size", type=positive, default=32, help="images per batch (default: 32)")
    sub.add_argument(
        "--stack",
        action="store_true",
        help="write all maps into one NAME_maps.npy (with NAME_maps.txt listing the files in order) "
        "instead of one .npy per image",
    )


def _add_feature_options(sub: argparse.ArgumentParser) -> None:
    """Adds the feature-visualization options of `activation`."""
    text = "what is optimized: pixel (keras-vis, default) or fft (a 1/f-scaled Fourier spectrum)"
    sub.add_argument("--param", choices=["pixel", "fft"], default="pixel", help=text)
    text = "optimize decorrelated colour channels (3-channel inputs; squashed into range by a sigmoid)"
    sub.add_argument("--decorrelate", action="store_true", help=text)
    text = "random transformations inside each step: robust (pad, jitter, scale, rotate) or none (default)"
    sub.add_argument("--transforms", choices=["robust", "none"], default="none", help=text)


def _add_evaluate(commands) -> None:
    """Adds the `evaluate` command."""
    sub = commands.add_parser(
        "evaluate",
        help="score every map method: deletion, insertion, randomisation, pointing game",
        description="Scores map methods on images: deletion, insertion, randomisation and the pointing game. "
        "The model and images are read as by `vis saliency` (one channels-last image input; pixels scaled by "
        "--scale, default 1/255; images resized to the input); a softmax head is swapped for its logits.",
        epilog=_BOXES,
    )
    sub.add_argument("model_file", metavar="MODEL_FILE", help="a saved Keras model (.keras or .h5)")
    sub.add_argument("images", metavar="IMAGE", nargs="*", help="image files (PNG, JPEG, ...)")
    sub.add_argument(
        "--layer", default=None, metavar="NAME|IDX", help="layer to explain (default: the output)"
    )
    sub.add_argument(
        "--class",
        dest="class_index",
        metavar="K",
        type=int,
        default=None,
        help="output unit (class) to explain in every image (default: each image's predicted class)",
    )
    sub.add_argument(
        "--methods",
        default=None,
        metavar="A,B,...",
        help="comma-separated method names (default: every registered method)",
    )
    sub.add_argument("--boxes", default=None, metavar="FILE", help="CSV of object boxes: the pointing game")
    sub.add_argument("--steps", type=int, default=10, help="deletion and insertion steps (default: 10)")
    text = "layers randomised, from the top (default: 3)"
    sub.add_argument("--random-layers", type=int, default=3, metavar="N", help=text)
    sub.add_argument("--baseline", default="0", help="removed pixels become: a number or 'blur' (default: 0)")
    sub.add_argument("--scale", type=float, default=1 / 255, help="pixel scale factor (default: 1/255)")
    sub.add_argument(
        "--out", default="vis-evaluate", metavar="DIR", help="output folder (default: vis-evaluate/)"
    )


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of the `vis` command.

    Returns:
        The parser, with one subcommand per command: demo, saliency, ig, cam, activation, evaluate.
    """
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
        _add_command_options(sub, name, images)
    _add_evaluate(commands)
    return parser
