"""tf-keras-vis 0.8.7's `Gradcam` on vis's engine (one gradient w.r.t. the penultimate layer).

The map is 0.8.7's: `activation_modifier(sum_k mean_ij(g_k) A_k)`, with
`g = gradient_modifier(dS/dA)`, resized by `scipy.ndimage.zoom(order=1)`.
`GradcamPlusPlus` is importable from here too, as in 0.8.7.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from vis.compat.tf_keras_vis import ModelVisualization
from vis.compat.tf_keras_vis._cam import feature_gradients, finish, spatial_axes
from vis.compat.tf_keras_vis.utils import is_mixed_precision, normalize, zoom_factor  # noqa: F401 (0.8.7's module exposes them)
from vis.compat.tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayerForGradcam as ModelModifier  # noqa: F401


class Gradcam(ModelVisualization):
    """Grad-CAM (Selvaraju et al. 2017)."""

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
        """Returns the class activation maps of the seeds for the scores.

        Args:
            score: A `Score`, a function of a model output, or a list of them (one per output).
            seed_input: An array or tensor (with or without the batch axis), or a list of them.
            penultimate_layer: A layer, its index or name, or None (-1): where the search for the
                last convolutional layer starts (see `seek_penultimate_conv_layer`).
            seek_penultimate_conv_layer: Search backwards from `penultimate_layer` for a Conv layer.
            gradient_modifier: Applied to `dS/dA` first; None for none.
            activation_modifier: Applied to the map; None for none.
            training: Must be False: vis runs models in inference mode.
            expand_cam: Resize the map to each input (else one coarse map).
            normalize_cam: Min-max normalise each map.
            unconnected_gradients: Accepted for 0.8.7's signature (unreached layers get zeros).

        Returns:
            One array for a single-input model given a non-list seed, else a list (one per input).

        Raises:
            ValueError: For invalid arguments.
        """
        batches, grads, values, _ = feature_gradients(
            self, score, seed_input, penultimate_layer, seek_penultimate_conv_layer, training
        )
        cam = self._calculate_cam(grads, values, gradient_modifier, activation_modifier)
        return finish(self, cam, batches, seed_input, expand_cam, normalize_cam)

    def _calculate_cam(self, grads, penultimate_output, gradient_modifier, activation_modifier):
        if gradient_modifier is not None:
            grads = np.asarray(gradient_modifier(grads))
        weights = np.mean(grads, axis=spatial_axes(grads), keepdims=True)
        cam = np.sum(penultimate_output * weights, axis=-1)
        return cam if activation_modifier is None else activation_modifier(cam)


from vis.compat.tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus  # noqa: E402, F401
