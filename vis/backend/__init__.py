"""Backend helpers of keras-vis `vis.backend`, for TensorFlow 2 / Keras 3."""

from __future__ import annotations


def set_random_seed(seed_value: int = 1337) -> None:
    """Seeds every random generator `vis` draws from, for reproducible results.

    Seeds Python's `random`, numpy's global generator (random seeds of
    `visualize_activation`, `Jitter` offsets), TensorFlow's global seed and
    Keras' seed generator, via `keras.utils.set_random_seed`.

    Args:
        seed_value: The seed (default: the infamous 1337, as in keras-vis).

    Raises:
        TypeError: If `seed_value` is not an int.
    """
    import keras
    import numpy as np

    if isinstance(seed_value, bool) or not isinstance(seed_value, (int, np.integer)):
        raise TypeError(f"`seed_value` must be an int. Received: seed_value={seed_value!r}")
    keras.utils.set_random_seed(int(seed_value))
