"""Integrated Gradients (Sundararajan et al. 2017): the gradient integrated along a path to the seed.

For a seed `x`, a baseline `b` and the score `S` (the chosen filters' mean
activation, as for saliency), the attribution of input value `i` is

    IG_i(x) = (x_i - b_i) * integral_0^1 dS/dx_i (b + alpha (x - b)) d alpha,

computed with the midpoint rule: `steps` gradients at `alpha_j = (j + 1/2) /
steps`, `j = 0 .. steps - 1`, averaged. The attributions add up to
`S(x) - S(b)` (completeness), up to the quadrature error, which shrinks as
`1 / steps^2` for a smooth model (for a ReLU network, whose gradient jumps
along the path, more slowly). The points go through the compiled engine in
batches (`vis.visualization.averaged_gradients`, shared with SmoothGrad).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vis import grad_modifiers
from vis.losses import ActivationMaximization
from vis.utils.layers import get_layer
from vis.visualization import common
from vis.visualization.averaged_gradients import mean_gradients, path_points


def integrated_gradients(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    baseline=None,
    steps: int = 50,
    batch_size: int | None = None,
    keep_batch_axis: bool = False,
) -> np.ndarray | list | dict:
    """Returns the raw Integrated Gradients attributions: signed, one per input value, not normalised.

    Args:
        model: A Keras model (Functional or Sequential, possibly with nested models).
        layer_idx: Index into `model.layers` (negative allowed), a layer name
            (also inside a nested model), a path `'nested_model/layer'` or a layer.
        filter_indices: Output unit (Dense) or channel (Conv): an int, a list
            of ints, or None for all of them. The score is their summed mean activation.
        seed_input: One input without the batch axis (or with a batch axis of
            size 1), or a batch of them; for a model with several inputs, a
            list in `model.inputs` order or a dict by input name.
        baseline: The start of the path: None for zeros, a number (every
            value), or an array of one input's shape (shared by the batch) or
            of the seeds' batch shape (one baseline per seed); for several
            inputs, a list or dict like the seeds.
        steps: The number of gradients on the path (midpoint rule), >= 1.
        batch_size: Path points per engine call, to bound memory; None for
            `steps` (one seed's path at once).
        keep_batch_axis: Always return a batch axis, also for one sample.

    Returns:
        Float32 attributions of the seed's full shape (channels included)
        that sum to about `S(seed) - S(baseline)`; a batch of them for a
        batch of seeds; one per input (a list or dict) for several inputs.

    Raises:
        ValueError: For `steps < 1`, a baseline of the wrong shape or with
            NaN, or the errors of `visualize_saliency`.
        TypeError: For arguments of the wrong type.
    """
    common.check_count(steps, "steps", 1)
    common.check_count(batch_size, "batch_size", 1, allow_none=True)
    layer = get_layer(model, layer_idx)
    inputs = common.model_inputs(model)
    losses = [(ActivationMaximization(layer, filter_indices), -1)]
    seeds = common.prepare_seeds(seed_input, inputs, keep_batch_axis)
    baselines = _baselines(baseline, inputs, seeds)
    make = path_points(seeds.batches, baselines, steps)
    means = mean_gradients(inputs, losses, seeds.batches, steps, make, batch_size)
    attributions = [
        ((x.astype("float64") - b.astype("float64")) * g).astype("float32")
        for x, b, g in zip(seeds.batches, baselines, means)
    ]
    return seeds.one(attributions[0]) if len(attributions) == 1 else seeds.per_input(attributions)


def _baselines(baseline, inputs: list, seeds: common.Seeds) -> list[np.ndarray]:
    """One baseline batch per input, of one sample or one per seed."""
    if baseline is None or isinstance(baseline, (int, float, np.number)) and not isinstance(baseline, bool):
        value = 0.0 if baseline is None else float(baseline)
        if not np.isfinite(value):
            raise ValueError(f"`baseline` must be finite. Received: baseline={baseline!r}")
        return [np.full((1, *b.shape[1:]), value, b.dtype) for b in seeds.batches]
    given = common.prepare_seeds(baseline, inputs, argument="baseline").batches
    count = len(seeds.batches[0])
    for batch in given:
        if len(batch) not in (1, count):
            raise ValueError(
                f"`baseline` must be one input, shared by the {count} seeds, or one baseline per seed. "
                f"Received: baseline with shape {np.shape(baseline)}"
            )
    return given


def visualize_integrated_gradients(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    baseline=None,
    steps: int = 50,
    keepdims: bool = False,
    batch_size: int | None = None,
    grad_modifier="absolute",
    keep_batch_axis: bool = False,
) -> np.ndarray | list | dict:
    """Returns the Integrated Gradients map: `integrated_gradients` drawn like a saliency map.

    The attributions (see `integrated_gradients`; the path integral from
    `baseline` to the seed by the midpoint rule) go through `grad_modifier`
    (absolute value by default), the max over the channel axis unless
    `keepdims`, and a min-max normalisation per map.

    Args:
        model: A Keras model (Functional or Sequential, possibly with nested models).
        layer_idx: Index into `model.layers`, a layer name or path, or a layer.
        filter_indices: An int, a list of ints, or None for all filters.
        seed_input: One input, or a batch of them (one map per sample).
        baseline: None (zeros), a number, or an array, as for `integrated_gradients`.
        steps: The number of gradients on the path, >= 1.
        keepdims: Keep the channel axis instead of taking its max.
        batch_size: Path points per engine call; None for `steps`.
        grad_modifier: Applied to the attributions: a name from
            `vis.grad_modifiers`, a callable, or None (signed attributions).
        keep_batch_axis: Always return a batch axis, also for one sample.

    Returns:
        A float32 map in [0, 1] of the seed's spatial shape (with channels if
        `keepdims`); a batch of maps for a batch of seeds.

    Raises:
        ValueError: For `steps < 1`, a baseline of the wrong shape, an
            unknown `grad_modifier`, or the errors of `visualize_saliency`.
        TypeError: For arguments of the wrong type.
    """
    modifier = grad_modifiers.get(grad_modifier)
    raw = integrated_gradients(
        model, layer_idx, filter_indices, seed_input, baseline, steps, batch_size, keep_batch_axis=True
    )
    listed = list(raw.values()) if isinstance(raw, dict) else raw if isinstance(raw, list) else [raw]
    maps = [
        common.normalize_each(common.reduce_channels(a if modifier is None else modifier(a), keepdims))
        for a in listed
    ]
    squeeze = not keep_batch_axis and len(maps[0]) == 1
    maps = [m[0] if squeeze else m for m in maps]
    if isinstance(raw, dict):
        return dict(zip(raw, maps))
    return maps if isinstance(raw, list) else maps[0]
