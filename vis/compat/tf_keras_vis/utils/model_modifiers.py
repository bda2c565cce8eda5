"""tf-keras-vis 0.8.7's model modifiers, on vis's model rebuilding and guided backprop rule.

Unlike 0.8.7's they work on Keras 3 Sequential, nested and reloaded models: output layers are
found from `model.outputs` (Keras 3 Sequential models lack 0.8.7's `model.output_names`), and
`GuidedBackpropagation` reaches the layers of nested models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import keras
import tensorflow as tf

import vis._tensorflow_check  # noqa: F401
from vis.backprop_modifiers import _guided_mask as guided_mask
from vis.compat.tf_keras_vis.utils import find_layer
from vis.engine import graph
from vis.utils.modifications import apply_modifications

_CONV_TYPES = tuple(getattr(keras.layers, f"Conv{n}D{kind}") for n in (1, 2, 3) for kind in ("", "Transpose"))


class ModelModifier(ABC):
    """Abstract model modifier: `modifier(model)` changes the model in place or returns a new one."""

    @abstractmethod
    def __call__(self, model):
        """Modifies `model` in place (returns None) or returns a new model (subclasses implement it)."""
        raise NotImplementedError()


def output_layers(model) -> list:
    """The layers computing the model's outputs, looking inside nested models."""
    layers = [graph.producer(tensor)[0] for tensor in model.outputs]
    return _flat(layers, output_layers)


def _all_layers(model) -> list:
    return _flat(model.layers, _all_layers)


def _flat(layers: list, inner) -> list:
    """`layers`, each nested model replaced by `inner(model)`'s layers."""
    return [x for layer in layers for x in (inner(layer) if isinstance(layer, keras.Model) else [layer])]


class ReplaceToLinear(ModelModifier):
    """Replaces the activation of every output layer by `linear` (put it last in a modifier list)."""

    def __call__(self, model):
        layers = output_layers(model)
        rebuild = not all(hasattr(layer, "activation") for layer in layers)  # a `Softmax` layer: rebuilt
        for layer in layers:
            layer.activation = keras.activations.linear
        return apply_modifications(model, {"_Guided": _Guided}) if rebuild else None


class ExtractIntermediateLayer(ModelModifier):
    """Returns a model whose output is the output of one layer (by index or name).

    Raises:
        TypeError: When `index_or_name` is neither a str nor an int.
    """

    def __init__(self, index_or_name) -> None:
        if isinstance(index_or_name, bool) or not isinstance(index_or_name, (str, int)):
            raise TypeError(
                f"`index_or_name` must be a str or an int. Received: index_or_name={index_or_name!r}"
            )
        self.index_or_name = index_or_name

    def __call__(self, model) -> keras.Model:
        key = self.index_or_name
        return sub_model(model, [model.get_layer(**{"index" if isinstance(key, int) else "name": key})])


def sub_model(model, layers: list) -> keras.Model:
    """A Functional model from the model's inputs to the outputs of `layers` (top-level layers).

    Each layer's output is read where the model's own graph computes it, so Sequential, nested
    (a base model as a layer) and reloaded models work too.
    """
    found = {}
    for tensor in graph.ancestry(model.outputs):
        found.setdefault(id(graph.producer(tensor)[0]), tensor)
    return keras.Model(inputs=model.inputs, outputs=[found.get(id(layer), layer.output) for layer in layers])


class GuidedBackpropagation(ModelModifier):
    """Guided backpropagation (Springenberg et al. 2015), as 0.8.7 does it.

    Every layer (nested models' too) whose `activation` is one of
    `target_activations` gets, in place, that activation with guided backprop's
    gradient (vis's rule, `vis.backprop_modifiers.guided`). The model changed
    is the copy under `clone=True`, the model given under `clone=False`.

    Args:
        target_activations: The activation functions whose gradient becomes guided.
    """

    def __init__(self, target_activations=[keras.activations.relu]) -> None:  # noqa: B006 (0.8.7's default)
        self.target_activations = target_activations

    def __call__(self, model) -> None:
        for layer in _all_layers(model):
            activation = getattr(layer, "activation", None)
            if activation is not None and activation in self.target_activations:
                layer.activation = _Guided(activation)


class _Guided:
    """`activation` with guided backprop's gradient: `dy` where `dy > 0` and the input `x > 0`, else 0.

    Keras-serialisable: a later rebuild (`ReplaceToLinear` on a `Softmax` head) keeps it.
    """

    def __init__(self, activation) -> None:
        self.activation = keras.activations.get(activation)

    def __call__(self, x):
        @tf.custom_gradient
        def guided(x):
            return self.activation(x), lambda dy: dy * tf.cast(guided_mask(dy, x, None), dy.dtype)

        return guided(x)

    def get_config(self) -> dict:
        return {"activation": keras.activations.serialize(self.activation)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def penultimate(model, penultimate_layer=None, seek_conv_layer=True):
    """The layer whose feature maps the CAM methods weigh, found as in 0.8.7.

    Raises:
        ValueError: When no such layer exists or its output has no spatial axis.
    """
    layer = -1 if penultimate_layer is None else penultimate_layer
    if isinstance(layer, str):
        layer = find_layer(model, lambda candidate: candidate.name == penultimate_layer)
    elif isinstance(layer, int) and not isinstance(layer, bool) and layer < len(model.layers):
        layer = model.layers[layer]
    elif not isinstance(layer, keras.layers.Layer):
        raise ValueError(f"Invalid argument. Received: penultimate_layer={penultimate_layer!r}")
    if layer is not None and seek_conv_layer:
        layer = find_layer(model, lambda candidate: isinstance(candidate, _CONV_TYPES), offset=layer)
    if layer is None:
        raise ValueError(
            "Unable to determine the penultimate `Conv` layer. "
            f"Received: penultimate_layer={penultimate_layer!r}"
        )
    if len(layer.output.shape) < 3:
        raise ValueError(
            "The penultimate layer's output must have samples, spaces and channels dimensions. "
            f"Received: layer '{layer.name}' with output shape {layer.output.shape}"
        )
    return layer


class ExtractIntermediateLayerForGradcam(ModelModifier):
    """Returns a model whose outputs are the model's outputs (optionally) and the penultimate layer's."""

    def __init__(self, penultimate_layer=None, seek_conv_layer=True, include_model_outputs=True):
        self.penultimate_layer = penultimate_layer
        self.seek_conv_layer = seek_conv_layer
        self.include_model_outputs = include_model_outputs

    def __call__(self, model):
        layer = penultimate(model, self.penultimate_layer, self.seek_conv_layer)
        features = sub_model(model, [layer]).outputs
        outputs = [*model.outputs] if self.include_model_outputs else []
        return keras.Model(inputs=model.inputs, outputs=outputs + features)
