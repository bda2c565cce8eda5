"""tf-keras-vis 0.8.7's `Layercam` on vis's engine: `activation_modifier(sum_k relu(g_k) * A_k)`."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from vis.compat.tf_keras_vis.gradcam import Gradcam


class Layercam(Gradcam):
    """LayerCAM (Jiang et al. 2021): the gradient weighs each feature map at every position."""

    def __call__(
        self,
        score,
        seed_input,
        penultimate_layer=None,
        seek_penultimate_conv_layer=True,
        gradient_modifier=lambda grads: keras.ops.relu(grads),
        activation_modifier=lambda cam: keras.ops.relu(cam),
        training=False,
        expand_cam=True,
        normalize_cam=True,
        unconnected_gradients=tf.UnconnectedGradients.NONE,
    ):
        """Returns the LayerCAM maps of the seeds; the arguments are `Gradcam`'s.

        Returns:
            One array for a single-input model given a non-list seed, else a list (one per input).

        Raises:
            ValueError: For invalid arguments.
        """
        return super().__call__(
            score,
            seed_input,
            penultimate_layer,
            seek_penultimate_conv_layer,
            gradient_modifier,
            activation_modifier,
            training,
            expand_cam,
            normalize_cam,
            unconnected_gradients,
        )

    def _calculate_cam(self, grads, penultimate_output, gradient_modifier, activation_modifier):
        if gradient_modifier is not None:
            grads = np.asarray(gradient_modifier(grads))
        cam = np.sum(penultimate_output * grads, axis=-1)
        return cam if activation_modifier is None else activation_modifier(cam)
