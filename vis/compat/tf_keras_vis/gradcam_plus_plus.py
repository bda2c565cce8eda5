"""tf-keras-vis 0.8.7's `GradcamPlusPlus` on vis's engine (one gradient w.r.t. the penultimate layer).

By default the map is 0.8.7's, which departs from the paper (Chattopadhyay et
al. 2018, eq. 19): `alpha` is renormalised to sum to 1 over space, and the
derivatives carry the factor `exp(S)`, which 0.8.7 takes in float32 (NaN maps
above a score of about 88). Here `exp(S)` is float64 (capped at exp(700)) and a
map beyond float32's range is divided by its largest magnitude: 0.8.7's maps
where it is finite, never NaN. With `vis.compat.tf_keras_vis.definitions =
"paper"` the weights are vis's `grad_cam_plus_plus_weights`.
"""

from __future__ import annotations

import keras
import numpy as np

from vis.compat.tf_keras_vis import ModelVisualization, current_definitions
from vis.compat.tf_keras_vis._cam import cam_call
from vis.compat.tf_keras_vis.utils import is_mixed_precision, normalize, zoom_factor  # noqa: F401 (0.8.7's module exposes them)
from vis.compat.tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayerForGradcam as ModelModifier  # noqa: F401
from vis.visualization.cam_weighting import grad_cam_plus_plus_weights

_FLOAT32_LIMIT = 1e37  # Below float32's largest value (3.4e38), with room for the modifiers.
_MAX_EXPONENT = 700.0  # exp(700) is finite in float64.


class GradcamPlusPlus(ModelVisualization):
    """Grad-CAM++ (Chattopadhyay et al. 2018)."""

    __call__ = cam_call(weigh=lambda self, *arguments: _cam(*arguments))


def _cam(grads, values, scores, gradient_modifier, activation_modifier):
    """The map from float64 copies; one beyond float32's range is divided by its largest magnitude."""
    grads, values = grads.astype("float64"), values.astype("float64")
    if gradient_modifier is not None:
        grads = np.asarray(gradient_modifier(grads), dtype="float64")
    if current_definitions() == "paper":
        weights = grad_cam_plus_plus_weights(grads, values)
    else:
        weights = tf_keras_vis_weights(grads, values, scores, activation_modifier)
    cam = np.sum(weights * values, axis=-1)
    peak = np.max(np.abs(cam), axis=tuple(range(1, cam.ndim)), keepdims=True)
    cam = np.where(peak > _FLOAT32_LIMIT, cam / np.where(peak > _FLOAT32_LIMIT, peak, 1.0), cam)
    cam = keras.ops.convert_to_tensor(cam, "float32")  # as 0.8.7's
    return cam if activation_modifier is None else activation_modifier(cam)


def tf_keras_vis_weights(grads, values, scores, activation_modifier) -> np.ndarray:
    """0.8.7's weights: `sum_ij alpha_ij m(exp(S) g_ij)`, alpha renormalised over space.

    Args:
        grads: `dS/dA`, float64, batch first, channels last.
        values: The feature maps `A`.
        scores: `(outputs, batch)` score values; 0.8.7 sums `exp` over the outputs.
        activation_modifier: `m`, or None.

    Returns:
        Weights of shape `(batch, 1, ..., 1, channels)`.
    """
    spatial = tuple(range(1, grads.ndim - 1))
    factor = np.sum(np.exp(np.minimum(scores.astype("float64"), _MAX_EXPONENT)), axis=0)
    first = factor.reshape((-1,) + (1,) * (grads.ndim - 1)) * grads
    second = first * grads
    denominator = 2.0 * second + second * grads * np.sum(values, axis=spatial, keepdims=True)
    alphas = second / (denominator + (second == 0.0))
    total = np.sum(alphas, axis=spatial, keepdims=True)
    alphas = alphas / (total + (total == 0.0))
    weights = first if activation_modifier is None else np.asarray(activation_modifier(first))
    return np.sum(weights * alphas, axis=spatial, keepdims=True)
