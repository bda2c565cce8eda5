"""tf-keras-vis 0.8.7's regularizers: weighted penalties on one model input, per sample.

A regularizer maps a batch of one input to one value per sample, already
multiplied by its `weight`; `ActivationMaximization` adds it to the negated
score it minimises. The built-in ones are written with `keras.ops`, so they
compute the same numbers on a tensor, an array or a symbolic Keras tensor:
on `model.inputs[k]` they are vis losses over that input
(see `activation_maximization._adapters`).

Their definitions differ from vis's own (`vis.regularizers`):
`TotalVariation2D` sums absolute neighbour differences (anisotropic, as
`tf.image.total_variation`) where vis's `TotalVariation` raises squared
differences to `beta / 2`; `Norm` divides the p-norm by `n ** (1 / p)` where
vis's `LPNorm` divides it by `n` (the number of values of one sample).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import keras
import numpy as np


class Regularizer(ABC):
    """Base class of regularizers.

    Args:
        name: The name shown next to the value (callbacks, progress bars).
    """

    def __init__(self, name) -> None:
        self.name = name

    @abstractmethod
    def __call__(self, input_value):
        """Returns the (weighted) regularization value of each sample.

        Args:
            input_value: A batch of one model input.

        Returns:
            A tensor of shape `(batch_size,)`.

        Raises:
            NotImplementedError: Subclasses implement it.
        """
        raise NotImplementedError()


def _tensor(input_value):
    """A symbolic Keras tensor as it is; anything else as a backend tensor."""
    if isinstance(input_value, keras.KerasTensor):
        return input_value
    return keras.ops.convert_to_tensor(input_value)


def _size(input_value) -> float:
    """The number of values in one sample (the static non-batch dimensions)."""
    return float(np.prod(tuple(input_value.shape)[1:], dtype=np.float64))


class TotalVariation2D(Regularizer):
    """Total variation of 2D images: the sum of absolute differences between neighbouring pixels.

    The sum (over rows, columns and channels, as `tf.image.total_variation`)
    is divided by the number of values of one image and multiplied by `weight`.

    Args:
        weight: The weight. Defaults to 10.0.
        name: Defaults to 'TotalVariation2D'.
    """

    def __init__(self, weight=10.0, name="TotalVariation2D") -> None:
        super().__init__(name)
        self.weight = float(weight)

    def __call__(self, input_value):
        """Returns the weighted, normalised total variation of each image.

        Raises:
            ValueError: If the input is not a batch of 2D images (rank 4).
        """
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
    """The p-norm of each sample's values, divided by `n ** (1 / p)` (n values) and weighted.

    Args:
        weight: The weight. Defaults to 10.0.
        p: The order of the norm (converted to int). Defaults to 2.
        name: Defaults to 'Norm'.
    """

    def __init__(self, weight=10.0, p=2, name="Norm") -> None:
        super().__init__(name)
        self.weight = float(weight)
        self.p = int(p)

    def __call__(self, input_value):
        """Returns the weighted, normalised p-norm of each sample."""
        size = _size(input_value)
        x = keras.ops.reshape(_tensor(input_value), (-1, int(size)))
        norm = keras.ops.norm(x, ord=self.p, axis=1)
        return norm / (size ** (1.0 / float(self.p))) * self.weight
