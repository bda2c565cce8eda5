"""Objectives: what feature visualization maximises, as `vis` losses (lucid's `objectives`).

Each objective is a `Loss` for `visualize_activation_with_losses` or
`Optimizer` (minimised, so it is minus the activation):

- `channel(layer, index)`: the mean of one channel over space (a class
  logit for a Dense layer): `vis.losses.ActivationMaximization`, the
  objective `visualize_activation` uses. The index is fed at run time, so
  another channel does not retrace.
- `Neuron(layer, index, position)`: one channel at one spatial position (the
  centre by default).
- `LayerObjective(layer)`: the mean square of the whole layer (DeepDream).

Layers may be given by object or found by name with `vis.utils.utils.get_layer`
(also deep inside a nested base).
"""

from __future__ import annotations

from collections.abc import Hashable

import keras

from vis.losses import ActivationMaximization, Loss
from vis.utils.layers import channel_axis


def channel(layer, index: int) -> ActivationMaximization:
    """The mean activation of channel `index` of `layer`, as a loss (minus it)."""
    return ActivationMaximization(layer, index)


class Neuron(ActivationMaximization):
    """One channel of a layer at one spatial position (the centre by default).

    Args:
        layer: A layer with spatial axes (Conv, Pooling), channels last.
        index: The channel.
        position: The spatial index, e.g. `(row, column)`; None for the centre.

    Raises:
        ValueError: For an index out of range, a layer without spatial axes
            or a position of the wrong length.
    """

    name = "Neuron Loss"

    def __init__(self, layer, index: int, position: tuple | None = None) -> None:
        super().__init__(layer, index)
        spatial = tuple(layer.output.shape[1:-1])
        if not spatial or None in spatial or channel_axis(layer, len(layer.output.shape)) == 1:
            raise ValueError(
                f"`Neuron` needs a channels-last layer output of known spatial size. Received: layer "
                f"'{layer.name}' with output shape {tuple(layer.output.shape)}"
            )
        position = tuple(n // 2 for n in spatial) if position is None else tuple(position)
        if len(position) != len(spatial) or not all(0 <= p < n for p, n in zip(position, spatial)):
            raise ValueError(
                f"`position` must index the spatial shape {spatial}. Received: position={position}"
            )
        self.position = position

    def cache_key(self) -> Hashable:
        return ("Neuron", id(self.layer), self.num_filters, self.position)

    def build_loss(self):
        output = self.layer.output
        at = output[(slice(None), *self.position)]  # (batch, channels)
        selection = keras.Input(batch_shape=(None, self.num_filters))
        self.runtime_placeholders = [selection]
        return -keras.ops.sum(keras.ops.cast(at, "float32") * selection, axis=-1)


class LayerObjective(Loss):
    """The mean square of a layer's whole output (DeepDream): every feature at once.

    Args:
        layer: The Keras layer.
    """

    name = "Layer Loss"

    def __init__(self, layer) -> None:
        super().__init__()
        self.layer = layer

    def cache_key(self) -> Hashable:
        return ("LayerObjective", id(self.layer))

    def build_loss(self):
        output = keras.ops.cast(self.layer.output, "float32")
        return -keras.ops.mean(keras.ops.square(output), axis=tuple(range(1, len(output.shape))))
