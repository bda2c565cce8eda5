"""tf-keras-vis scores as vis losses over the model's outputs.

A score `S` becomes the loss `-S` with weight -1: the engine's gradient is
`dS/dx`, its `overall_loss` `S`, one value per sample (the score averaged over
every axis but the batch, as 0.8.7 does). `CategoricalScore`, `BinaryScore` and
`InactiveScore` are one compiled expression, `sum_c mean(y[b, ..., c]) rows[b, c]`,
whose `rows` are fed at run time; any other callable runs as written on the
output tensor, eagerly (`needs_eager`: it may read the batch size).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from vis.compat.tf_keras_vis.utils import scores as tfkv_scores
from vis.losses_base import Loss

_BUILT_IN = (tfkv_scores.CategoricalScore, tfkv_scores.BinaryScore, tfkv_scores.InactiveScore)
_ACTIVATIONS = {"softmax": lambda y: keras.ops.softmax(y, axis=-1), "sigmoid": keras.ops.sigmoid, None: None}


def mean_score(score, dtype=None):
    """A score's value (a tensor, list or tuple) as a tensor (cast to `dtype`), averaged per sample."""
    if not tf.is_tensor(score):
        stacked = isinstance(score, (list, tuple)) and len(score) > 0 and tf.is_tensor(score[0])
        score = tf.stack(score, axis=0) if stacked else tf.constant(score)
    score = score if dtype is None else tf.cast(score, dtype)
    return tf.math.reduce_mean(score, axis=tuple(range(1, score.ndim)))


def _activated(output, activation):
    """The output, through "softmax" or "sigmoid" (Score-CAM scores probabilities) or as it is."""
    return output if activation is None else _ACTIVATIONS[activation](output)


class RowsScore(Loss):
    """`-sum_c mean_space(y)[b, c] * rows[b, c]` for a model output `y` (activated for Score-CAM)."""

    name = "tf-keras-vis score"

    def __init__(self, tensor, rows: np.ndarray, activation: str | None = None) -> None:
        super().__init__()
        self.tensor, self.rows, self.activation = tensor, rows, activation

    def cache_key(self):
        return ("tf-keras-vis rows", id(self.tensor), self.activation)

    def get_runtime_args(self) -> list[np.ndarray]:
        return [self.rows]

    def build_loss(self):
        output = _activated(keras.ops.cast(self.tensor, "float32"), self.activation)
        spatial = tuple(range(1, len(output.shape) - 1))
        per_channel = keras.ops.mean(output, axis=spatial) if spatial else output
        rows = keras.Input(batch_shape=(None, int(self.tensor.shape[-1])))
        self.runtime_placeholders = [rows]
        return -keras.ops.sum(per_channel * rows, axis=-1)


class _ScoreLayer(keras.layers.Layer):
    """Runs a score callable on an output: one value per sample, summing to the score's total."""

    def __init__(self, function, activation: str | None, strict: bool) -> None:
        super().__init__(dtype="float32")
        self.function, self.activation, self.strict = function, activation, strict

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def call(self, output):
        score = mean_score(self.function(_activated(output, self.activation)), "float32")
        if score.ndim == 1 and score.shape[0] == output.shape[0]:
            return score
        if self.strict and not (score.ndim == 0 and output.shape[0] == 1):
            raise ValueError(
                "A score function must return one value per sample: a tensor whose first axis is the "
                f"batch of {output.shape[0]}, or a list or tuple of that length. "
                f"Received: a score of shape {score.shape}"
            )
        return tf.one_hot(0, tf.shape(output)[0], dtype="float32") * tf.reduce_sum(score)  # same gradient


class CallableScore(Loss):
    """`-score(y)` for any score callable, run as written on the output tensor."""

    name = "tf-keras-vis score function"

    def __init__(self, tensor, function, activation: str | None = None, strict: bool = False) -> None:
        super().__init__()
        self.tensor, self.function, self.activation, self.strict = tensor, function, activation, strict

    def cache_key(self):
        return ("tf-keras-vis callable", id(self.tensor), id(self.function), self.activation, self.strict)

    def build_loss(self):
        return -_ScoreLayer(self.function, self.activation, self.strict)(self.tensor)


class SummedScores(Loss):
    """The scores of several outputs as one loss, so one backward pass (as 0.8.7)."""

    name = "tf-keras-vis scores"

    def __init__(self, losses: list) -> None:
        super().__init__()
        self.losses = losses

    def cache_key(self):
        keys = tuple(loss.cache_key() for loss in self.losses)
        return ("tf-keras-vis sum", keys) if all(keys) else None

    def get_runtime_args(self) -> list[np.ndarray]:
        return [arg for loss in self.losses for arg in loss.get_runtime_args()]

    def build_loss(self):
        total = sum((loss.build_loss() for loss in self.losses[1:]), self.losses[0].build_loss())
        self.runtime_placeholders = [p for loss in self.losses for p in loss.runtime_placeholders]
        return total


def summed(pairs: list) -> list:
    """`(loss, -1)` pairs as one pair (their sum) when there are several."""
    return pairs if len(pairs) < 2 else [(SummedScores([loss for loss, _ in pairs]), -1)]


def needs_eager(scores: list) -> bool:
    """Whether a score is a callable of the user's (which may read the batch size: run eagerly)."""
    return any(type(score) not in _BUILT_IN for score in scores)


def score_losses(outputs: list, scores: list, batch: int, activations=None, strict: bool = False) -> list:
    """`(loss, -1)` pairs, one per model output, for seeds of `batch` samples.

    Args:
        outputs: The model's output tensors.
        scores: One score callable per output.
        batch: The number of seeds.
        activations: One per output ("softmax", "sigmoid" or None), between output and score (Score-CAM).
        strict: A callable's value of the wrong length is an error (0.8.7's Score-CAM check).

    Returns:
        A list of `(Loss, -1)` pairs.

    Raises:
        ValueError: For a built-in score that does not fit its output or the batch (as 0.8.7).
    """
    activations = activations or [None] * len(outputs)
    return [(_loss(*args, batch, strict), -1) for args in zip(outputs, scores, activations)]


def _loss(tensor, score, activation, batch: int, strict: bool) -> Loss:
    shape, kind = tuple(tensor.shape), type(score)
    if kind is tfkv_scores.InactiveScore:
        return RowsScore(tensor, np.zeros((1, shape[-1]), "float32"), activation)
    if kind is tfkv_scores.CategoricalScore:
        tfkv_scores.check_categorical_output(score.indices, shape)
        return RowsScore(tensor, _rows(score.indices, shape[-1], batch), activation)
    if kind is tfkv_scores.BinaryScore:
        tfkv_scores.check_binary_output(shape)
        signs = np.array([2.0 * v - 1.0 for v in score.target_values], "float32")[:, None]
        if len(signs) not in (1, batch):  # 0.8.7 fails to broadcast them inside TensorFlow
            raise ValueError(
                f"BinaryScore's `target_values` give one value for all seeds or one per seed ({batch}). "
                f"Received: target_values={score.target_values}"
            )
        return RowsScore(tensor, signs, activation)
    return CallableScore(tensor, score, activation, strict)


def _rows(indices: list, channels: int, batch: int) -> np.ndarray:
    """One-hot rows: one row for all samples, or one per sample (missing samples score 0, as in 0.8.7)."""
    if len(indices) > batch:
        raise ValueError(
            f"A score's `indices` give one value per sample: at most {batch} for {batch} seeds. "
            f"Received: indices={indices}"
        )
    rows = np.zeros((1 if len(indices) == 1 else batch, channels), "float32")
    rows[np.arange(len(indices)), [int(i) % channels for i in indices]] = 1.0
    return rows
