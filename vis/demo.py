"""`vis demo`: every visualization on a small digit CNN and ten real digits that ship with `vis`.

The model (`vis/data/mnist_cnn.keras`) and the digits (`vis/data/digits.npz`)
are made by `scripts/train_demo_model.py` from real MNIST digits. The demo
writes one figure per method, an overview and the raw maps (`maps.npz`), and
prints the table of `vis evaluate` for the ten digits (which map to trust:
`evaluation.csv`, `evaluation.png`). It also writes the ten digits as PNG files
(`digit_N.png`) and prints a `vis saliency` command to try on one of them.
"""

from __future__ import annotations

import os
import shlex
import time
from importlib import resources

import numpy as np

METHODS = [("saliency", "saliency"), ("guided_saliency", "guided saliency"), ("grad_cam", "grad-CAM")]
FIGURES = [
    "saliency.png",
    "guided_saliency.png",
    "grad_cam.png",
    "activation_maximization.png",
    "overview.png",
]
ACTIVATION_STEPS = 150  # With a light total-variation prior (the keras-vis weights wash 28x28 inputs out).


def load_demo_data() -> tuple:
    """Returns the shipped model and digits.

    Returns:
        `(model, images, labels, accuracy)`: images are uint8 `(10, 28, 28)`,
        one per class; `accuracy` is the model's recorded held-out accuracy.
    """
    import keras

    root = resources.files("vis") / "data"
    with resources.as_file(root / "mnist_cnn.keras") as path:
        model = keras.models.load_model(path, compile=False)
    with resources.as_file(root / "digits.npz") as path, np.load(path) as data:
        return model, data["images"], data["labels"], float(data["accuracy"])


def compute_maps(model, images: np.ndarray, labels: np.ndarray, progress) -> dict[str, np.ndarray]:
    """Returns the saliency, guided saliency and grad-CAM maps of each digit and the activation maxima.

    Args:
        model: The demo CNN (linear head, last layer 'predictions').
        images: uint8 digits `(N, 28, 28)`.
        labels: Their classes `(N,)`.
        progress: A `keras.utils.Progbar`, advanced by one per map.
    """
    from vis.visualization import visualize_activation, visualize_cam, visualize_saliency

    maps: dict[str, list] = {name: [] for name, _ in METHODS}
    for image, label in zip(images, labels):
        x = image[..., None].astype("float32") / 255.0
        for name, function, modifier in [
            ("saliency", visualize_saliency, None),
            ("guided_saliency", visualize_saliency, "guided"),
            ("grad_cam", visualize_cam, None),
        ]:
            maps[name].append(function(model, -1, int(label), x, backprop_modifier=modifier))
            progress.add(1)
    maps["activation"] = []
    for label in range(10):
        best = visualize_activation(
            model, -1, label, input_range=(0.0, 1.0), max_iter=ACTIVATION_STEPS, lp_norm_weight=0, tv_weight=1
        )
        maps["activation"].append(best[..., 0])
        progress.add(1)
    return {name: np.stack(values).astype("float32") for name, values in maps.items()}


def _draw_row(axes, images, heatmaps=None) -> None:
    """Draws digits on a row of axes, with a jet heatmap blended over them when given."""
    for column, axis in enumerate(axes):
        axis.imshow(images[column], cmap="gray", vmin=0, vmax=255 if images.dtype == np.uint8 else 1)
        if heatmaps is not None:
            axis.imshow(heatmaps[column], cmap="jet", alpha=0.5, vmin=0, vmax=1)
        axis.set_xticks([])
        axis.set_yticks([])


def write_figures(out: str, images, labels, maps: dict[str, np.ndarray]) -> list[str]:
    """Writes one PNG per method and `overview.png` into `out`; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("input", None)] + [(title, maps[name]) for name, title in METHODS]
    rows.append(("activation max.", None))
    paths = []
    for name, title in [*METHODS, ("activation_maximization", "activation maximization")]:
        fig, axes = plt.subplots(
            1 if name.startswith("activation") else 2, 10, figsize=(12, 2.8), squeeze=False
        )
        if name.startswith("activation"):
            _draw_row(axes[0], maps["activation"])
        else:
            _draw_row(axes[0], images)
            _draw_row(axes[1], images, maps[name])
        for column in range(10):
            axes[0, column].set_title(f"{column if name.startswith('activation') else labels[column]}")
        fig.suptitle(f"{title} of the demo CNN (vis demo)")
        paths.append(os.path.join(out, f"{name}.png"))
        fig.savefig(paths[-1], dpi=72, bbox_inches="tight")
        plt.close(fig)
    fig, axes = plt.subplots(len(rows), 10, figsize=(12, 1.3 * len(rows) + 0.6))
    for row, (title, heatmaps) in enumerate(rows):
        _draw_row(axes[row], maps["activation"] if row == len(rows) - 1 else images, heatmaps)
        axes[row, 0].set_ylabel(title, fontsize=9)
    fig.suptitle("vis demo: what a small CNN looks at in real handwritten digits")
    paths.append(os.path.join(out, "overview.png"))
    fig.savefig(paths[-1], dpi=80, bbox_inches="tight")
    plt.close(fig)
    return paths


def evaluate(model, images: np.ndarray, out: str, paths: list[str]) -> str:
    """Scores every registered method on the digits (each digit's predicted class), writes
    `evaluation.csv` and `evaluation.png` into `out` (appended to `paths`) and returns the table."""
    import keras

    from vis.evaluation import evaluate_methods

    keras.utils.set_random_seed(0)  # The demo is a program: the same randomised weights, the same table.
    evaluation = evaluate_methods(model, -1, "predicted", images[..., None] / 255.0, num_layers=None)
    paths += [os.path.join(out, "evaluation.csv"), os.path.join(out, "evaluation.png")]
    evaluation.write_csv(paths[-2])
    evaluation.write_figure(paths[-1], "Can I trust this map? The demo CNN on its ten digits (vis demo)")
    return evaluation.table()


def write_digits(out: str, images: np.ndarray, labels: np.ndarray) -> list[str]:
    """Writes each digit as `digit_N.png` (N its class) into `out`; returns their paths.

    Args:
        out: The output folder (it exists).
        images: uint8 digits `(N, 28, 28)`.
        labels: Their classes `(N,)`.

    Returns:
        The written files, in the order of `images`.
    """
    from PIL import Image

    paths = []
    for image, label in zip(images, labels):
        paths.append(os.path.join(out, f"digit_{int(label)}.png"))
        Image.fromarray(image).save(paths[-1])
    return paths


def try_command(digit_file: str, out: str) -> str:
    """The `vis saliency` command line that maps one of the demo's digit files with the demo CNN.

    Args:
        digit_file: A digit PNG written by `write_digits`.
        out: The folder for the command's output.

    Returns:
        The command, its paths quoted for a POSIX shell.
    """
    with resources.as_file(resources.files("vis") / "data" / "mnist_cnn.keras") as model_file:
        words = ["vis", "saliency", str(model_file), digit_file, "--backprop", "guided", "--out", out]
    return shlex.join(words)


def run_demo(out: str = "vis-demo") -> list[str]:
    """Runs the demo and writes its figures and `maps.npz` into `out`.

    Args:
        out: The output folder, created if needed.

    Returns:
        The paths of the written files.
    """
    import keras

    start = time.perf_counter()
    model, images, labels, accuracy = load_demo_data()
    print(f"Demo CNN: {model.count_params()} parameters, {accuracy:.1%} accuracy on 1,000 held-out digits")
    progress = keras.utils.Progbar(3 * len(images) + 10 + 1, unit_name="step")
    maps = compute_maps(model, images, labels, progress)
    os.makedirs(out, exist_ok=True)
    paths = write_figures(out, images, labels, maps)
    digits = write_digits(out, images, labels)
    paths += digits
    paths.append(os.path.join(out, "maps.npz"))
    np.savez_compressed(paths[-1], images=images, labels=labels, **maps)
    progress.add(1)
    table = evaluate(model, images, out, paths)
    print(f"Can I trust these maps? Scores over the ten digits (vis evaluate, see the guide):\n{table}")
    print(f"Wrote {len(paths)} files to {os.path.abspath(out)} in {time.perf_counter() - start:.0f} s:")
    for path in paths:
        print(f"  {os.path.basename(path)}")
    command = try_command(digits[3], os.path.join(out, "try"))
    print(f"Try the command on an image of your own, or on one of these digits:\n  {command}")
    return paths
