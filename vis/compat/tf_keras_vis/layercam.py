"""tf-keras-vis 0.8.7's `Layercam` on vis's engine: `activation_modifier(sum_k relu(g_k) * A_k)`."""

from __future__ import annotations

import keras

from vis.compat.tf_keras_vis._cam import cam_call
from vis.compat.tf_keras_vis.gradcam import Gradcam


class Layercam(Gradcam):
    """LayerCAM (Jiang et al. 2021): the gradient (relu'd by default) weighs every position."""

    __call__ = cam_call(lambda grads: keras.ops.relu(grads))

    def _feature_weights(self, grads):
        return grads
