"""tf-keras-vis 0.8.7's `Scorecam` (and Faster Score-CAM, `max_N`) on vis's own Score-CAM loop.

`vis.visualization.score_masks.score_weights` (which `visualize_score_cam` runs) set to 0.8.7's
choices: every input masked, its `1e-7` in the mask's normalisation, its channel-major order over
the union of each seed's `max_N` largest-std maps; a score function of the user's sees one
channel's masked seeds at a time. 0.8.7 scores `score(softmax(output))` whatever the output's
activation (on a one-unit sigmoid head the constant 1: every channel weighs the same, tf-keras-vis
#78, #103; a `UserWarning` says so); `vis.compat.tf_keras_vis.definitions = "paper"` scores the
paper's probability instead (vis's `score_activation="auto"`).
"""

from __future__ import annotations

import contextlib
import warnings

import keras
import numpy as np

from vis import engine
from vis.compat.tf_keras_vis import ModelVisualization, check_training, current_definitions
from vis.compat.tf_keras_vis._cam import finish
from vis.compat.tf_keras_vis._scoring import needs_eager, score_losses
from vis.compat.tf_keras_vis.utils import (  # noqa: F401 (0.8.7's module exposes them)
    get_num_of_steps_allowed,
    is_mixed_precision,
    listify,
    normalize,
    zoom_factor,
)
from vis.compat.tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayerForGradcam as ModelModifier  # noqa: F401
from vis.compat.tf_keras_vis.utils.model_modifiers import penultimate
from vis.compat.tf_keras_vis.utils.scores import InactiveScore
from vis.engine import graph
from vis.engine.compiling import policy
from vis.visualization.common import check_count
from vis.visualization.score_activation import resolve
from vis.visualization.score_masks import Target, score_weights


class Scorecam(ModelVisualization):
    """Score-CAM (Wang et al. 2020) and Faster Score-CAM (`max_N`)."""

    def __call__(
        self,
        score,
        seed_input,
        penultimate_layer=None,
        seek_penultimate_conv_layer=True,
        activation_modifier=lambda cam: keras.ops.relu(cam),
        batch_size=32,
        max_N=None,  # noqa: N803 (0.8.7's name)
        training=False,
        expand_cam=True,
        normalize_cam=True,
    ):
        """Returns the Score-CAM maps of the seeds for the scores.

        Args:
            score: A `Score`, a function of a model output, or a list of them (one per output).
            seed_input: An array or tensor (with or without the batch axis), or a list of them.
            penultimate_layer: As for `Gradcam`.
            seek_penultimate_conv_layer: As for `Gradcam`.
            activation_modifier: Applied to the map; None for none.
            batch_size: Masked inputs per forward pass (a score function of your own is given
                one channel's masked seeds at a time, as in 0.8.7).
            max_N: None or <= 0 for every channel; else the `max_N` channels of largest spatial
                std per seed (their union over the batch), Faster Score-CAM.
            training: Must be False: vis runs models in inference mode.
            expand_cam: Resize the map to each input (else one coarse map).
            normalize_cam: Min-max normalise each map.

        Returns:
            One array for a single-input model given a non-list seed, else a list (one per input).

        Raises:
            ValueError: For invalid arguments (`max_N` above the channel count, a score function
                not giving one value per sample, ...).
        """
        check_training(training)
        check_count(batch_size, "batch_size", 1)
        scores = self._get_scores_for_multiple_outputs(score)
        batches = self._get_seed_inputs_for_multiple_inputs(seed_input)
        layer = penultimate(self.model, penultimate_layer, seek_penultimate_conv_layer)
        inputs, outputs = list(self.model.inputs), list(self.model.outputs)
        activations = self._activations(outputs, scores)
        losses = score_losses(outputs, scores, len(batches[0]), activations, strict=True)
        targets = [Target(i, batch.shape[1:-1], batch.ndim - 2) for i, batch in enumerate(batches)]
        eager = needs_eager(scores)  # A score function of the user's sees one channel's seeds at a time.
        with policy("eager") if eager else contextlib.nullcontext():
            values = np.asarray(engine.evaluate(inputs, losses, batches, layer.output).wrt_value, "float32")
            step, max_n = len(batches[0]) if eager else batch_size, _max_n(values.shape[-1], max_N)
            weights = score_weights(inputs, losses, batches, values, targets, step, max_n, True, 1e-7)
        cam = np.einsum("b...c,bc->b...", values, weights.astype("float32"))
        cam = keras.ops.convert_to_tensor(cam)  # a tensor, as 0.8.7's `batch_dot` gives
        if activation_modifier is not None:
            cam = activation_modifier(cam)
        return finish(self, cam, batches, seed_input, expand_cam, normalize_cam)

    def _activations(self, outputs: list, scores: list) -> list:
        """What goes between each output and its score: 0.8.7's softmax, or the paper's probability."""
        if current_definitions() == "paper":
            return [resolve(self.model, _layer_of(tensor), "auto") for tensor in outputs]
        for tensor, score in zip(outputs, scores):
            if tensor.shape[-1] == 1 and not isinstance(score, InactiveScore):
                warnings.warn(
                    "Scorecam scores masked inputs with a softmax over the output's units, as tf-keras-vis "
                    "0.8.7 does; over a one-unit output it is the constant 1, so every channel gets the "
                    "same weight (tf-keras-vis #78, #103). Set "
                    '`vis.compat.tf_keras_vis.definitions = "paper"` to score with the output itself. '
                    f"Received: an output of shape {tuple(tensor.shape)}",
                    UserWarning,
                    stacklevel=3,
                )
        return ["softmax"] * len(outputs)


ScoreCAM = Scorecam


def _layer_of(tensor):
    layer = graph.producer(tensor)[0]
    while isinstance(layer, keras.Model) and len(layer.outputs) == 1:
        layer = graph.producer(layer.outputs[0])[0]
    return layer


def _max_n(channels: int, max_n) -> int:
    """0.8.7's `max_N`: None or <= 0 for every channel, capped by `TF_KERAS_VIS_MAX_STEPS`."""
    if max_n is not None and max_n > channels:
        raise ValueError(f"max_N must be 1 or more and {channels} or less. Received: max_N={max_n!r}")
    return get_num_of_steps_allowed(channels if max_n is None or max_n <= 0 else max_n)
