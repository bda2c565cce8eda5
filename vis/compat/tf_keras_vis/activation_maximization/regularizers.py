"""tf-keras-vis 0.8.7's regularizers: weighted penalties on one model input, one value per sample.

Written with `keras.ops`, so on `model.inputs[k]` they are vis losses over that
input. They differ from vis's own (`vis.regularizers`): `TotalVariation2D` sums
absolute neighbour differences; `Norm` divides the p-norm by `n ** (1 / p)`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import keras
import numpy as np


class Regularizer(ABC):
    """Base class of regularizers.

    Args:
        name: The name shown next to the value.
    """

    def __init__(self, name) -> None:
        self.name = name

    @abstractmethod
    def __call__(self, input_value):
        """Returns the weighted regularization value of each sample, shape `(batch_size,)`."""
        raise NotImplementedError()


def _tensor(value):
    return value if isinstance(value, keras.KerasTensor) else keras.ops.convert_to_tensor(value)


def _size(value) -> float:
    return float(np.prod(tuple(value.shape)[1:], dtype=np.float64))


class TotalVariation2D(Regularizer):
    """The sum of absolute differences of neighbouring pixels per image, over its number of values.

    Args:
        weight: Defaults to 10.0.
        name: Defaults to 'TotalVariation2D'.
    """

    def __init__(self, weight=10.0, name="TotalVariation2D") -> None:
        super().__init__(name)
        self.weight = float(weight)

    def __call__(self, input_value):
        if len(input_value.shape) != 4:
            raise ValueError(
                "seed_input's shape must be (batch_size, height, width, channels). "
                f"Received: an input of shape {tuple(input_value.shape)}"
            )
        x = _tensor(input_value)
        rows = keras.ops.sum(keras.ops.abs(x[:, 1:, :, :] - x[:, :-1, :, :]), axis=(1, 2, 3))
        cols = keras.ops.sum(keras.ops.abs(x[:, :, 1:, :] - x[:, :, :-1, :]), axis=(1, 2, 3))
        return (rows + cols) / np.float32(_size(input_value)) * self.weight


class Norm(Regularizer):
    """The p-norm of each sample over `n ** (1 / p)` (n values), weighted.

    Args:
        weight: Defaults to 10.0.
        p: The order of the norm. Defaults to 2.
        name: Defaults to 'Norm'.
    """

    def __init__(self, weight=10.0, p=2, name="Norm") -> None:
        super().__init__(name)
        self.weight, self.p = float(weight), int(p)

    def __call__(self, input_value):
        size = _size(input_value)
        norm = keras.ops.norm(keras.ops.reshape(_tensor(input_value), (-1, int(size))), ord=self.p, axis=1)
        return norm / (size ** (1.0 / float(self.p))) * self.weight
