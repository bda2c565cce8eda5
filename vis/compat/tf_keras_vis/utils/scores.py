"""tf-keras-vis 0.8.7's score functions: what to explain, one callable per model output.

A score is called on a model output (batch axis first) and returns one value
per sample. The visualisers do not call the three built-in scores:
`vis.compat.tf_keras_vis._scoring` turns them into compiled vis losses. Any
other callable (your own `Score` subclass, a lambda) runs as written, eagerly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import tensorflow as tf

import vis._tensorflow_check  # noqa: F401
from vis.compat.tf_keras_vis.utils import listify


class Score(ABC):
    """Abstract score function (`name`: the instance's name)."""

    def __init__(self, name=None) -> None:
        self.name = name

    @abstractmethod
    def __call__(self, output):
        """Returns the score values of `output` (a tensor, batch axis first; subclasses implement it)."""
        raise NotImplementedError()


class InactiveScore(Score):
    """A score of zero: a multi-output model's output left out of the explanation."""

    def __init__(self) -> None:
        super().__init__("InactiveScore")

    def __call__(self, output) -> tf.Tensor:
        return output * 0.0


class BinaryScore(Score):
    """The output of a one-unit head, sign-flipped where the target (a bool, or one per sample) is False.

    Raises:
        ValueError: When `target_values` is empty or holds None.
    """

    def __init__(self, target_values) -> None:
        super().__init__("BinaryScore")
        self.target_values = [bool(v) for v in _required(target_values, "target_values")]

    def __call__(self, output) -> tf.Tensor:
        check_binary_output(output.shape)
        output = tf.reshape(output, (-1,))
        targets = self.target_values
        if len(targets) == 1 and output.shape[0] is not None:
            targets = targets * output.shape[0]
        return (2.0 * tf.constant(targets, dtype=output.dtype) - 1.0) * output


class CategoricalScore(Score):
    """The output's channel `indices` (an int, or one per sample), averaged over the other axes.

    Raises:
        ValueError: When `indices` is empty or holds None.
    """

    def __init__(self, indices) -> None:
        super().__init__("CategoricalScore")
        self.indices = _required(indices, "indices")

    def __call__(self, output) -> tf.Tensor:
        check_categorical_output(self.indices, output.shape)
        indices = self.indices * output.shape[0] if len(self.indices) == 1 else self.indices
        score = tf.stack([output[i, ..., index] for i, index in enumerate(indices)], axis=0)
        return tf.math.reduce_mean(score, axis=tuple(range(1, score.ndim)))


def _required(values, name: str) -> list:
    listed = listify(values, return_empty_list_if_none=False)
    if not listed or None in listed:
        raise ValueError(
            f"`{name}` must be one or more values, none of them None. Received: {name}={values!r}"
        )
    return listed


def check_binary_output(shape) -> None:
    """Raises ValueError unless a `BinaryScore` output has shape (batch_size, 1)."""
    if not (len(shape) == 2 and shape[1] == 1):
        raise ValueError(
            f"BinaryScore: `output` shape must be (batch_size, 1). Received: output.shape={shape}"
        )


def check_categorical_output(indices, shape) -> None:
    """Raises ValueError when a `CategoricalScore` output has no channel axis or too few channels."""
    if len(shape) < 2 or (shape[-1] is not None and shape[-1] <= max(indices)):
        raise ValueError(
            "CategoricalScore: `output` must be (batch_size, ..., channels) with more channels than "
            f"the largest index. Received: indices={indices}, output.shape={shape}"
        )
