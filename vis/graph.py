"""Reading Keras 3 symbolic graphs: ancestry, input sources, layer occurrences.

The engine never calls a user's layer symbolically (that would add nodes to
the user's model). It reads the graph that `layer.output`, `model.inputs` and
`keras.ops` expressions already describe, and binds tensors by the layer that
produced them rather than by object identity. That is what makes models as
users have them work: in a `Sequential` reloaded with
`keras.models.load_model`, `layer.output` and `model.outputs` lie on different
copies of the graph, and only the layer identity ties them together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import keras


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
    queue = [t for t in tensors if is_keras_tensor(t)]
    while queue:
        tensor = queue.pop(0)
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


def rename_clashing_ops(tensors: Iterable) -> None:
    """Gives loss operations (plain `keras.ops`, not layers) names no other operation has.

    `keras.ops.add` in a loss is auto-named "add", like a user's `Add` layer
    after `load_model`; a graph needs unique names. Only operations created
    by loss expressions are renamed in practice: the model's own operations
    (farther from the loss) are named first and keep their names.
    """
    operations = {id(op): op for op in (producer(t)[0] for t in ancestry(tensors))}
    taken = {op.name for op in operations.values() if isinstance(op, keras.layers.Layer)}
    # Farthest first: the model's own operations keep their names, the loss's give way.
    for op in reversed(list(operations.values())):
        if isinstance(op, keras.layers.Layer):
            continue
        name, suffix = op.name, 1
        while name in taken:
            name, suffix = f"{op.name}_{suffix}", suffix + 1
        op.name = name
        taken.add(name)


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
