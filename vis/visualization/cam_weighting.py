"""The body the CAM family shares, and the one function in which its methods differ: the weighting.

Every CAM method makes its map the same way: read the penultimate layer's
feature maps `A_k` (and, for the gradient methods, the gradient `g = dS/dA` of
the score `S`, the weighted losses, from one `vis.engine.compute` call), weigh
them, and take `relu(sum_k W_k * A_k)` summed over the channels, resized to the
input's spatial shape and min-max normalised (`class_activation_maps`).

The methods differ only in `W`, the weights of `weigh(grads, values)`: arrays
channels-last, batch axis first, `W` broadcast against `A`:

| method | `W` |
|---|---|
| grad-CAM (`grad_cam_weights`) | spatial mean of `g / max|g|`: one weight per channel |
| grad-CAM++ (`grad_cam_plus_plus_weights`) | `sum_ij alpha_ij relu(g_ij)`, per channel |
| LayerCAM (`layer_cam_weights`) | `relu(g)`, at every position |
| Score-CAM (`vis.visualization.score_cam`) | the score of the input masked by `A_k` (forward passes only) |
"""

from __future__ import annotations

import keras
import numpy as np

from vis import engine, grad_modifiers
from vis.losses import ActivationMaximization
from vis.utils.layers import get_layer, path_of
from vis.visualization import common
from vis.visualization.feature_maps import (
    InputGrid,
    channels_last,
    find_penultimate_layer,
    output_of,
    resize,
)
from vis.visualization.saliency import _modified


def _spatial_axes(array: np.ndarray) -> tuple:
    return tuple(range(1, array.ndim - 1))


def grad_cam_weights(grads: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017): `w_k` = the spatial mean of `dS/dA_k`, one weight per channel.

    The gradient is first divided by its largest magnitude per sample (a
    positive constant, so the normalised map is the same; keras-vis divided by
    the signed maximum, which flips the map when every gradient is negative).

    Args:
        grads: `dS/dA`, batch first, channels last.
        values: The feature maps `A` (unused: grad-CAM weighs by gradients only).

    Returns:
        Weights of shape `(batch, 1, ..., 1, channels)`.
    """
    spatial = _spatial_axes(grads)
    scale = np.max(np.abs(grads), axis=(*spatial, -1), keepdims=True) + keras.backend.epsilon()
    return np.mean(grads / scale, axis=spatial, keepdims=True)


def grad_cam_plus_plus_weights(grads: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19), on the exponential of the score.

    With `Y = exp(S)` the paper's derivatives are `dY/dA = exp(S) g`,
    `d2Y/dA2 = exp(S) g^2` and `d3Y/dA3 = exp(S) g^3` (`g = dS/dA`, higher
    derivatives of `S` taken as zero, as in the paper). The factor `exp(S)`
    cancels in `alpha_ij = g^2 / (2 g^2 + sum_ab A_ab g^3)` (0 where the
    denominator is 0) and is one positive constant per map in
    `w_k = sum_ij alpha_ij relu(exp(S) g_ij)`, which normalisation removes:
    so it is never computed, and the map stays finite for any logit (a
    direct `exp(S)` overflows float32 above about 88). Unlike tf-keras-vis,
    alpha is not renormalised to sum to 1 over space.

    Args:
        grads: `dS/dA`, batch first, channels last.
        values: The feature maps `A`, of the same shape.

    Returns:
        Weights of shape `(batch, 1, ..., 1, channels)`.
    """
    spatial = _spatial_axes(grads)
    second = grads**2
    denominator = 2.0 * second + np.sum(values, axis=spatial, keepdims=True) * second * grads
    safe = np.where(denominator != 0.0, denominator, 1.0)
    alpha = np.where(denominator != 0.0, second / safe, 0.0)
    return np.sum(alpha * np.maximum(grads, 0.0), axis=spatial, keepdims=True)


def layer_cam_weights(grads: np.ndarray, values: np.ndarray) -> np.ndarray:
    """LayerCAM (Jiang et al. 2021): `W = relu(dS/dA)` at every position, so the map is
    `relu(sum_k relu(dS/dA_k) * A_k)` elementwise.

    Args:
        grads: `dS/dA`, batch first, channels last.
        values: The feature maps `A` (unused).

    Returns:
        Weights of the shape of `grads`.
    """
    return np.maximum(grads, 0.0)


WEIGHTINGS = {
    "gradcam": grad_cam_weights,
    "gradcam++": grad_cam_plus_plus_weights,
    "layercam": layer_cam_weights,
}


def weighted_maps(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`relu(sum_k W_k * A_k)` per sample, on the feature-map grid."""
    return np.maximum(np.sum(weights * values, axis=-1), 0.0)


def finish(seeds: common.Seeds, maps: np.ndarray, grid: InputGrid) -> np.ndarray:
    """Resizes coarse maps to the input's spatial shape and normalises each to [0, 1]."""
    return seeds.one(common.normalize_each(resize(maps, grid.shape)))


def class_activation_maps(
    inputs: list,
    losses: list,
    seed_input,
    penultimate_layer,
    weigh=grad_cam_weights,
    grad_modifier=None,
    backprop_modifier=None,
    received=None,
    keep_batch_axis: bool = False,
) -> np.ndarray:
    """The shared body of the gradient CAM methods: one engine call, then `weigh`.

    Args:
        inputs: The model's input Keras tensors.
        losses: `(Loss, weight)` pairs; their weighted sum is the score `S`.
        seed_input: The seeds, as the public functions take them.
        penultimate_layer: The layer whose feature maps are weighed.
        weigh: `(grads, values) -> W`, both channels-last float64 (see the table above).
        grad_modifier: Applied to `dS/dA` before `weigh`.
        backprop_modifier: The engine's backprop modifier (or None).
        received: The `Received: ...` text of a shape error.
        keep_batch_axis: Always return a batch axis.

    Returns:
        Float32 maps in [0, 1] of the input's spatial shape.
    """
    modifier = grad_modifiers.get(grad_modifier)
    seeds = common.prepare_seeds(seed_input, inputs, keep_batch_axis)
    wrt_tensor = output_of(penultimate_layer)
    grid = InputGrid(seeds.batches, penultimate_layer, len(wrt_tensor.shape), received)
    result = engine.compute(
        inputs, losses, seeds.batches, wrt_tensor=wrt_tensor, backprop_modifier=backprop_modifier
    )
    grads = np.asarray(result.grads if modifier is None else modifier(result.grads))
    grads = channels_last(grads, penultimate_layer)
    values = channels_last(result.wrt_value, penultimate_layer)
    return finish(seeds, weighted_maps(weigh(grads, values), values), grid)


def model_cam(
    method: str,
    model,
    layer_idx,
    filter_indices,
    seed_input,
    penultimate_layer_idx=None,
    backprop_modifier=None,
    grad_modifier=None,
    keep_batch_axis: bool = False,
) -> np.ndarray:
    """The shared body of the model-level gradient CAM functions; `method` is a key of `WEIGHTINGS`."""
    penultimate = find_penultimate_layer(model, layer_idx, penultimate_layer_idx)
    modified, layer, _, modifier = _modified(model, layer_idx, None, backprop_modifier)
    if modified is not model:  # A user callable returned a new model: find the same layer there by path.
        penultimate = get_layer(modified, path_of(model, penultimate), "penultimate_layer_idx")
    common.warn_if_softmax(layer)
    losses = [(ActivationMaximization(layer, filter_indices), -1)]
    received = f"penultimate_layer_idx={penultimate_layer_idx!r}"
    return class_activation_maps(
        common.model_inputs(modified),
        losses,
        seed_input,
        penultimate,
        WEIGHTINGS[method],
        grad_modifier,
        modifier,
        received,
        keep_batch_axis,
    )
