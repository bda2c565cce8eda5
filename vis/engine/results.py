"""What a program returns: losses reduced per sample, their weighted sum, and numpy results."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf


@dataclass
class EngineResult:
    """What one engine call returns, as numpy arrays with the batch axis first.

    Attributes:
        named_losses: `(name, per-sample values)` for each loss, in order.
        overall_loss: Per-sample weighted sum of the losses.
        grads: Gradient of the overall loss w.r.t. `wrt_tensor` (or a list,
            one per input, for a multi-input model differentiated w.r.t. its
            inputs); None from `vis.engine.evaluate`.
        wrt_value: The value of `wrt_tensor` (or list of input values).
    """

    named_losses: list
    overall_loss: np.ndarray
    grads: np.ndarray | list | None
    wrt_value: np.ndarray | list


def weighted(outputs: list, weights, batch) -> tuple:
    """Returns the per-sample losses, stacked `(n_losses, batch)`, and their weighted sum per sample."""
    values = [per_sample(o, batch) for o in outputs]
    stacked = tf.stack(values) if values else tf.zeros((0, batch))
    return values, stacked, tf.reduce_sum(weights[:, None] * stacked, axis=0)


def per_sample(value, batch):
    """Reduces a loss to one value per sample; a scalar loss counts once for the batch."""
    value = tf.cast(value, tf.float32)
    if value.shape.rank == 0:
        return tf.ones((batch,)) * value / tf.cast(batch, tf.float32)
    if value.shape.rank > 1:
        value = tf.reduce_sum(value, axis=list(range(1, value.shape.rank)))
    return value


def regroup(grads: list, groups: list) -> list:
    """Sums the gradients of each group of occurrences (one group per `also_wrt` target)."""
    sums, start = [], 0
    for values in groups:
        found = [g for g in grads[start : start + len(values)] if g is not None]
        sums.append(tf.add_n(found) if found else tf.zeros_like(values[0]))
        start += len(values)
    return sums


def numpy_of(value):
    """Tensors to numpy: one array, or a list of them (a single-item list gives its array)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        arrays = [v.numpy() for v in value]
        return arrays[0] if len(arrays) == 1 else arrays
    return value.numpy()
