"""The checks of `vis.optimizer.Optimizer`'s arguments: clear errors naming what was received."""

from __future__ import annotations

import numbers

import keras
import numpy as np


def batch_size_of(batch_size, losses: list) -> int:
    """The number of random starts: `batch_size`, else one per `PerSample` filter, else 1.

    Raises:
        ValueError: For a `batch_size` that is not an int >= 1.
    """
    if batch_size is None:
        counts = [len(loss.filter_indices) for loss in losses if getattr(loss, "per_sample", False)]
        return max(counts, default=1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an int >= 1. Received: batch_size={batch_size!r}")
    return int(batch_size)


def input_ranges(input_range, count: int) -> list[tuple]:
    """One `(min, max)` pair per input: the same pair for all, or a list of pairs.

    Raises:
        ValueError: For a pair that is not `(min, max)` with finite min < max.
    """
    pairs = isinstance(input_range, (list, tuple)) and len(input_range) == count and count > 1
    if pairs and all(isinstance(r, (list, tuple)) for r in input_range):
        return [check_input_range(r) for r in input_range]
    return [check_input_range(input_range)] * count


def check_float_inputs(inputs: list) -> None:
    """Checks that every input holds floats.

    Raises:
        ValueError: For an integer input (token ids): gradient descent cannot change it.
    """
    from vis.engine import diagnostics

    for tensor in inputs:
        if not keras.backend.is_float_dtype(tensor.dtype):
            after = diagnostics.first_float_layer(tensor) or "embedding"
            raise ValueError(
                f"Activation maximization changes the input by gradient descent, but input '{tensor.name}' "
                f"holds {tensor.dtype} values (token ids, categories), which gradient descent cannot "
                "change. To see which tokens drive a unit, take a saliency map with respect to the "
                f"embedding instead: `visualize_saliency(model, layer_idx, filter_indices, tokens, "
                f"wrt_tensor=model.get_layer({after!r}).output)`. Received: input '{tensor.name}' of "
                f"dtype {tensor.dtype}"
            )


def check_input_range(input_range) -> tuple:
    """Returns `input_range` as a tuple after checking it is a `(min, max)` pair with min < max.

    Raises:
        ValueError: Otherwise (the message echoes `input_range`).
    """
    ok = isinstance(input_range, (tuple, list)) and len(input_range) == 2
    ok = ok and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in input_range)
    if not ok or not np.isfinite(input_range).all() or not input_range[0] < input_range[1]:
        raise ValueError(
            f"`input_range` must be a `(min, max)` pair of finite numbers with min < max. "
            f"Received: input_range={input_range!r}"
        )
    return tuple(input_range)


def check_max_iter(max_iter) -> int:
    """Returns `max_iter` as an int.

    Raises:
        ValueError: Unless it is an int >= 1.
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"`max_iter` must be an int >= 1. Received: max_iter={max_iter!r}")
    return int(max_iter)


def kept_losses(losses) -> list:
    """The `(loss, weight)` pairs of `losses` whose weight is not 0 or None.

    Raises:
        TypeError: If `losses` is not a list of pairs.
        ValueError: If no weight is non-zero.
    """
    try:
        pairs = [(loss, weight) for loss, weight in losses]
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`losses` must be a list of `(Loss, weight)` pairs. Received: losses={losses!r}"
        ) from error
    kept = [(loss, weight) for loss, weight in pairs if weight]
    if not kept:
        raise ValueError(f"At least one loss needs a non-zero weight. Received: losses={losses!r}")
    return kept
