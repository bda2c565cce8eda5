"""Explaining why a gradient does not reach its target, by naming the layer that cuts it.

The engine finds that a loss has no gradient (a `None` from the tape); this
module turns that into an error a user can act on. Two cases:

- a tensor on the path is not floating point (argmax, a cast to int): found
  statically, from dtypes, before anything is compiled (`check_paths`);
- a layer outputs floats but has no gradient inside (a `Lambda` that casts
  to int and back, `stop_gradient`): found from which tensors of the graph
  the loss's gradient reaches (`cut_layer`, given that reach by the engine).
"""

from __future__ import annotations

import collections

import keras

from vis.engine import graph


def check_paths(names: list, exprs: list, placeholders: list, wrt_inputs, wrt_tensor) -> None:
    """Raises when one loss reaches the target only through non-float tensors.

    Without this, a dead loss (say an argmax head) would pass unnoticed as long
    as another loss (a regularizer on the input) still has a gradient.

    Raises:
        ValueError: Naming the loss and the operation that cuts its path.
    """
    if wrt_inputs is not None:
        targets = graph.sources(exprs, exclude=placeholders)
    else:
        targets = graph.occurrences(wrt_tensor, exprs)
    for name, expr in zip(names, exprs):
        cut = graph.blocked_path(expr, targets)
        if cut is not None:
            raise ValueError(
                f"The gradient of loss '{name}' cannot reach the tensor it is taken with respect to: "
                f"operation '{cut.name}' outputs non-float values (argmax, cast to int, rounding), "
                "which have no gradient. Visualize a layer before it."
            )


def check_input_dtypes(exprs: list, inputs: list, wrt_inputs) -> None:
    """Raises for a gradient taken w.r.t. an integer input (token ids), saying what to take instead.

    Raises:
        ValueError: Naming the input and the first float layer after it
            (an `Embedding`), to pass as `wrt_tensor`.
    """
    for index in wrt_inputs or []:
        tensor = inputs[index]
        if keras.backend.is_float_dtype(tensor.dtype):
            continue
        after = first_float_layer(tensor)
        hint = (
            f"wrt_tensor=model.get_layer({after!r}).output"
            if after
            else "wrt_tensor=<a float layer's output>"
        )
        raise ValueError(
            f"Input '{tensor.name}' holds {tensor.dtype} values (token ids, categories), which have no "
            f"gradient. Take the gradient with respect to the first float layer after it instead: pass "
            f"`{hint}` (a saliency map then has one value per token). Received: wrt_tensor=None "
            f"(the input '{tensor.name}')"
        )


def first_float_layer(tensor) -> str | None:
    """The name of the nearest layer after `tensor` that outputs floats (an `Embedding`), if any."""
    queue, seen = collections.deque([tensor]), set()
    while queue:
        current = queue.popleft()
        for node in graph.consumers(current):
            if any(keras.backend.is_float_dtype(t.dtype) for t in node.outputs):
                return node.operation.name
            if id(node) not in seen:
                seen.add(id(node))
                queue.extend(node.outputs)
    return None


def check_recorded(wrt_tensor, found: list) -> None:
    """Raises unless the plan computes `wrt_tensor` on the way to the losses."""
    if not found:
        name = graph.producer(wrt_tensor)[0].name
        raise ValueError(
            f"The losses do not depend on `wrt_tensor` (output of layer '{name}'): it must lie "
            f"between the model's input and the layer the losses are built on. "
            f"Received: wrt_tensor={wrt_tensor!r}"
        )


def modifier_warning(modifier, plan) -> str | None:
    """The warning for a backprop modifier that changed no layer (no ReLU in the model), or None."""
    if modifier is None or plan.replaced or not hasattr(modifier, "relu_fn"):
        return None
    found = sorted({name for name in (_activation_name(layer) for layer in plan.layers) if name})
    seen = f" (activations found: {', '.join(found)})" if found else ""
    return (
        f"backprop_modifier={modifier.name!r} changed nothing: the model has no ReLU or ReLU6 "
        f"activation{seen}, so the map equals the plain gradient map. Guided and rectified backprop "
        "are defined for rectifiers only."
    )


_ACTIVATION_LAYERS = tuple(
    getattr(keras.layers, name)
    for name in ("ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax")
    if hasattr(keras.layers, name)
)


def _activation_name(layer) -> str | None:
    activation = getattr(layer, "activation", None)
    if activation is not None:
        name = getattr(activation, "__name__", type(activation).__name__)
        return None if name == "linear" else name
    if isinstance(layer, _ACTIVATION_LAYERS):
        return type(layer).__name__
    return None


def depends_on_layers(expr) -> bool:
    """Whether a loss expression goes through any layer of the model (not only the input)."""
    return any(
        isinstance(graph.producer(t)[0], keras.layers.Layer) and not graph.is_input(t)
        for t in graph.ancestry([expr])
    )


def probe_points(expr) -> list:
    """Returns the float tensors a loss is computed from, whose gradient tells where it stops."""
    return [t for t in graph.ancestry([expr]) if keras.backend.is_float_dtype(t.dtype)]


def cut_layer(points: list, reached: list, floats: list) -> str | None:
    """Returns the name of the layer that stops the gradient, given which points it reaches.

    The gradient reaches a tensor but none of its inputs: the layer that made
    it is the cut, unless one of those inputs holds integers (then the layer
    that output the integers is).
    """
    reach = {id(t): r for t, r in zip(points, reached)}
    real_float = {id(t): f for t, f in zip(points, floats)}
    for tensor in points:
        parents = [p for p in graph.parents(tensor) if id(p) in reach]
        if reach[id(tensor)] and parents and not any(reach[id(p)] for p in parents):
            integers = [p for p in parents if not real_float[id(p)]]
            return graph.producer(integers[0] if integers else tensor)[0].name
    return None


def unreachable_message(name: str, layer: str | None, exprs: list) -> str:
    """The error for a loss whose gradient does not reach its target."""
    start = f"The gradient of loss '{name}' does not reach the tensor it is taken with respect to: "
    if layer is not None:
        return (
            start + f"layer '{layer}' has no gradient (argmax, a cast to int and back, rounding, "
            "stop_gradient inside it). Visualize a layer before it."
        )
    return start + "the path between them is not differentiable. " + _hint(exprs)


def _hint(exprs: list) -> str:
    for tensor in graph.ancestry(exprs):
        if not keras.backend.is_float_dtype(tensor.dtype):
            operation = graph.producer(tensor)[0]
            return (
                f"Layer '{operation.name}' outputs {tensor.dtype} values, which have no gradient "
                "(argmax, cast to int, rounding). Visualize a layer before it."
            )
    names = ", ".join(f"'{layer.name}'" for layer in graph.layers_between(exprs))
    return f"One of these layers has no gradient (argmax, cast, stop_gradient): {names}."


def loss_expression(loss):
    """Returns `loss.build_loss()`, checked to be a symbolic Keras tensor."""
    expr = loss.build_loss()
    if not graph.is_keras_tensor(expr):
        raise TypeError(
            f"`{type(loss).__name__}.build_loss()` must return a symbolic Keras tensor built with "
            f"`keras.ops` over `layer.output` or the model's inputs. Received: {expr!r}"
        )
    return expr
