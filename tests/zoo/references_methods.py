"""Hand-written references of the attribution methods of issue 13, from the references' eager tape.

Each follows the paper's definition as vis documents it, on gradients and
feature maps that `references.gradients` takes from an eager `GradientTape`
on the loaded model with `training=False`; none calls vis.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tests.zoo import references as refs


def zoom(maps: np.ndarray, spatial: tuple) -> np.ndarray:
    """Linear interpolation of each map of a batch to `spatial` (corners aligned), as grad-CAM's reference."""
    return np.stack(
        [
            m if m.shape == spatial else ndimage.zoom(m, [t / c for t, c in zip(spatial, m.shape)], order=1)
            for m in maps
        ]
    )


def cam_inputs(model, seeds: list, layer, k: int, penultimate) -> tuple[np.ndarray, np.ndarray]:
    """`(dS_k/dA, A)` as float64, channels last, batch first."""
    found, value = refs.gradients(model, seeds, layer, [k], wrt=penultimate)
    grad = found[k][1]
    if grad is None:
        raise RuntimeError(f"reference: no gradient reaches layer '{penultimate.name}'")
    return np.asarray(grad, "float64"), np.asarray(value, "float64")


def _cam(weights: np.ndarray, values: np.ndarray, spatial: tuple) -> np.ndarray:
    return refs.normalize(zoom(np.maximum((weights * values).sum(axis=-1), 0.0), spatial))


def grad_cam_plus_plus(grad: np.ndarray, value: np.ndarray, spatial: tuple) -> np.ndarray:
    """Chattopadhyay et al. eq. 19 for `Y = exp(S)`: `alpha = g^2 / (2 g^2 + sum(A) g^3)` and
    `w = sum(alpha relu(g))`.

    The factor `exp(S)` of every derivative cancels in alpha and scales `w` by a
    positive constant, which the normalisation removes.
    """
    axes = tuple(range(1, grad.ndim - 1))
    denominator = 2 * grad**2 + value.sum(axis=axes, keepdims=True) * grad**3
    alpha = np.divide(grad**2, denominator, out=np.zeros_like(grad), where=denominator != 0)
    weights = (alpha * np.maximum(grad, 0.0)).sum(axis=axes, keepdims=True)
    return _cam(weights, value, spatial)


def layer_cam(grad: np.ndarray, value: np.ndarray, spatial: tuple) -> np.ndarray:
    """Jiang et al.: `relu(sum_k relu(dS/dA_k) * A_k)`, elementwise."""
    return _cam(np.maximum(grad, 0.0), value, spatial)


def score_cam(
    model, seed: np.ndarray, layer, k: int, value: np.ndarray, spatial: tuple, max_n: int
) -> np.ndarray:
    """Wang et al., with Faster Score-CAM's channel choice: the `max_n` channels of largest spatial variance.

    Each chosen map, upsampled to the input and min-max normalised, masks the
    seed; its weight is the score S_k of the masked seed; the others weigh 0.
    """
    channels = value.shape[-1]
    variance = value[0].reshape(-1, channels).var(axis=0)
    chosen = np.argsort(-variance, kind="stable")[:max_n]
    masks = refs.normalize(zoom(np.moveaxis(value[0][..., chosen], -1, 0), spatial))
    masked = (seed[None] * masks[..., None]).astype(seed.dtype)
    weights = np.zeros(channels)
    weights[chosen] = refs.layer_scores(model, [masked], layer)[:, k]
    return _cam(weights, value, spatial)


def integrated_gradients(model, seed: np.ndarray, layer, k: int, steps: int) -> np.ndarray:
    """`x * mean_j dS_k/dx(alpha_j x)` at the midpoints `alpha_j = (j + 1/2) / steps` (zero baseline)."""
    alphas = (np.arange(steps) + 0.5) / steps
    points = (alphas.reshape((-1,) + (1,) * seed.ndim) * seed[None]).astype(seed.dtype)
    grads = refs.gradients(model, [points], layer, [k])[0][k][0][0]
    return seed.astype("float64") * np.asarray(grads, "float64").mean(axis=0)
