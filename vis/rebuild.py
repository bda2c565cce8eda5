"""Re-running a symbolic graph on fresh inputs: nested models inlined, layers swapped.

`rebuild(inputs, outputs, replace)` walks the graph from `inputs` to
`outputs` (a model, or loss expressions over a model) and calls every
operation again on new `keras.Input`s. Nested models are inlined, so every
inner layer's output becomes a tensor of the one flat graph that can be
differentiated. `replace(layer)` may return a stand-in callable for a layer
(a backprop modifier uses this to give ReLUs another gradient). The user's
layers are reused, not copied, so weights are shared and never stale.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras.src import tree

from vis import graph

Replace = Callable[[keras.layers.Layer], Callable | None]


class Rebuilt:
    """The result of `rebuild`.

    Attributes:
        inputs: New `keras.Input` tensors, one per given input, in order.
        outputs: The given outputs computed on the new inputs.
        produced: `(id(layer), tensor_index) -> [tensors]`, every output of
            every layer (nested ones included) in the new graph.
    """

    def __init__(self, inputs: list, outputs: list, produced: dict) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.produced = produced
        self._keep = []  # layers whose ids are keys of `produced`

    def find(self, tensor) -> list:
        """Returns the new tensors standing for a tensor of the original graph."""
        operation, index = graph.producer(tensor)
        return self.produced.get((id(operation), index), [])


def rebuild(inputs: list, outputs: list, replace: Replace | None = None) -> Rebuilt:
    """Re-runs the graph between `inputs` and `outputs` on new inputs.

    Args:
        inputs: Keras tensors the outputs are computed from (`InputLayer`
            outputs or `keras.Input` placeholders).
        outputs: Keras tensors to recompute.
        replace: Optional `layer -> callable or None`; a callable is called
            instead of the layer.

    Returns:
        A `Rebuilt` with the new inputs, outputs and per-layer tensors.
    """
    new_inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype) for t in inputs]
    result = Rebuilt(new_inputs, [], {})
    function = keras.Function(list(inputs), list(outputs))
    hook = _Hook(replace, result)
    result.outputs = tree.flatten(function._run_through_graph(new_inputs, operation_fn=hook.wrap))
    return result


class _Hook:
    """Decides, per operation, what to call instead, and records layer outputs."""

    def __init__(self, replace: Replace | None, result: Rebuilt) -> None:
        self.replace = replace
        self.result = result

    def wrap(self, operation) -> Callable:
        def call(*args, **kwargs):
            outputs = self._call(operation, args, kwargs)
            if isinstance(operation, keras.layers.Layer):
                self._record(operation, outputs)
            return outputs

        return call

    def _call(self, operation, args, kwargs):
        if isinstance(operation, keras.Sequential):
            return self._sequential(operation, args[0])
        if isinstance(operation, keras.Model) and hasattr(operation, "_run_through_graph"):
            inner = tree.flatten(args[0])
            outputs = operation._run_through_graph(inner, operation_fn=self.wrap)
            return outputs
        stand_in = None
        if self.replace is not None and isinstance(operation, keras.layers.Layer):
            stand_in = self.replace(operation)
        return (stand_in or operation)(*args, **kwargs)

    def _sequential(self, model, x):
        for layer in model.layers:
            x = self.wrap(layer)(x)
        return x

    def _record(self, layer, outputs) -> None:
        self.result._keep.append(layer)
        for index, tensor in enumerate(tree.flatten(outputs)):
            self.result.produced.setdefault((id(layer), index), []).append(tensor)


def flat_model(model, replace: Replace | None = None) -> tuple[keras.Model, Rebuilt]:
    """Returns a flat copy of a model (nested models inlined, layers shared) and its map.

    Args:
        model: A Functional or Sequential Keras model.
        replace: Optional `layer -> callable or None` (see `rebuild`).
    """
    rebuilt = rebuild(list(model.inputs), list(model.outputs), replace)
    outputs = rebuilt.outputs[0] if len(rebuilt.outputs) == 1 else rebuilt.outputs
    inputs = rebuilt.inputs[0] if len(rebuilt.inputs) == 1 else rebuilt.inputs
    return keras.Model(inputs, outputs, name=f"{model.name}_flat"), rebuilt
