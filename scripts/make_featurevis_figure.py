"""Writes docs/images/featurevis_settings.png: pixel vs fft vs fft+decorrelate+robust, side by side.

Trains the two colour models of the transfer harness (`tests/featurevis_harness.py`),
makes one image per class from model A with each setting (seed 0, 256 steps) and
draws a grid: a training example per class on top, then one row per setting,
titled with how many of the images model B classifies as their class.

Run from the repository root: `python scripts/make_featurevis_figure.py`.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tests import featurevis_harness as harness  # noqa: E402

ROWS = ["pixel", "fft", "fft+decorrelate+robust"]


def main(steps: int = 256) -> str:
    models = harness.trained_models()
    examples, labels = harness.make_images(20, seed=3)
    grid = {"training images": examples[:10]}
    titles = {"training images": "training images (class 0-9)"}
    for name in ROWS:
        images = harness.class_images(models["A"], harness.SETTINGS[name], 0, steps)
        score = harness.scores(images, models["A"], models["B"])
        grid[name] = images
        titles[name] = f"{name}: B classifies {score['transfer']}/10 as their class (p_B {score['p_B']:.2f})"
        print(titles[name])
    figure, axes = plt.subplots(len(grid), 10, figsize=(12, 1.45 * len(grid)))
    for row, (name, images) in enumerate(grid.items()):
        for column in range(10):
            axes[row, column].imshow(images[column], vmin=0, vmax=1)
            axes[row, column].axis("off")
        axes[row, 0].set_title(titles[name], loc="left", fontsize=9)
    figure.subplots_adjust(left=0.02, right=0.98, top=0.92, bottom=0.02, hspace=0.45)
    path = os.path.join(ROOT, "docs", "images", "featurevis_settings.png")
    figure.savefig(path, dpi=80)
    compress(path)
    return path


def compress(path: str) -> None:
    """Re-saves the PNG with a 128-colour palette (the docs keep images under 150 KB)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128)
    small.save(path, optimize=True)


if __name__ == "__main__":
    print("wrote", main())
