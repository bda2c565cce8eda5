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
unknown layer) prints one line on stderr, naming the flag it came from, and
exits with code 2. Images that cannot be read are skipped with a warning naming
each and a count at the end; the exit code is then 0 as long as one image was
written (2 if none was).

`--help`, argument errors and a missing model file answer before TensorFlow is
imported (`vis.cli.model` imports it to load a model). Unless the user set
`TF_CPP_MIN_LOG_LEVEL`, the command sets it to 3 and hides TensorFlow's
start-up messages. Imports flow one way: this module uses the parser
(`vis.cli.parser`) and one module per command (`attention` for saliency, ig and
cam; `activation`; `evaluate`; the demo is `vis.demo`), which use the model
(`vis.cli.model`) and image-file (`vis.cli.images`) helpers.
"""

from __future__ import annotations

import os
import sys

from vis.cli import activation, attention, evaluate
from vis.cli.attention import cam_method
from vis.cli.images import load_image, save_overlay
from vis.cli.model import input_shape, linear_head, load_model, output_layer_index, resolve_layer
from vis.cli.parser import CAM_METHODS, build_parser, name_flags

__all__ = [
    "CAM_METHODS",
    "build_parser",
    "cam_method",
    "input_shape",
    "linear_head",
    "load_image",
    "load_model",
    "main",
    "output_layer_index",
    "resolve_layer",
    "save_overlay",
]


def _run(args) -> None:
    """Runs the parsed command."""
    if args.command == "demo":
        from vis.cli import model

        model.import_tensorflow()
        from vis.demo import run_demo

        run_demo(args.out)
    elif args.command == "evaluate":
        evaluate.run(args)
    elif args.command == "activation":
        activation.run(args)
    else:
        attention.run(args)


def main(argv: list[str] | None = None) -> int:
    """Runs the `vis` command.

    Sets `TF_CPP_MIN_LOG_LEVEL` to 3 unless it is set (the command owns its
    process; `import vis` changes no environment variable).

    Args:
        argv: The arguments after the program name (default: `sys.argv[1:]`).

    Returns:
        The exit code: 0 on success, 2 for bad input, 1 without a usable TensorFlow (messages go
        to stderr).
    """
    args = build_parser().parse_args(argv)
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        from vis.cli import model

        model.quiet_tensorflow()
    try:
        _run(args)
    except (FileNotFoundError, ValueError, OSError, TypeError) as error:
        print(f"vis {args.command}: error: {name_flags(str(error), args)}", file=sys.stderr)
        return 2
    except ImportError as error:
        print(f"vis {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0
