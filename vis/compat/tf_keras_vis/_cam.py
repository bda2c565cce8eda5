"""The `__call__` the compat CAM classes share (`cam_call`); they differ only in how maps are weighed.

One `vis.engine.compute` call w.r.t. the penultimate layer's output (nested
models included), the class's weighing of the feature maps, and 0.8.7's ending
(`finish`): `scipy.ndimage.zoom(order=1)`'s resize as one small matrix per axis
(`linear_zoom`: 7x7 to 224x224 in 0.07 ms, zoom takes 3 ms), then `normalize`.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import tensorflow as tf

from vis import engine
from vis.compat.tf_keras_vis import check_training
from vis.compat.tf_keras_vis._scoring import needs_eager, score_losses
from vis.compat.tf_keras_vis.utils import normalize, zoom_factor
from vis.compat.tf_keras_vis.utils.model_modifiers import penultimate
from vis.engine.compiling import policy
from vis.visualization.feature_maps import zoom_linear


def cam_call(default_gradient_modifier=None, weigh=None):
    """A CAM class's `__call__`, 0.8.7's signature with `default_gradient_modifier` as its default.

    `weigh(self, grads, values, scores, gradient_modifier, activation_modifier) -> cam` is the
    class's own part (default: 0.8.7's hook `self._calculate_cam`); `grads` and `values` (`dS/dA`, `A`)
    are float32, batch first, channels last, `scores` each output's score per sample `(outputs, batch)`.
    """
    weigh = weigh or (
        lambda self, grads, values, _, *modifiers: self._calculate_cam(grads, values, *modifiers)
    )

    def call(
        self,
        score,
        seed_input,
        penultimate_layer=None,
        seek_penultimate_conv_layer=True,
        gradient_modifier=default_gradient_modifier,
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
        check_training(training)
        model = self.model
        scores = self._get_scores_for_multiple_outputs(score)
        batches = self._get_seed_inputs_for_multiple_inputs(seed_input)
        layer = penultimate(model, penultimate_layer, seek_penultimate_conv_layer)
        losses = score_losses(list(model.outputs), scores, len(batches[0]))
        with policy("eager") if needs_eager(scores) else contextlib.nullcontext():
            result = engine.compute(list(model.inputs), losses, batches, layer.output)
        grads, values = np.asarray(result.grads, "float32"), np.asarray(result.wrt_value, "float32")
        score_values = -np.array([np.asarray(v, dtype="float32") for _, v in result.named_losses])
        cam = weigh(self, grads, values, score_values, gradient_modifier, activation_modifier)
        return finish(self, cam, batches, seed_input, expand_cam, normalize_cam)

    call.__name__ = call.__qualname__ = "__call__"
    return call


def finish(visualizer, cam, batches: list, seed_input, expand_cam: bool, normalize_cam: bool):
    """0.8.7's ending: the coarse map (normalised), or one map per input resized to it."""
    if not expand_cam:
        return normalize(cam) if normalize_cam else cam  # unnormalised: the modifier's type, as in 0.8.7
    cam = np.asarray(cam)
    cams = [linear_zoom(cam, zoom_factor(cam.shape, batch.shape)) for batch in batches]
    cams = [normalize(c) for c in cams] if normalize_cam else cams
    return cams[0] if len(visualizer.model.inputs) == 1 and not isinstance(seed_input, list) else cams


def linear_zoom(array: np.ndarray, factors, mode: str = "constant") -> np.ndarray:
    """`scipy.ndimage.zoom(array, factors, order=1, mode=mode)` ("constant" or "nearest"), by matrices."""
    shape = [int(round(n * f)) for n, f in zip(np.shape(array), factors)]
    return zoom_linear(array, shape, constant=mode == "constant")
