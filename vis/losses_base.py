"""The `Loss` base class: what the engine needs from a loss (see `vis.losses`).

It lives on its own so that `vis.losses`, `vis.regularizers` and
`vis.regression` can all build on it without importing each other in a
circle; users import it from `vis.losses`, as in keras-vis.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np


class Loss:
    """Base class for losses given to the engine as `(loss, weight)` pairs.

    Subclasses set `name` and implement `build_loss()`. Written the keras-vis
    way, a subclass may set `self.name` and store Keras tensors in its
    `__init__` without calling `super().__init__()`: every attribute the
    engine reads has a class-level default.
    """

    name = "Unnamed Loss"
    runtime_placeholders: tuple | list = ()

    def __init__(self) -> None:
        self.runtime_placeholders = []

    def __str__(self) -> str:
        return self.name

    def build_loss(self):
        """Returns the loss as a symbolic expression over Keras tensors.

        Returns:
            A Keras tensor: a scalar, or one value per sample (batch axis first).
        """
        raise NotImplementedError()

    def get_runtime_args(self) -> list[np.ndarray]:
        """Returns the values fed to `runtime_placeholders`, in order."""
        return []

    def cache_key(self) -> Hashable | None:
        """Returns a key shared by losses that build the same expression.

        `None` (the default) means the expression belongs to this object alone.
        """
        return None
