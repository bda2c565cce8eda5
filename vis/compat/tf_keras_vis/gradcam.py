"""tf-keras-vis 0.8.7's `Gradcam` on vis's engine: `activation_modifier(sum_k mean_ij(g_k) A_k)`.

`g = gradient_modifier(dS/dA)`; the map is resized as `scipy.ndimage.zoom(order=1)`
does. `GradcamPlusPlus` is importable from here too, as in 0.8.7.
"""

from __future__ import annotations

import numpy as np

from vis.compat.tf_keras_vis import ModelVisualization
from vis.compat.tf_keras_vis._cam import cam_call
from vis.compat.tf_keras_vis.utils import is_mixed_precision, normalize, zoom_factor  # noqa: F401 (0.8.7's module exposes them)
from vis.compat.tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayerForGradcam as ModelModifier  # noqa: F401


class Gradcam(ModelVisualization):
    """Grad-CAM (Selvaraju et al. 2017): each feature map weighed by its mean gradient."""

    __call__ = cam_call()

    def _calculate_cam(self, grads, penultimate_output, gradient_modifier, activation_modifier):
        grads = grads if gradient_modifier is None else np.asarray(gradient_modifier(grads))
        cam = np.sum(penultimate_output * self._feature_weights(grads), axis=-1)
        return cam if activation_modifier is None else activation_modifier(cam)

    def _feature_weights(self, grads: np.ndarray) -> np.ndarray:
        """The weight of each feature map: the spatial mean of its gradient."""
        return np.mean(grads, axis=tuple(range(1, grads.ndim - 1)), keepdims=True)


from vis.compat.tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus  # noqa: E402, F401
