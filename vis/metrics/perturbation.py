"""Deletion and insertion: does the model's score follow the pixels a map ranks first?

Deletion (Petsiuk et al., 2018, "RISE") removes the pixels of each seed in the
order its map ranks them, most important first, towards a baseline, in `steps`
equal parts, and scores the model after each part: a faithful map makes the
score fall fast, so a low area under the curve is good. Insertion reveals the
pixels of the seed from the baseline in the same order: the score should rise
fast, so a high area is good.

Each step is one batched forward call (`vis.engine.evaluate`) for all seeds:
`steps + 1` calls in all (times the number of chunks when `batch_size` splits
the batch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from vis.metrics.common import Target, check_maps, input_channel_axis, seed_batch, spatial_shape

BLUR_SIGMA = 0.1  # `baseline='blur'`: Gaussian sigma, as a fraction of the seed's shortest spatial side.
_TIE_SEED = 0  # Ties in a map (a binary mask, a flat region) are broken in a fixed random pixel order.


def deletion(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | str | None,
    seed_input,
    maps,
    steps: int = 10,
    baseline=0.0,
    batch_size: int | None = None,
) -> np.ndarray:
    """Returns the deletion score of each map: the area under the score as its top pixels are removed.

    Args:
        model: A Keras model with one input.
        layer_idx: The layer whose filters are scored: index into
            `model.layers`, name, `'nested/layer'` path or layer object.
        filter_indices: The filters (classes) scored, as for the map methods
            (an int, a list of ints whose mean activations are summed, None
            for all, `PerSample` indices: one class per seed), or
            `'predicted'`: each seed's most active filter.
        seed_input: One input (with or without a batch axis of 1) or a batch.
        maps: One map per seed: `(batch, *spatial)`, or `(batch, *seed_shape)`
            with channels (reduced by a max); for one seed, also without the
            batch axis. Any map method's output, or your own arrays.
        steps: The number of equal parts the pixels are removed in (at least 1).
        baseline: What removed pixels become: a number, an array broadcastable
            to the seeds (one input or the whole batch), or `'blur'` (each seed
            blurred with a Gaussian of sigma 0.1 times its shortest spatial side).
        batch_size: The most samples per forward call; None for the whole batch.

    Returns:
        float64 `(batch,)`: the trapezoid area under each score curve over the
        fraction of pixels removed, x in [0, 1]. Lower is better. In the units
        of the score (the layer's activation: compare maps on the same model,
        layer and seeds).

    Raises:
        ValueError: For maps of the wrong shape, `steps` < 1 or above the
            number of pixels, an unknown baseline or a baseline of the wrong
            shape, and for the arguments the map methods check.
        TypeError: For arguments of the wrong type.
    """
    curves = deletion_curves(model, layer_idx, filter_indices, seed_input, maps, steps, baseline, batch_size)
    return area_under_curve(curves)


def insertion(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | str | None,
    seed_input,
    maps,
    steps: int = 10,
    baseline=0.0,
    batch_size: int | None = None,
) -> np.ndarray:
    """Returns the insertion score of each map: the area under the score as its top pixels are revealed.

    Starts from the baseline and puts back the seed's pixels in the map's
    order. Same arguments as `deletion`.

    Returns:
        float64 `(batch,)`: the area under each score curve, x in [0, 1].
        Higher is better.

    Raises:
        ValueError: As `deletion`.
        TypeError: As `deletion`.
    """
    curves = insertion_curves(model, layer_idx, filter_indices, seed_input, maps, steps, baseline, batch_size)
    return area_under_curve(curves)


def deletion_curves(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | str | None,
    seed_input,
    maps,
    steps: int = 10,
    baseline=0.0,
    batch_size: int | None = None,
) -> np.ndarray:
    """Returns the score after each deletion step: `(batch, steps + 1)`, from the seed to the baseline.

    Column `k` is the score with the top `round(k * pixels / steps)` pixels
    removed. Same arguments and errors as `deletion`.
    """
    return _curves(True, model, layer_idx, filter_indices, seed_input, maps, steps, baseline, batch_size)


def insertion_curves(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | str | None,
    seed_input,
    maps,
    steps: int = 10,
    baseline=0.0,
    batch_size: int | None = None,
) -> np.ndarray:
    """Returns the score after each insertion step: `(batch, steps + 1)`, from the baseline to the seed.

    Same arguments and errors as `deletion`.
    """
    return _curves(False, model, layer_idx, filter_indices, seed_input, maps, steps, baseline, batch_size)


def area_under_curve(curves) -> np.ndarray:
    """The trapezoid area under each curve of `(batch, steps + 1)` scores, x evenly spaced in [0, 1].

    Args:
        curves: Scores `(batch, steps + 1)`, as `deletion_curves` returns them.

    Returns:
        float64 `(batch,)` areas.
    """
    curves = np.asarray(curves, dtype="float64")
    steps = curves.shape[-1] - 1
    return (curves[..., :-1] + curves[..., 1:]).sum(axis=-1) / (2.0 * steps)


def _curves(
    delete: bool, model, layer_idx, filter_indices, seed_input, maps, steps, baseline, batch_size
) -> np.ndarray:
    target = Target(model, layer_idx, filter_indices)
    batch = seed_batch(model, seed_input)
    target.check(batch)
    ranks = _ranks(check_maps(maps, batch))
    pixels = ranks.shape[1]
    _check_int("steps", steps, 1, pixels, f"the {pixels} pixels of a map")
    if batch_size is not None:
        _check_int("batch_size", batch_size, 1)
    base = _baseline(baseline, batch)
    axis = input_channel_axis(batch.ndim)
    activations = []
    for k in range(steps + 1):
        chosen = (ranks < round(k * pixels / steps)).reshape(len(batch), *spatial_shape(batch))
        chosen = chosen if axis is None else np.expand_dims(chosen, axis)
        perturbed = np.where(chosen, base, batch) if delete else np.where(chosen, batch, base)
        activations.append(target.activations(perturbed.astype(batch.dtype), batch_size))
    activations = np.stack(activations, axis=1)  # (batch, steps + 1, filters)
    selections = target.selections(activations[:, 0] if delete else activations[:, -1])
    return np.einsum("nsf,nf->ns", activations, selections)


def _ranks(maps: np.ndarray) -> np.ndarray:
    """Each pixel's place in its map's order, most important first: `(batch, pixels)` ints."""
    flat = maps.reshape(len(maps), -1)
    tiebreak = np.broadcast_to(np.random.default_rng(_TIE_SEED).permutation(flat.shape[1]), flat.shape)
    order = np.lexsort((tiebreak, -flat), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None], axis=-1)
    return ranks


def _baseline(baseline, batch: np.ndarray) -> np.ndarray:
    """The baseline as an array of the seed batch's shape."""
    if isinstance(baseline, str):
        if baseline != "blur":
            raise ValueError(
                f"`baseline` must be a number, an array or 'blur'. Received: baseline={baseline!r}"
            )
        if not np.issubdtype(batch.dtype, np.floating):
            raise ValueError(
                f"`baseline='blur'` blurs pixel values, but the seeds hold integers (token ids?), which "
                "a blur would turn into other ids. Pass a number instead, such as the padding id. "
                f"Received: baseline='blur' for seeds of dtype {batch.dtype}"
            )
        sigma = max(1.0, BLUR_SIGMA * min(spatial_shape(batch)))
        axis = input_channel_axis(batch.ndim)
        sigmas = [0.0 if i in (0, axis) else sigma for i in range(batch.ndim)]
        return ndimage.gaussian_filter(batch.astype("float64"), sigmas, mode="nearest")
    if isinstance(baseline, (bool, np.bool_)) or baseline is None:
        raise TypeError(f"`baseline` must be a number, an array or 'blur'. Received: baseline={baseline!r}")
    try:
        array = np.asarray(baseline, dtype="float64")
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`baseline` must be a number, an array or 'blur'. Received: baseline={baseline!r}"[:400]
        ) from error
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"`baseline` contains NaN or inf values. Received: baseline with shape {array.shape}"
        )
    if not np.issubdtype(batch.dtype, np.floating) and not np.all(array == np.round(array)):
        raise ValueError(
            f"The seeds hold integers (dtype {batch.dtype}), so `baseline` must hold integers too "
            f"(it would be truncated). Received: baseline={baseline!r}"[:400]
        )
    try:
        return np.broadcast_to(array, batch.shape)
    except ValueError:
        raise ValueError(
            f"`baseline` must be a number or an array broadcastable to the seeds' shape {batch.shape} "
            f"(one input {batch.shape[1:]} or the batch). Received: baseline with shape {array.shape}"
        ) from None


def _check_int(argument: str, value, low: int, high: int | None = None, what: str = "") -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{argument}` must be an int. Received: {argument}={value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}] ({what})"
        raise ValueError(f"`{argument}` must be {bound}. Received: {argument}={value!r}")
