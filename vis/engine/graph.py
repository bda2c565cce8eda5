"""Reading Keras 3 symbolic graphs: ancestry, input sources, nested models, layer occurrences.

The engine never calls a user's layer symbolically (that would add nodes to
the user's model). It reads the graph that `layer.output`, `model.inputs` and
`keras.ops` expressions already describe, and binds tensors by the operation
that produced them, never by name. That is what makes models as users have
them work: in a `Sequential` reloaded with `keras.models.load_model`,
`layer.output` and `model.outputs` lie on different copies of the graph, and
only the layer object ties them together; and in a fresh process, a loaded
model and a loss's placeholders can hold operations of the same name.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator

import keras
from keras.src.models.functional import Functional


def history(tensor):
    """Returns `(operation, node_index, tensor_index)` of a Keras tensor, or None."""
    return getattr(tensor, "_keras_history", None)


def is_keras_tensor(value) -> bool:
    """Whether `value` is a symbolic Keras tensor with a producing operation."""
    return history(value) is not None


def producer(tensor):
    """Returns `(operation, tensor_index)`: which output of which operation a tensor is."""
    operation, _, tensor_index = history(tensor)
    return operation, tensor_index


def is_input(tensor) -> bool:
    """Whether a Keras tensor is the output of an `InputLayer`."""
    return isinstance(history(tensor).operation, keras.layers.InputLayer)


def parents(tensor) -> list:
    """Returns the Keras tensors a tensor was computed from."""
    operation, node_index, _ = history(tensor)
    if not operation._inbound_nodes:
        return []
    return list(operation._inbound_nodes[node_index].input_tensors)


def ancestry(tensors: Iterable) -> Iterator:
    """Yields every Keras tensor the given ones depend on (themselves included), nearest first."""
    seen: set[int] = set()
    queue = collections.deque(t for t in tensors if is_keras_tensor(t))
    while queue:
        tensor = queue.popleft()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        yield tensor
        queue.extend(parents(tensor))


def sources(tensors: Iterable, exclude: Iterable = ()) -> list:
    """Returns the `InputLayer` tensors the given tensors depend on, minus `exclude`."""
    excluded = {id(t) for t in exclude}
    return [t for t in ancestry(tensors) if is_input(t) and id(t) not in excluded]


def occurrences(target, tensors: Iterable) -> list:
    """Returns the tensors among the ancestry of `tensors` produced like `target`.

    "Produced like" means the same output of the same operation, whichever
    call (node) of it: a layer called on several copies of a graph yields one
    occurrence per copy.
    """
    key = producer(target)
    return [t for t in ancestry(tensors) if producer(t) == key]


def match_sources(found: list, inputs: list) -> list[int]:
    """Maps each source tensor to the index of the model input it stands for.

    A source is matched to an input when it is that very tensor, comes from
    the same `InputLayer`, has the same layer name or (failing all that) is
    the only input with a compatible shape.

    Raises:
        ValueError: If a source cannot be matched to exactly one input.
    """
    indices = []
    for source in found:
        index = _match_one(source, inputs)
        if index is None:
            names = [getattr(t, "name", "?") for t in inputs]
            raise ValueError(
                f"The losses depend on the input '{source.name}' with shape {source.shape}, "
                f"which is none of the given input tensors {names}. Pass the model's inputs "
                f"as `input_tensor`. Received: input_tensor={inputs!r}"
            )
        indices.append(index)
    return indices


def _match_one(source, inputs: list) -> int | None:
    tests = (
        lambda t: t is source,
        lambda t: producer(t)[0] is producer(source)[0],
        lambda t: producer(t)[0].name == producer(source)[0].name and _same_shape(t, source),
        lambda t: _same_shape(t, source),
    )
    for test in tests:
        hits = [i for i, t in enumerate(inputs) if is_keras_tensor(t) and test(t)]
        if len(hits) == 1:
            return hits[0]
    return None


def _same_shape(a, b) -> bool:
    shape_a, shape_b = tuple(a.shape), tuple(b.shape)
    if len(shape_a) != len(shape_b):
        return False
    return all(x is None or y is None or x == y for x, y in zip(shape_a[1:], shape_b[1:]))


def layers_between(tensors: Iterable) -> list:
    """Returns the layers that produced the ancestry of `tensors`, nearest first, once each."""
    found, seen = [], set()
    for tensor in ancestry(tensors):
        operation = producer(tensor)[0]
        if isinstance(operation, keras.layers.Layer) and id(operation) not in seen:
            seen.add(id(operation))
            found.append(operation)
    return found


def postorder(tensors: Iterable) -> list:
    """Returns the ancestry of `tensors` ordered so that every tensor comes after its parents."""
    order, seen = [], set()
    stack = [(t, False) for t in tensors if is_keras_tensor(t)]
    while stack:
        tensor, done = stack.pop()
        if done:
            order.append(tensor)
            continue
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        stack.append((tensor, True))
        stack.extend((p, False) for p in parents(tensor) if id(p) not in seen)
    return order


def is_inlinable(operation) -> bool:
    """Whether a nested model's graph can be run layer by layer (Functional, `call` not overridden)."""
    if isinstance(operation, keras.Sequential):
        return type(operation).call is keras.Sequential.call
    return isinstance(operation, Functional) and type(operation).call is Functional.call


def input_layers(model) -> list:
    """The `InputLayer`s of a model and of the models nested in it (a Sequential's own one included)."""
    found = {id(producer(t)[0]): producer(t)[0] for t in model.inputs}
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.InputLayer):
            found.setdefault(id(layer), layer)
    return list(found.values())


def consumers(tensor) -> list:
    """The nodes (calls) that take this very tensor as an input."""
    operation = producer(tensor)[0]
    return [node for node in operation._outbound_nodes if any(t is tensor for t in node.input_tensors)]


def nested_inputs(inputs: Iterable) -> dict:
    """Maps the id of each `InputLayer` inside a nested model fed by `inputs` to the node calling it.

    Found by walking forward from the inputs, call by call; only models that
    can be inlined count (see `is_inlinable`).
    """
    found: dict = {}
    seen: set[int] = set()
    queue = collections.deque(inputs)
    while queue:
        tensor = queue.popleft()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        for node in consumers(tensor):
            if isinstance(node.operation, keras.Model) and is_inlinable(node.operation):
                for layer in input_layers(node.operation):
                    found.setdefault(id(layer), node)
            queue.extend(node.outputs)
    return found


def blocked_path(expr, targets: Iterable):
    """Returns the operation that cuts every differentiable path from `expr` to `targets`.

    A path is differentiable while its tensors are floating point; an integer
    or boolean tensor (argmax, a cast to int) carries no gradient. Returns
    None when a float-only path exists, or when `expr` does not depend on the
    targets at all (a regularizer on the input, with an intermediate target).
    """
    wanted = {id(t) for t in targets}
    seen, queue, cut = set(), [expr], None
    while queue:
        tensor = queue.pop(0)
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if id(tensor) in wanted:
            return None
        if not keras.backend.is_float_dtype(tensor.dtype):
            if cut is None and any(id(t) in wanted for t in ancestry(parents(tensor))):
                cut = producer(tensor)[0]
            continue
        queue.extend(parents(tensor))
    return cut
