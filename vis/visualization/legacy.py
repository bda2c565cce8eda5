"""The visualization functions keras-vis 0.3.x had and 0.4 dropped, as deprecated wrappers.

Tutorials written for those releases call `visualize_class_saliency`,
`visualize_class_cam`, `visualize_regression_saliency` and
`visualize_regression_cam`, which keras-vis 0.4 removed. They returned the
map already coloured with matplotlib's jet colormap, as a uint8
`(H, W, 3)` image (not blended with the input), which tutorials pass to
`overlay(seed_img, heatmap)` and `utils.stitch_images`. Each wrapper here
computes the modern map, colours it with `vis.utils.utils.colorize` and
emits a `DeprecationWarning` naming the modern call.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from vis import engine
from vis.losses import ActivationMaximization
from vis.regression import _DEFAULT_THRESHOLD, RegressionTarget
from vis.utils.colors import colorize
from vis.utils.layers import get_layer
from vis.visualization import common
from vis.visualization.cam import _find_penultimate_layer, visualize_cam, visualize_cam_with_losses
from vis.visualization.saliency import visualize_saliency, visualize_saliency_with_losses


def _warn(old: str, use: str) -> None:
    warnings.warn(
        f"`{old}` is the keras-vis 0.2-0.4.1 API and is deprecated: it returns the map coloured as a "
        f"uint8 RGB image by `vis.utils.utils.colorize`. Use {use}.",
        DeprecationWarning,
        stacklevel=3,
    )


def _seed(seed_input, seed_img, function: str):
    """Returns the seed given positionally or as `seed_input=`, or by its 0.1-0.2.1 name `seed_img=`."""
    if (seed_input is None) == (seed_img is None):
        raise TypeError(
            f"`{function}` needs the input image as `seed_input` (or its older name `seed_img`), once. "
            f"Received: seed_input={'None' if seed_input is None else 'an array'}, "
            f"seed_img={'None' if seed_img is None else 'an array'}"
        )
    return seed_input if seed_img is None else seed_img


def visualize_class_saliency(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input=None,
    *,
    seed_img=None,
) -> np.ndarray:
    """Deprecated: the jet-coloured saliency map of keras-vis 0.3.x.

    Equivalent to `colorize(visualize_saliency(model, layer_idx,
    filter_indices, seed_input))`: the absolute gradient of the filters'
    outputs, max over channels, min-max normalised, coloured with jet.

    Args:
        model: A Keras model.
        layer_idx: Index into `model.layers` (negative allowed) or a layer name.
        filter_indices: Output unit (Dense) or channel (Conv): an int, a
            list of ints, or None for all of them.
        seed_input: One input without the batch axis, or a batch of them.
        seed_img: The same, by the name keras-vis 0.1-0.2.1 used (give one of the two).

    Returns:
        A uint8 RGB image `(H, W, 3)` (`(N, H, W, 3)` for a batch of seeds).

    Raises:
        ValueError: For an unknown layer, an out-of-range filter index or a
            seed of the wrong shape.
        TypeError: If neither or both of `seed_input` and `seed_img` are given.
    """
    _warn(
        "visualize_class_saliency",
        "`colorize(visualize_saliency(model, layer_idx, filter_indices, seed_input))`",
    )
    seed_input = _seed(seed_input, seed_img, "visualize_class_saliency")
    return colorize(visualize_saliency(model, layer_idx, filter_indices, seed_input))


def visualize_class_cam(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input=None,
    penultimate_layer_idx=None,
    *,
    seed_img=None,
) -> np.ndarray:
    """Deprecated: the jet-coloured grad-CAM map of keras-vis 0.3.x.

    Equivalent to `colorize(visualize_cam(model, layer_idx, filter_indices,
    seed_input, penultimate_layer_idx=penultimate_layer_idx))`.

    Args:
        model: A Keras model.
        layer_idx: Index into `model.layers` (negative allowed) or a layer name.
        filter_indices: Output unit (Dense) or channel (Conv): an int, a
            list of ints, or None for all of them.
        seed_input: One input without the batch axis, or a batch of them.
        penultimate_layer_idx: The layer whose feature maps are weighed, or
            None for the nearest convolution or pooling layer before `layer_idx`.
        seed_img: The seed, by the name keras-vis 0.1-0.2.1 used (instead of `seed_input`).

    Returns:
        A uint8 RGB image `(H, W, 3)` (`(N, H, W, 3)` for a batch of seeds).

    Raises:
        ValueError: For an unknown layer, no convolution or pooling layer
            before `layer_idx`, an out-of-range filter index or a bad seed.
        TypeError: If neither or both of `seed_input` and `seed_img` are given.
    """
    _warn(
        "visualize_class_cam",
        "`colorize(visualize_cam(model, layer_idx, filter_indices, seed_input, penultimate_layer_idx))`",
    )
    seed_input = _seed(seed_input, seed_img, "visualize_class_cam")
    return colorize(visualize_cam(model, layer_idx, filter_indices, seed_input, penultimate_layer_idx))


def _regression_maps(model, layer_idx, output_indices, targets, seed_input, threshold, compute) -> np.ndarray:
    """Maps that drive the outputs towards `targets`, one mode per sample.

    A sample whose outputs are off their targets gets the gradient of
    `RegressionTarget` with weight -1 and no grad modifier: the map peaks
    where raising the input moves the outputs towards the targets (increase
    or decrease). A sample whose outputs are already at their targets (within
    `threshold`, or None targets) gets the outputs' gradient through
    `grad_modifier='small_values'`: the map peaks where the input can change
    while leaving the outputs as they are (maintain), as keras-vis 0.5 advises.

    Args:
        compute: `(losses, seeds, grad_modifier) -> batch of maps`.
    """
    layer = get_layer(model, layer_idx)
    loss = RegressionTarget(layer, output_indices, targets, threshold=threshold)
    inputs = common.model_inputs(model)
    seeds, squeeze = common.prepare_seed(seed_input, inputs[0])
    outputs = engine.evaluate(inputs, [(loss, 1)], seeds, wrt_tensor=layer.output).wrt_value
    keep = loss.at_target(outputs)
    parts = {}
    if not keep.all():
        parts[False] = compute([(loss, -1)], seeds[~keep], None)
    if keep.any():
        hold = ActivationMaximization(layer, loss.output_indices)
        parts[True] = compute([(hold, -1)], seeds[keep], "small_values")
    first = next(iter(parts.values()))
    maps = np.zeros((len(seeds), *first.shape[1:]), dtype=first.dtype)
    for flag, part in parts.items():
        maps[keep == flag] = part
    return maps[0] if squeeze else maps


def _regression_hint(kind: str) -> str:
    penultimate = ", penultimate_layer" if kind == "cam" else ""
    penultimate_idx = ", penultimate_layer_idx" if kind == "cam" else ""
    return (
        f"`colorize(visualize_{kind}_with_losses(model, [(RegressionTarget(layer, output_indices, targets), "
        f"-1)], seed_input{penultimate}, grad_modifier=None))` to move the outputs towards their targets, "
        f"or `colorize(visualize_{kind}(model, layer_idx, output_indices, seed_input{penultimate_idx}, "
        "grad_modifier='small_values'))` to maintain them (`RegressionTarget` is in `vis.regression`)"
    )


def visualize_regression_saliency(
    model,
    layer_idx: int | str,
    output_indices: int | Sequence[int] | None,
    targets,
    seed_input=None,
    *,
    seed_img=None,
    threshold: float = _DEFAULT_THRESHOLD,
) -> np.ndarray:
    """Deprecated: the jet-coloured saliency map that drives regression outputs to `targets`.

    For each seed: if some output is more than `threshold` away from its
    target, the map is the gradient of `RegressionTarget` (weight -1, no
    grad modifier), `sum_i (t_i - y_i) dy_i/dx`, min-max normalised. It
    peaks where raising the input moves the outputs towards their targets:
    where the output's gradient is most positive for a target above the
    output ("increase"), most negative for one below ("decrease"). If every
    output is already at its target (or its target is None), the map is
    `visualize_saliency(..., grad_modifier='small_values')` of those outputs:
    it peaks where the gradient is closest to zero, the inputs that can
    change while the outputs stay the same ("maintain").

    keras-vis 0.4.1 took the absolute value of the gradient, so its
    increase and decrease maps were the same, and its maintain map was
    empty; keras-vis 0.5 documents the signed reading used here.

    Args:
        model: A Keras model.
        layer_idx: Index into `model.layers` (or a layer name) of a layer
            with outputs `(batch, outputs)`.
        output_indices: An int, a list of ints, or None for every output.
        targets: One target per output index; None keeps an output as it is.
        seed_input: One input without the batch axis, or a batch of them
            (each sample then gets its own mode).
        seed_img: The seed, by the name keras-vis 0.1-0.2.1 used (instead of `seed_input`).
        threshold: Outputs this close to their targets count as reached.

    Returns:
        A uint8 RGB image of the seed's spatial shape plus an RGB axis.

    Raises:
        ValueError: For an unknown layer, a layer whose output is not
            `(batch, outputs)`, indices and targets that do not match, or a bad seed.
    """
    _warn("visualize_regression_saliency", _regression_hint("saliency"))
    seed_input = _seed(seed_input, seed_img, "visualize_regression_saliency")

    def compute(losses, seeds, grad_modifier):
        return visualize_saliency_with_losses(
            model, losses, seeds, grad_modifier=grad_modifier, keep_batch_axis=True
        )

    maps = _regression_maps(model, layer_idx, output_indices, targets, seed_input, threshold, compute)
    return colorize(maps)


def visualize_regression_cam(
    model,
    layer_idx: int | str,
    output_indices: int | Sequence[int] | None,
    targets,
    seed_input=None,
    penultimate_layer_idx=None,
    *,
    seed_img=None,
    threshold: float = _DEFAULT_THRESHOLD,
) -> np.ndarray:
    """Deprecated: the jet-coloured grad-CAM map that drives regression outputs to `targets`.

    The modes are those of `visualize_regression_saliency`, on grad-CAM:
    off-target seeds weigh the feature maps by the mean gradient of
    `RegressionTarget` (weight -1), seeds already at their targets use
    `grad_modifier='small_values'` on the outputs' gradient.

    Args:
        model: A Keras model.
        layer_idx: Index into `model.layers` (or a layer name) of a layer
            with outputs `(batch, outputs)`.
        output_indices: An int, a list of ints, or None for every output.
        targets: One target per output index; None keeps an output as it is.
        seed_input: One input without the batch axis, or a batch of them.
        penultimate_layer_idx: The layer whose feature maps are weighed, or
            None for the nearest convolution or pooling layer before `layer_idx`.
        seed_img: The seed, by the name keras-vis 0.1-0.2.1 used (instead of `seed_input`).
        threshold: Outputs this close to their targets count as reached.

    Returns:
        A uint8 RGB image of the seed's spatial shape plus an RGB axis.

    Raises:
        ValueError: As `visualize_regression_saliency`, and when no
            convolution or pooling layer precedes `layer_idx`.
    """
    _warn("visualize_regression_cam", _regression_hint("cam"))
    seed_input = _seed(seed_input, seed_img, "visualize_regression_cam")
    penultimate = _find_penultimate_layer(model, layer_idx, penultimate_layer_idx)

    def compute(losses, seeds, grad_modifier):
        return visualize_cam_with_losses(
            model, losses, seeds, penultimate, grad_modifier=grad_modifier, keep_batch_axis=True
        )

    maps = _regression_maps(model, layer_idx, output_indices, targets, seed_input, threshold, compute)
    return colorize(maps)


__all__ = [
    "visualize_class_cam",
    "visualize_class_saliency",
    "visualize_regression_cam",
    "visualize_regression_saliency",
]
