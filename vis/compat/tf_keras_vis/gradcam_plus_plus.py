"""tf-keras-vis 0.8.7's `GradcamPlusPlus` on vis's engine (one gradient w.r.t. the penultimate layer).

By default the map is 0.8.7's, which departs from the paper (Chattopadhyay
et al. 2018, eq. 19) in two ways: `alpha` is renormalised to sum to 1 over
space, and the derivatives carry the factor `exp(S)` (0.8.7 computes it in
float32: NaN maps above a score of about 88). Here `exp(S)` is taken in
float64 (capped at exp(700)), and a map beyond float32's range is divided by
its largest magnitude, so the maps equal 0.8.7's where it is finite and are
never NaN (the normalised map is the limit of 0.8.7's). With
`vis.compat.tf_keras_vis.definitions = "paper"` the weights are vis's
`grad_cam_plus_plus_weights` (no renormalisation; `exp(S)` cancels).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from vis.compat.tf_keras_vis import ModelVisualization, current_definitions
from vis.compat.tf_keras_vis._cam import feature_gradients, finish, spatial_axes
from vis.compat.tf_keras_vis.utils import is_mixed_precision, normalize, zoom_factor  # noqa: F401 (0.8.7's module exposes them)
from vis.compat.tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayerForGradcam as ModelModifier  # noqa: F401
from vis.visualization.cam_weighting import grad_cam_plus_plus_weights

_FLOAT32_LIMIT = 1e37  # Below float32's largest value (3.4e38), with room for the modifiers.
_MAX_EXPONENT = 700.0  # exp(700) is finite in float64: the cap that keeps 0.8.7's factor from overflowing.


class GradcamPlusPlus(ModelVisualization):
    """Grad-CAM++ (Chattopadhyay et al. 2018)."""

    def __call__(
        self,
        score,
        seed_input,
        penultimate_layer=None,
        seek_penultimate_conv_layer=True,
        gradient_modifier=None,
        activation_modifier=lambda cam: keras.ops.relu(cam),
        training=False,
        expand_cam=True,
        normalize_cam=True,
        unconnected_gradients=tf.UnconnectedGradients.NONE,
    ):
        """Returns the Grad-CAM++ maps of the seeds; the arguments are `Gradcam`'s.

        Returns:
            One array for a single-input model given a non-list seed, else a list (one per input).

        Raises:
            ValueError: For invalid arguments.
        """
        batches, grads, values, scores = feature_gradients(
            self, score, seed_input, penultimate_layer, seek_penultimate_conv_layer, training
        )
        grads, values = grads.astype("float64"), values.astype("float64")
        if gradient_modifier is not None:
            grads = np.asarray(gradient_modifier(grads), dtype="float64")
        if current_definitions() == "paper":
            weights = grad_cam_plus_plus_weights(grads, values)
        else:
            weights = tf_keras_vis_weights(grads, values, scores, activation_modifier)
        cam = keras.ops.convert_to_tensor(_finite(np.sum(weights * values, axis=-1)), "float32")  # as 0.8.7's
        if activation_modifier is not None:
            cam = activation_modifier(cam)
        return finish(self, cam, batches, seed_input, expand_cam, normalize_cam)


def _finite(cam: np.ndarray) -> np.ndarray:
    """Maps beyond float32's range (0.8.7 gives inf or NaN there) divided by their largest magnitude.

    A positive constant per sample: the normalised map is unchanged.
    """
    peak = np.max(np.abs(cam), axis=tuple(range(1, cam.ndim)), keepdims=True)
    return np.where(peak > _FLOAT32_LIMIT, cam / np.where(peak > _FLOAT32_LIMIT, peak, 1.0), cam)


def tf_keras_vis_weights(grads, values, scores, activation_modifier) -> np.ndarray:
    """0.8.7's weights: `sum_ij alpha_ij m(exp(S) g_ij)`, alpha renormalised over space (`m`: the modifier).

    Args:
        grads: `dS/dA`, float64, batch first, channels last.
        values: The feature maps `A`.
        scores: `(outputs, batch)` score values; 0.8.7 sums `exp` over the outputs.
        activation_modifier: `m`, or None.
    """
    spatial = spatial_axes(grads)
    factor = np.sum(np.exp(np.minimum(scores.astype("float64"), _MAX_EXPONENT)), axis=0)
    factor = factor.reshape((-1,) + (1,) * (grads.ndim - 1))
    first = factor * grads
    second = first * grads
    third = second * grads
    denominator = 2.0 * second + third * np.sum(values, axis=spatial, keepdims=True)
    alphas = second / (denominator + (second == 0.0))
    total = np.sum(alphas, axis=spatial, keepdims=True)
    alphas = alphas / (total + (total == 0.0))
    weights = first if activation_modifier is None else np.asarray(activation_modifier(first))
    return np.sum(weights * alphas, axis=spatial, keepdims=True)
