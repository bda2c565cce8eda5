"""What the compat CAM classes share: one engine call w.r.t. the penultimate layer, and the resizing.

`feature_gradients` translates a call to `vis.engine.compute` (the scores as
vis losses, `wrt_tensor` the penultimate layer's output, nested models
included); `finish` resizes as 0.8.7's `scipy.ndimage.zoom(order=1)` does and
normalises each map, so maps match it to float precision. The resize is
`linear_zoom`: the same separable linear interpolation as one small matrix
product per axis (a 7x7 map to 224x224 in about 0.3 ms instead of zoom's 6 ms,
a tenth of a MobileNetV2 grad-CAM call).
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from vis import engine
from vis.compat.tf_keras_vis import check_training
from vis.compat.tf_keras_vis._scoring import needs_eager, score_losses
from vis.compat.tf_keras_vis.utils import normalize, zoom_factor
from vis.compat.tf_keras_vis.utils.model_modifiers import BACKPROP_ATTR, penultimate
from vis.engine.compiling import policy


def feature_gradients(visualizer, score, seed_input, penultimate_layer, seek, training) -> tuple:
    """One engine call: the seeds, `dS/dA`, the feature maps `A` and each output's score `S` per sample.

    Returns:
        `(batches, grads, values, scores)`: the seed batches, float32 gradient and feature maps
        (channels last, batch first), and an array `(outputs, batch)` of score values.
    """
    check_training(training)
    model = visualizer.model
    scores = visualizer._get_scores_for_multiple_outputs(score)
    batches = visualizer._get_seed_inputs_for_multiple_inputs(seed_input)
    layer = penultimate(model, penultimate_layer, seek)
    losses = score_losses(list(model.outputs), scores, len(batches[0]))
    modifier = model.__dict__.get(BACKPROP_ATTR)
    with policy("eager") if needs_eager(scores) else contextlib.nullcontext():
        result = engine.compute(list(model.inputs), losses, batches, layer.output, modifier)
    grads = np.asarray(result.grads, dtype="float32")
    values = np.asarray(result.wrt_value, dtype="float32")
    score_values = -np.array([np.asarray(v, dtype="float32") for _, v in result.named_losses])
    return batches, grads, values, score_values


def finish(visualizer, cam, batches: list, seed_input, expand_cam: bool, normalize_cam: bool):
    """0.8.7's ending: the coarse map (normalised), or one map per input resized to it."""
    if not expand_cam:
        return normalize(cam) if normalize_cam else cam  # unnormalised: the modifier's type, as in 0.8.7
    cam = np.asarray(cam)
    cams = [linear_zoom(cam, zoom_factor(cam.shape, batch.shape)) for batch in batches]
    if normalize_cam:
        cams = [normalize(c) for c in cams]
    if len(visualizer.model.inputs) == 1 and not isinstance(seed_input, list):
        return cams[0]
    return cams


def spatial_axes(array: np.ndarray) -> tuple:
    """The axes between the batch and the channels."""
    return tuple(range(1, array.ndim - 1))


def linear_zoom(array: np.ndarray, factors, mode: str = "constant") -> np.ndarray:
    """`scipy.ndimage.zoom(array, factors, order=1, mode=mode)` as one matrix product per axis.

    Args:
        array: The array to resize.
        factors: One zoom factor per axis; output sizes are `round(size * factor)`.
        mode: "constant" (zoom's default, 0.8.7's CAMs): a sample whose coordinate
            rounds past the last input (8 to 26, say) is 0, as in scipy; or "nearest".

    Returns:
        The resized array (computed in float64) in `array`'s dtype.
    """
    result = np.asarray(array, dtype="float64")
    for axis, factor in enumerate(factors):
        size = result.shape[axis]
        out = int(round(size * factor))
        if out == size:
            continue
        matrix = _interpolation(size, out, mode == "constant")
        if axis == result.ndim - 1:
            result = result @ matrix.T
        else:
            result = np.moveaxis(matrix @ np.moveaxis(result, axis, -2), -2, axis)
    return result.astype(np.asarray(array).dtype)


@functools.lru_cache(maxsize=32)
def _interpolation(size: int, out: int, constant: bool) -> np.ndarray:
    """`(out, size)` weights: row `i` samples `i (size - 1) / (out - 1)` (zoom's grid_mode=False)."""
    coords = np.arange(out) * ((size - 1) / (out - 1)) if out > 1 else np.zeros(1)
    low = np.minimum(np.floor(coords).astype(int), size - 1)
    rows, fraction = np.arange(out), coords - low
    matrix = np.zeros((out, size))
    matrix[rows, low] = 1.0 - fraction
    matrix[rows, np.minimum(low + 1, size - 1)] += fraction
    if constant:
        matrix[coords > size - 1] = 0.0
    matrix.flags.writeable = False
    return matrix
