"""tf-keras-vis 0.8.7's API on vis: replace `tf_keras_vis` by `vis.compat.tf_keras_vis` in the imports.

Every visualiser translates its arguments to vis's own functions and runs on
`vis.engine`: the scores become vis losses over the model's outputs
(`_scoring`), the model modifiers map to `vis.utils.apply_modifications` and
vis's backprop modifiers. See docs/coming-from-tf-keras-vis.md.

`definitions` chooses, where tf-keras-vis departs from the papers, whose
results the visualisers give: `"tf-keras-vis"` (the default: a switch changes
no picture) or `"paper"` (grad-CAM++ without the alpha renormalisation;
Score-CAM scoring with the output's probabilities, never a softmax of
probabilities). Set it as `vis.compat.tf_keras_vis.definitions = "paper"`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import keras
import numpy as np
import tensorflow as tf

import vis._tensorflow_check  # noqa: F401  (a clear ImportError without TensorFlow 2.16+)
from vis.compat.tf_keras_vis.utils import listify
from vis.utils.modifications import apply_modifications

__version__ = "0.8.7"  # The tf-keras-vis API this package mirrors.
definitions = "tf-keras-vis"
_DEFINITIONS = ("tf-keras-vis", "paper")


class ModelVisualization(ABC):
    """Base of the visualisers: holds the model, modified as `model_modifier` says.

    Args:
        model: A Keras model. It is never changed when `clone=True`.
        model_modifier: A `ModelModifier`, a function `model -> model or None`, or a list of them.
        clone: When True (and only when a modifier is given), the modifiers work on a copy of
            the model (`vis.utils.apply_modifications`, weights copied). When False they change
            `model` itself, as in 0.8.7.
    """

    def __init__(self, model, model_modifier=None, clone=True) -> None:
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model. Received: model={model!r}"[:300])
        self.model = model
        modifiers = listify(model_modifier)
        if modifiers:
            if clone:
                self.model = apply_modifications(model)
            for modifier in modifiers:
                new_model = modifier(self.model)
                if new_model is not None:
                    self.model = new_model

    @abstractmethod
    def __call__(self):
        """Visualises the model.

        Raises:
            NotImplementedError: Subclasses implement it.
        """
        raise NotImplementedError()

    def _get_scores_for_multiple_outputs(self, score) -> list:
        scores = listify(score)
        for item in scores:
            if not callable(item):
                raise ValueError(f"Score object must be callable. Received: score={item!r}")
        if len(scores) != len(self.model.outputs):
            raise ValueError(
                f"The model has {len(self.model.outputs)} outputs, but the number of score functions "
                f"you passed is {len(scores)}. Received: score={score!r}"[:400]
            )
        return scores

    def _get_seed_inputs_for_multiple_inputs(self, seed_input) -> list:
        """The seeds as numpy batches, one per model input (a batch axis added where missing)."""
        from vis.visualization import common

        seeds = listify(seed_input)
        if len(seeds) != len(self.model.inputs):
            raise ValueError(
                f"The model has {len(self.model.inputs)} inputs, but the number of seed inputs "
                f"you passed is {len(seeds)}. Received: seed_input of type {type(seed_input).__name__}"
            )
        batches = []
        for i, (seed, tensor) in enumerate(zip(seeds, self.model.inputs)):
            array = np.asarray(seed)
            if array.ndim == len(tensor.shape) - 1:
                array = array[None]
            label = "seed_input" if len(seeds) == 1 else f"seed_input[{i}]"
            batches.append(common.prepare_seed(array, tensor, label, keep_batch_axis=True)[0])
        return batches

    def _calculate_scores(self, outputs, score_functions) -> list:
        """Each score function on its output, averaged per sample (for visualisers of your own)."""
        return [
            self._mean_score_value(function(output)) for output, function in zip(outputs, score_functions)
        ]

    def _mean_score_value(self, score):
        """A score's values (a tensor, list or tuple) averaged over every axis but the first."""
        if not tf.is_tensor(score):
            if isinstance(score, (list, tuple)) and len(score) > 0 and tf.is_tensor(score[0]):
                score = tf.stack(score, axis=0)
            else:
                score = tf.constant(score)
        return tf.math.reduce_mean(score, axis=tuple(range(1, score.ndim)))


def check_training(training) -> None:
    """vis runs models in inference mode only (Dropout off, BatchNorm on its moving statistics).

    Raises:
        ValueError: For `training=True`.
    """
    if training:
        raise ValueError(
            "vis runs the model in inference mode only (Dropout off, BatchNorm on its moving "
            f"statistics): `training` must be False. Received: training={training!r}"
        )


def current_definitions() -> str:
    """The value of `definitions`, checked.

    Raises:
        ValueError: For a value other than "tf-keras-vis" or "paper".
    """
    if definitions not in _DEFINITIONS:
        raise ValueError(
            f"`vis.compat.tf_keras_vis.definitions` must be one of {_DEFINITIONS}. Received: {definitions!r}"
        )
    return definitions
