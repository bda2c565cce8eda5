"""tf-keras-vis 0.8.7's score functions: what to explain, one callable per model output.

A score is called on a model output (batch axis first) and returns one value
per sample (or a list/tuple of them). The visualisers do not call the three
built-in scores on tensors: `vis.compat.tf_keras_vis._scoring` turns them into
vis losses over the model's outputs (compiled, the class fed at run time). Any
other callable (your own `Score` subclass, a lambda) runs as written, eagerly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import tensorflow as tf

import vis._tensorflow_check  # noqa: F401
from vis.compat.tf_keras_vis.utils import listify


class Score(ABC):
    """Abstract score function.

    Args:
        name: Instance name. Defaults to None.
    """

    def __init__(self, name=None) -> None:
        self.name = name

    @abstractmethod
    def __call__(self, output):
        """Returns the score values of `output` (a tensor, batch axis first).

        Raises:
            NotImplementedError: Subclasses implement it.
        """
        raise NotImplementedError()


class InactiveScore(Score):
    """A score of zero: a multi-output model's output left out of the explanation."""

    def __init__(self) -> None:
        super().__init__("InactiveScore")

    def __call__(self, output) -> tf.Tensor:
        return output * 0.0


class BinaryScore(Score):
    """The output of a one-unit (binary) head, sign-flipped where the target is False.

    Args:
        target_values: A bool, or one per sample.

    Raises:
        ValueError: When `target_values` holds None or is empty.
    """

    def __init__(self, target_values) -> None:
        super().__init__("BinaryScore")
        values = listify(target_values, return_empty_list_if_none=False)
        if None in values:
            raise ValueError(f"Can't accept None value. Received: target_values={target_values!r}")
        if len(values) == 0:
            raise ValueError(f"target_values is required. Received: target_values={target_values!r}")
        self.target_values = [bool(v) for v in values]

    def __call__(self, output) -> tf.Tensor:
        check_binary_output(output.shape)
        output = tf.reshape(output, (-1,))
        targets = self.target_values
        if len(targets) == 1 and output.shape[0] is not None and output.shape[0] > 1:
            targets = targets * output.shape[0]
        return (2.0 * tf.constant(targets, dtype=output.dtype) - 1.0) * output


class CategoricalScore(Score):
    """The output's channel `indices` (one for all samples, or one per sample), averaged over space.

    Args:
        indices: An int, or one per sample.

    Raises:
        ValueError: When `indices` holds None or is empty.
    """

    def __init__(self, indices) -> None:
        super().__init__("CategoricalScore")
        self.indices = listify(indices, return_empty_list_if_none=False)
        if None in self.indices:
            raise ValueError(f"Can't accept None. Received: indices={indices!r}")
        if len(self.indices) == 0:
            raise ValueError(f"`indices` is required. Received: indices={indices!r}")

    def __call__(self, output) -> tf.Tensor:
        check_categorical_output(self.indices, output.shape)
        indices = self.indices
        if len(indices) == 1 and output.shape[0] > 1:
            indices = indices * output.shape[0]
        score = tf.stack([output[i, ..., index] for i, index in enumerate(indices)], axis=0)
        return tf.math.reduce_mean(score, axis=tuple(range(1, score.ndim)))


def check_binary_output(shape) -> None:
    """Raises ValueError unless a `BinaryScore` output has shape (batch_size, 1)."""
    if not (len(shape) == 2 and shape[1] == 1):
        raise ValueError(
            f"BinaryScore: `output` shape must be (batch_size, 1). Received: output.shape={shape}"
        )


def check_categorical_output(indices, shape) -> None:
    """Raises ValueError when a `CategoricalScore` output has no channel axis or too few channels."""
    if len(shape) < 2:
        raise ValueError(
            "CategoricalScore: `output` ndim must be 2 or more (batch_size, ..., channels). "
            f"Received: output.shape={shape}"
        )
    if shape[-1] is not None and shape[-1] <= max(indices):
        raise ValueError(
            f"CategoricalScore: index out of range for an output of {shape[-1]} channels. "
            f"Received: indices={indices}, output.shape={shape}"
        )
