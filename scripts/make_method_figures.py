"""Make the figures and the timing table of the gradient-methods and CAM-methods guides.

    python scripts/make_method_figures.py                 # figures into docs/images/, then the timings
    python scripts/make_method_figures.py --timings-only  # only the "which method when" timings

Every figure comes from the demo CNN and the ten real digits that ship with vis (`vis/data/`), with
the calls the guides show. The timings are the median time per map of warm calls (traced once) on one
digit, printed as the rows of the guides' table.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from make_doc_figures import _grid, _save, _show, _title  # noqa: E402

from vis.backend import set_random_seed  # noqa: E402
from vis.demo import load_demo_data  # noqa: E402
from vis.visualization import (  # noqa: E402
    visualize_cam,
    visualize_cam_plus_plus,
    visualize_guided_cam,
    visualize_integrated_gradients,
    visualize_layer_cam,
    visualize_saliency,
    visualize_score_cam,
)

DIGITS = [2, 4, 8]
GUIDED = {"backprop_modifier": "guided"}
GRADIENT_METHODS = [
    ("saliency", lambda m, c, x: visualize_saliency(m, "predictions", c, x)),
    ("SmoothGrad\n(20 samples)", lambda m, c, x: visualize_saliency(m, -1, c, x, smooth_samples=20)),
    ("guided", lambda m, c, x: visualize_saliency(m, "predictions", c, x, **GUIDED)),
    ("guided\nSmoothGrad", lambda m, c, x: visualize_saliency(m, -1, c, x, smooth_samples=20, **GUIDED)),
    ("Integrated\nGradients", lambda m, c, x: visualize_integrated_gradients(m, "predictions", c, x)),
]
CAM_METHODS = [
    ("grad-CAM", lambda m, c, x: visualize_cam(m, "predictions", c, x)),
    ("grad-CAM++", lambda m, c, x: visualize_cam_plus_plus(m, "predictions", c, x)),
    ("LayerCAM", lambda m, c, x: visualize_layer_cam(m, "predictions", c, x)),
    ("Score-CAM", lambda m, c, x: visualize_score_cam(m, "predictions", c, x)),
    ("Faster Score-CAM\n(max_n=10)", lambda m, c, x: visualize_score_cam(m, "predictions", c, x, max_n=10)),
    ("guided\ngrad-CAM", lambda m, c, x: visualize_guided_cam(m, "predictions", c, x)),
]


def method_grid(out: pathlib.Path, name: str, title: str, model, digits, columns) -> None:
    """Three digits (rows), the input and one map per method (columns), each for the digit's own class."""
    fig, axes = _grid(len(DIGITS), len(columns) + 1)
    for row, label in enumerate(DIGITS):
        x = digits[label][..., None] / 255.0
        _show(axes[row, 0], digits[label])
        for column, (heading, function) in enumerate(columns, start=1):
            set_random_seed(0)
            _show(axes[row, column], digits[label], function(model, label, x))
            if row == 0:
                axes[row, column].set_title(heading, fontsize=8)
    axes[0, 0].set_title("input", fontsize=8)
    fig.suptitle(title, fontsize=10, y=1.04)
    _save(fig, out, name)


def layer_cam_layers(out: pathlib.Path, model, digits) -> None:
    """grad-CAM and LayerCAM of one digit taken at each convolution layer of the demo CNN."""
    layers = ["conv1", "conv2", "conv3"]
    rows = [("grad-CAM", visualize_cam), ("LayerCAM", visualize_layer_cam)]
    fig, axes = _grid(len(rows), len(layers))
    x = digits[4][..., None] / 255.0
    for row, (label, function) in enumerate(rows):
        for column, layer in enumerate(layers):
            heatmap = function(model, "predictions", 4, x, penultimate_layer_idx=layer)
            _show(axes[row, column], digits[4], heatmap)
            if row == 0:
                axes[row, column].set_title(f"'{layer}'", fontsize=9)
        axes[row, 0].set_ylabel(label, fontsize=9)
    _title(fig, "grad-CAM vs LayerCAM, penultimate_layer_idx=name", len(rows), 1.25)
    _save(fig, out, "cam_methods_layers.png")


def _raw_score_cam(model, label, x):
    """Score-CAM weighed by the masked digits' logits (vis 0.6's default) rather than their probabilities."""
    return visualize_score_cam(model, "predictions", label, x, score_activation=None)


def timings(model, digits, rounds: int = 21) -> None:
    """Prints the median time per map (warm calls on one digit, interleaved) of each method as table rows."""
    x = digits[3][..., None] / 255.0
    methods = GRADIENT_METHODS + CAM_METHODS
    for _, function in methods:
        function(model, 3, x), function(model, 3, x)  # trace, warm up
    times = {title: [] for title, _ in methods}
    for _ in range(rounds):
        for title, function in methods:
            start = time.perf_counter()
            function(model, 3, x)
            times[title].append(time.perf_counter() - start)
    for title, values in times.items():
        print(f"| {title.replace(chr(10), ' ')} | {statistics.median(values) * 1000:.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"), help="output folder")
    parser.add_argument("--timings-only", action="store_true", help="only print the timings")
    args = parser.parse_args()
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    model, digits, _, _ = load_demo_data()
    if not args.timings_only:
        title = "gradient maps of the demo CNN"
        method_grid(out, "gradient_methods.png", title, model, digits, GRADIENT_METHODS)
        raw = ("Score-CAM\n(logits: None)", _raw_score_cam)
        columns = [*CAM_METHODS[:4], raw, *CAM_METHODS[4:]]
        method_grid(out, "cam_methods.png", "the CAM family on the demo CNN", model, digits, columns)
        layer_cam_layers(out, model, digits)
    timings(model, digits)


if __name__ == "__main__":
    main()
