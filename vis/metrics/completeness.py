"""Completeness of Integrated Gradients: do the attributions add up to the change of the score?

Integrated Gradients attributions sum to `S(seed) - S(baseline)` exactly when
the path integral is exact (Sundararajan et al., 2017, "axiom of
completeness"); with `steps` points of the midpoint rule they come close. The
gap tells how many steps a model needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vis import engine
from vis.losses import ActivationMaximization
from vis.utils.layers import get_layer
from vis.visualization import common
from vis.visualization.integrated_gradients import _baselines, integrated_gradients


def completeness(
    model,
    layer_idx,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    baseline=None,
    steps: int = 50,
    batch_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns, per seed, the sum of the Integrated Gradients attributions and `S(seed) - S(baseline)`.

    Args:
        model: A Keras model.
        layer_idx: The layer whose filters make the score `S` (index, name, path or layer).
        filter_indices: As for `visualize_integrated_gradients`; `S` is their summed mean activation.
        seed_input: One seed or a batch (a list or dict of them for several inputs).
        baseline: As for `visualize_integrated_gradients` (None: zeros).
        steps: Points of the midpoint rule on the path.
        batch_size: Path points per engine call.

    Returns:
        `(sums, differences)`, two float64 arrays `(batch,)`: the attributions
        summed over every input value, and the score difference they should
        equal. `np.abs(sums - differences) / np.abs(differences)` is the
        relative error.

    Raises:
        ValueError: For the errors of `visualize_integrated_gradients`.
    """
    attributions = integrated_gradients(
        model, layer_idx, filter_indices, seed_input, baseline, steps, batch_size, keep_batch_axis=True
    )
    parts = list(attributions.values()) if isinstance(attributions, dict) else attributions
    parts = parts if isinstance(parts, list) else [parts]
    sums = sum(np.asarray(p, "float64").reshape(len(p), -1).sum(axis=1) for p in parts)
    inputs = common.model_inputs(model)
    seeds = common.prepare_seeds(seed_input, inputs, keep_batch_axis=True)
    starts = [np.broadcast_to(b, s.shape) for b, s in zip(_baselines(baseline, inputs, seeds), seeds.batches)]
    loss = [(ActivationMaximization(get_layer(model, layer_idx), filter_indices), -1)]
    at_seed = engine.evaluate(inputs, loss, seeds.batches).overall_loss
    at_start = engine.evaluate(inputs, loss, [np.ascontiguousarray(b) for b in starts]).overall_loss
    return sums, np.asarray(at_seed, "float64") - np.asarray(at_start, "float64")
