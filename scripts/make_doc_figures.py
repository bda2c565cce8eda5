"""Make the figures of the documentation guides into docs/images/.

    python scripts/make_doc_figures.py                   # everything, about 2 minutes on 2 CPU cores
    python scripts/make_doc_figures.py --skip-examples   # without running the two examples

Every figure comes from the demo CNN and the ten real digits that ship with vis
(`vis/data/`), except two: the Flatten-head model of the grad-CAM guide is trained
by `examples/mnist_saliency.py`'s `train`, and with the examples on, the figures of
`examples/mnist_saliency.py` and `examples/mnist_activation_maximization.py` are
copied in. The calls are those the guides show, so each figure is what their code
gives. The PNGs are kept small (well under 150 KB each).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

# A gradient through some convolutions can crash inside oneDNN on some CPUs (see the README).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vis.demo import load_demo_data, run_demo  # noqa: E402
from vis.input_modifiers import Jitter  # noqa: E402
from vis.utils import utils  # noqa: E402
from vis.visualization import visualize_activation, visualize_cam, visualize_saliency  # noqa: E402

DEMO_FIGURES = ["saliency", "guided_saliency", "grad_cam", "activation_maximization", "evaluation"]
EXAMPLES = [
    ("mnist_saliency.py", "saliency.png"),
    ("mnist_activation_maximization.py", "activation_maximization.png"),
]


def _save(fig, out: pathlib.Path, name: str, dpi: int = 72) -> None:
    path = out / name
    fig.savefig(path, dpi=dpi, bbox_inches="tight", pil_kwargs={"optimize": True})
    plt.close(fig)
    _report(path)


def _report(path: pathlib.Path) -> None:
    """Quantizes a PNG above 120 KB to 256 colours (plenty for these plots) and prints its size."""
    if path.stat().st_size > 120_000:
        with Image.open(path) as image:
            small = image.convert("RGB").quantize(256)
        small.save(path, optimize=True)
    print(f"  {path.name} ({path.stat().st_size // 1024} KB)")


def _grid(rows: int, cols: int, cell: float = 1.25):
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * cell + 0.4), squeeze=False)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    return fig, axes


def _title(fig, text: str, rows: int, cell: float) -> None:
    """Puts the figure title above two-line column titles."""
    fig.suptitle(text, fontsize=10, y=1 + 0.35 / (rows * cell + 0.4))


def _show(axis, digit, heatmap=None) -> None:
    axis.imshow(digit, cmap="gray", vmin=0, vmax=255)
    if heatmap is not None:
        axis.imshow(heatmap, cmap="jet", alpha=0.5, vmin=0, vmax=1)


def demo_figures(out: pathlib.Path) -> None:
    """Runs `vis demo` and keeps its per-method figures as `demo_*.png`."""
    with tempfile.TemporaryDirectory() as folder:
        run_demo(folder)
        for name in DEMO_FIGURES:
            shutil.copyfile(os.path.join(folder, f"{name}.png"), out / f"demo_{name}.png")
            _report(out / f"demo_{name}.png")


def saliency_modifiers(out: pathlib.Path, model, digits) -> None:
    """Saliency of three digits with the grad modifiers and backprop modifiers of the saliency guide."""
    columns = [
        ("input", None),
        ("absolute\n(default)", {}),
        ("relu", {"grad_modifier": "relu"}),
        ("negate + relu", {"grad_modifier": lambda g: np.maximum(-g, 0)}),
        ("guided", {"backprop_modifier": "guided"}),
        ("rectified", {"backprop_modifier": "rectified"}),
    ]
    fig, axes = _grid(3, len(columns))
    for row, label in enumerate([2, 3, 7]):
        x = digits[label][..., None] / 255.0
        for column, (title, kwargs) in enumerate(columns):
            heatmap = None if kwargs is None else visualize_saliency(model, "predictions", label, x, **kwargs)
            axes[row, column].imshow(
                digits[label] if heatmap is None else heatmap, cmap="gray" if heatmap is None else "jet"
            )
            if row == 0:
                axes[row, column].set_title(title, fontsize=9)
    _title(fig, "visualize_saliency(model, 'predictions', label, x, ...)", 3, 1.25)
    _save(fig, out, "saliency_modifiers.png")


def cam_layers(out: pathlib.Path, model, digits) -> None:
    """Grad-CAM of three digits taken at each convolution or pooling layer of the demo CNN."""
    layers = ["conv1", "pool1", "conv2", "conv3"]
    fig, axes = _grid(3, len(layers) + 1)
    for row, label in enumerate([2, 4, 8]):
        x = digits[label][..., None] / 255.0
        _show(axes[row, 0], digits[label])
        for column, name in enumerate(layers, start=1):
            heatmap = visualize_cam(model, "predictions", label, x, penultimate_layer_idx=name)
            _show(axes[row, column], digits[label], heatmap)
            if row == 0:
                default = " (default)" if name == "conv3" else ""
                axes[row, column].set_title(f"'{name}'{default}", fontsize=9)
    axes[0, 0].set_title("input", fontsize=9)
    fig.suptitle("visualize_cam(..., penultimate_layer_idx=name)", fontsize=10)
    _save(fig, out, "grad_cam_layers.png")


def cam_flatten_head(out: pathlib.Path, model, digits) -> None:
    """Grad-CAM of the GAP-head demo CNN next to a Flatten -> Dense CNN (examples/mnist_saliency.py)."""
    sys.path.insert(0, str(ROOT / "examples"))
    from mnist_saliency import train

    flat, _, _ = train(epochs=4)
    flat.layers[-1].activation = keras.activations.linear
    flat = utils.apply_modifications(flat)
    rows = [
        ("input", None, {}),
        ("GAP head\n(demo CNN)", model, {}),
        ("Flatten head\n(example)", flat, {}),
    ]
    fig, axes = _grid(len(rows), 10, cell=1.0)
    for column in range(10):
        x = digits[column][..., None] / 255.0
        for row, (_, network, kwargs) in enumerate(rows):
            heatmap = None if network is None else visualize_cam(network, -1, column, x, **kwargs)
            _show(axes[row, column], digits[column], heatmap)
            if heatmap is not None and heatmap.max() == 0:
                axes[row, column].text(14, 14, "all 0", color="white", ha="center", va="center", fontsize=9)
    for row, (title, _, _) in enumerate(rows):
        axes[row, 0].set_ylabel(title, fontsize=8)
    fig.suptitle("grad-CAM: global-average-pooling head vs Flatten -> Dense head", fontsize=10)
    _save(fig, out, "grad_cam_flatten_head.png")


def activation_filters(out: pathlib.Path, model) -> None:
    """Activation maximization of the first ten filters of 'conv3'."""
    keras.utils.set_random_seed(0)
    fig, axes = _grid(1, 10, cell=1.0)
    for index in range(10):
        img = visualize_activation(
            model, "conv3", filter_indices=index, input_range=(0.0, 1.0), tv_weight=1, lp_norm_weight=0
        )
        axes[0, index].imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
        axes[0, index].set_title(f"filter {index}", fontsize=9)
    fig.suptitle("visualize_activation(model, 'conv3', filter_indices=i, ...)", fontsize=10)
    _save(fig, out, "activation_filters.png")


def activation_weights(out: pathlib.Path, model) -> None:
    """Class 3 of the demo CNN under the regularizer weights and modifiers of the guide."""
    settings = [
        ("defaults\n(lp 10, tv 10)", {}),
        ("tv_weight=1,\nlp_norm_weight=0", {"tv_weight": 1, "lp_norm_weight": 0}),
        ("no regularizers", {"tv_weight": 0, "lp_norm_weight": 0}),
        ("tv 1, lp 0,\nJitter(0.05)", {"tv_weight": 1, "lp_norm_weight": 0, "input_modifiers": [Jitter()]}),
    ]
    fig, axes = _grid(1, len(settings), cell=1.5)
    for column, (title, kwargs) in enumerate(settings):
        keras.utils.set_random_seed(0)
        img = visualize_activation(model, "predictions", 3, input_range=(0.0, 1.0), **kwargs)
        axes[0, column].imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
        axes[0, column].set_title(title, fontsize=9)
    _title(fig, "visualize_activation(model, 'predictions', 3, input_range=(0., 1.), ...)", 1, 1.5)
    _save(fig, out, "activation_weights.png")


def example_figures(out: pathlib.Path) -> None:
    """Runs the two examples and copies their figures as `example_*.png`."""
    with tempfile.TemporaryDirectory() as folder:
        for script, figure in EXAMPLES:
            path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
            command = [sys.executable, str(ROOT / "examples" / script), "--out", folder]
            subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": path})
            shutil.copyfile(os.path.join(folder, figure), out / f"example_{figure}")
            _report(out / f"example_{figure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"), help="output folder")
    parser.add_argument("--skip-examples", action="store_true", help="do not run the two examples")
    args = parser.parse_args()
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, digits, _, _ = load_demo_data()
    demo_figures(out)
    saliency_modifiers(out, model, digits)
    cam_layers(out, model, digits)
    activation_filters(out, model)
    activation_weights(out, model)
    cam_flatten_head(out, model, digits)
    if not args.skip_examples:
        example_figures(out)
    print(f"Done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
