"""tf-keras-vis 0.8.7's API on vis: replace `tf_keras_vis` by `vis.compat.tf_keras_vis` in the imports.

Each visualiser translates its arguments to vis's functions and runs on
`vis.engine`: scores become vis losses (`_scoring`), model modifiers map to
`vis.utils.apply_modifications` and vis's backprop modifiers.

`definitions` chooses whose results the visualisers give where tf-keras-vis
departs from the papers: `"tf-keras-vis"` (the default: a switch changes no
picture) or `"paper"` (grad-CAM++ without alpha renormalisation; Score-CAM
scoring with the output's probabilities). See docs/coming-from-tf-keras-vis.md.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import keras
import numpy as np

import vis._tensorflow_check  # noqa: F401  (a clear ImportError without TensorFlow 2.16+)
from vis.compat.tf_keras_vis._scoring import mean_score
from vis.compat.tf_keras_vis.utils import listify
from vis.utils.modifications import apply_modifications
from vis.visualization.common import prepare_seed

__version__ = "0.8.7"  # The tf-keras-vis API this package mirrors.
definitions = "tf-keras-vis"
_DEFINITIONS = ("tf-keras-vis", "paper")


class ModelVisualization(ABC):
    """Base of the visualisers: holds the model, modified as `model_modifier` says.

    Args:
        model: A Keras model.
        model_modifier: A `ModelModifier`, a function `model -> model or None`, or a list of them.
        clone: With a modifier, work on a copy of `model` (weights copied), never changing it;
            False lets the modifiers change `model` itself, as in 0.8.7.

    Raises:
        TypeError: If `model` is not a Keras model.
    """

    def __init__(self, model, model_modifier=None, clone=True) -> None:
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model. Received: model={model!r}"[:300])
        self.model = model
        modifiers = listify(model_modifier)
        if modifiers and clone:
            self.model = apply_modifications(model)
        for modifier in modifiers:
            new_model = modifier(self.model)
            self.model = self.model if new_model is None else new_model

    @abstractmethod
    def __call__(self):
        """Visualises the model (subclasses implement it).

        Raises:
            NotImplementedError: Always, here.
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
        """The seeds as float batches (vis's checks), one per model input, a batch axis added if missing."""
        seeds = listify(seed_input)
        if len(seeds) != len(self.model.inputs):
            raise ValueError(
                f"The model has {len(self.model.inputs)} inputs, but the number of seed inputs "
                f"you passed is {len(seeds)}. Received: seed_input of type {type(seed_input).__name__}"
            )
        batches = []
        for i, (seed, tensor) in enumerate(zip(seeds, self.model.inputs)):
            array = np.asarray(seed)
            array = array[None] if array.ndim == len(tensor.shape) - 1 else array
            label = "seed_input" if len(seeds) == 1 else f"seed_input[{i}]"
            batches.append(prepare_seed(array, tensor, label, keep_batch_axis=True)[0])
        return batches

    def _calculate_scores(self, outputs, score_functions) -> list:
        return [
            self._mean_score_value(function(output)) for output, function in zip(outputs, score_functions)
        ]

    def _mean_score_value(self, score):
        return mean_score(score)


def check_training(training) -> None:
    """Refuses `training=True`: vis runs models in inference mode only.

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
