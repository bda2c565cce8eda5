"""What Score-CAM scores a masked input with: the raw output, or the probability a head gives.

Wang et al. (2020) weigh each feature map by the class *probability* of the
input it masks. On the keras-vis workflow the softmax head is swapped for a
linear one (`vis.utils.utils.apply_modifications`), so the scored layer gives
logits; `score_activation` says how to turn them back into a score:

- `"auto"` (the default): the paper. The logits of a classifier head (a
  multi-unit layer with a linear activation whose output is an output of the
  model) go through a softmax over its units; every other layer is scored
  raw: a head that already ends in softmax or sigmoid gives probabilities; a
  one-unit linear head cannot be told apart from a regression output (a
  softmax over one unit would be the constant 1, every channel the same
  weight; pass `"sigmoid"` for a binary classifier's logit); an intermediate
  layer or a convolution filter has no class probability (a softmax across
  hidden units would make each one's score depend on all the others).
- `"softmax"`: a softmax over the scored output's units (the channel axis,
  at every position of a spatial output) whatever its activation, as
  tf-keras-vis 0.8.7 scores (on a softmax head, the softmax of probabilities).
- `"sigmoid"`: the logistic function of each unit.
- None: the raw output (the default of vis 0.6 and earlier).

The activation is part of the loss (`ActivatedScore`), a `keras.ops`
expression the engine compiles with the forward: no extra pass, and like any
loss it is traced once per model and layer (its own cache key), never per call.
"""

from __future__ import annotations

from collections.abc import Hashable

import keras

from vis.engine import graph
from vis.losses import ActivationMaximization
from vis.utils.layers import channel_axis

SCORE_ACTIVATIONS = ("auto", "softmax", "sigmoid", None)
_NAMES = ("auto", "softmax", "sigmoid")
_PROBABILITIES = ("softmax", "sigmoid")


def check_score_activation(score_activation) -> None:
    """Raises a ValueError unless `score_activation` is one of `SCORE_ACTIVATIONS`."""
    if not (score_activation is None or (isinstance(score_activation, str) and score_activation in _NAMES)):
        raise ValueError(
            '`score_activation` must be "auto", "softmax", "sigmoid" or None. '
            f"Received: score_activation={score_activation!r}"
        )


def resolve(model, layer, score_activation) -> str | None:
    """The activation `score_activation` applies to `layer`'s output: "softmax", "sigmoid" or None."""
    check_score_activation(score_activation)
    if score_activation != "auto":
        return score_activation
    return "softmax" if is_logits_head(model, layer) else None


def is_logits_head(model, layer) -> bool:
    """Whether `layer` gives a classifier's logits: linear, more than one unit, an output of the model."""
    activation = getattr(layer, "activation", None)
    if isinstance(layer, keras.layers.Softmax) or getattr(activation, "__name__", None) != "linear":
        return False
    shape = layer.output.shape
    return len(shape) == 2 and shape[-1] is not None and shape[-1] > 1 and _is_output(model, layer)


def _is_output(model, layer) -> bool:
    """Whether `layer` computes an output of `model` (also as the last layer of a nested model)."""
    if isinstance(model, keras.Sequential) and model.layers and model.layers[-1] is layer:
        return True
    for tensor in getattr(model, "outputs", None) or []:
        if not graph.is_keras_tensor(tensor):
            continue
        producer = graph.producer(tensor)[0]
        if producer is layer or (isinstance(producer, keras.Model) and _is_output(producer, layer)):
            return True
    return False


class ActivatedScore(ActivationMaximization):
    """`ActivationMaximization` of the chosen filters after a softmax or sigmoid over the layer's units.

    The loss is minus the chosen filters' mean (over space) probability:
    the softmax runs over the channel axis at every position, in float32.

    Args:
        layer: The scored Keras layer.
        filter_indices: As for `ActivationMaximization`.
        activation: "softmax" or "sigmoid".

    Raises:
        ValueError: For another `activation`, or bad `filter_indices`.
    """

    name = "Activated Score"

    def __init__(self, layer, filter_indices, activation: str) -> None:
        if activation not in _PROBABILITIES:
            raise ValueError(
                f'`activation` must be "softmax" or "sigmoid". Received: activation={activation!r}'
            )
        super().__init__(layer, filter_indices)
        self.activation = activation

    def cache_key(self) -> Hashable:
        return ("ActivatedScore", self.activation, id(self.layer), self.num_filters)

    def build_loss(self):
        output = keras.ops.cast(self.layer.output, "float32")
        axis = channel_axis(self.layer, output.ndim)
        if self.activation == "softmax":
            output = keras.ops.softmax(output, axis=axis)
        else:
            output = keras.ops.sigmoid(output)
        spatial = tuple(a for a in range(1, output.ndim) if a != axis)
        per_filter = keras.ops.mean(output, axis=spatial) if spatial else output
        selection = keras.Input(batch_shape=(None, self.num_filters))
        self.runtime_placeholders = [selection]
        return -keras.ops.sum(per_filter * selection, axis=-1)


def score_loss(model, layer, filter_indices, score_activation) -> ActivationMaximization:
    """The loss whose negation scores a masked input, for `visualize_score_cam`'s `score_activation`."""
    activation = resolve(model, layer, score_activation)
    if activation is None:
        return ActivationMaximization(layer, filter_indices)
    return ActivatedScore(layer, filter_indices, activation)
