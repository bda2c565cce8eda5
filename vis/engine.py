"""The gradient engine: the one place in `vis` that opens a `tf.GradientTape`.

Every visualization is a call to this engine: saliency differentiates the
weighted losses with respect to the input, grad-CAM with respect to a layer's
output, and activation maximization loops over engine calls.

`get_program(input_tensors, losses, wrt_tensor)` turns the symbolic loss
expressions into a `keras.Function` once and compiles the gradient computation
with `tf.function`. Seeds, run-time loss arguments (such as the selected
filters) and loss weights are fed as tensors, so a new class index, a new
seed or a new batch size never retraces. Programs are cached on the model's
`InputLayer` object itself (not in a module-level table), so they live and
die with the user's model.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from vis import graph, rebuild

_CACHE_ATTR = "_vis_engine_programs"
_CACHE_SIZE = 16
_LOCK = threading.Lock()


@dataclass
class EngineResult:
    """What one engine call returns, as numpy arrays with the batch axis first.

    Attributes:
        named_losses: `(name, per-sample values)` for each loss, in order.
        overall_loss: Per-sample weighted sum of the losses.
        grads: Gradient of the overall loss w.r.t. `wrt_tensor` (or a list,
            one per input, for a multi-input model differentiated w.r.t. its inputs).
        wrt_value: The value of `wrt_tensor` (or list of input values).
    """

    named_losses: list
    overall_loss: np.ndarray
    grads: np.ndarray | list
    wrt_value: np.ndarray | list


class Program:
    """A compiled gradient-of-loss computation for one set of losses.

    Args:
        input_tensors: The model's input Keras tensors.
        losses: The `Loss` objects (their expressions are built here once).
        wrt_tensor: Tensor to differentiate with respect to; None for the inputs.
    """

    def __init__(self, input_tensors: list, losses: list, wrt_tensor=None, backprop_modifier=None) -> None:
        self.input_tensors = list(input_tensors)
        self.loss_names = [str(loss) for loss in losses]
        exprs = [_build(loss) for loss in losses]
        graph.rename_clashing_ops(exprs)
        self.placeholders = [p for loss in losses for p in loss.runtime_placeholders]
        found = graph.sources(exprs, exclude=self.placeholders)
        self.source_inputs = graph.match_sources(found, self.input_tensors)
        self.wrt_inputs = self._wrt_inputs(wrt_tensor)
        self._diagnosis = _nondifferentiable_hint(exprs)
        _check_paths(self.loss_names, exprs, found, self.source_inputs, self.wrt_inputs, wrt_tensor)
        graph_inputs, outputs = found + self.placeholders, exprs
        needs_rebuild = self.wrt_inputs is None and not graph.occurrences(wrt_tensor, exprs)
        if backprop_modifier is not None or needs_rebuild:
            rebuilt = rebuild.rebuild(graph_inputs, exprs, backprop_modifier)
            graph_inputs, outputs = rebuilt.inputs, rebuilt.outputs
            self.wrt_tensors = [] if self.wrt_inputs is not None else _wrt_occurrences(wrt_tensor, rebuilt)
        else:
            self.wrt_tensors = [] if self.wrt_inputs is not None else graph.occurrences(wrt_tensor, exprs)
        # A `keras.Function`, not a `keras.Model`: a Model insists on unique operation
        # names, and a user's layer named "add" collides with a `keras.ops.add` in a loss.
        self.model = keras.Function(graph_inputs, outputs + self.wrt_tensors)
        self.n_losses = len(exprs)
        # Keys built from id() stay valid only while these objects live.
        self._pinned = (list(losses), wrt_tensor, backprop_modifier)
        self.compiled = tf.function(self.gradients, input_signature=self._signature(), reduce_retracing=True)

    def _wrt_inputs(self, wrt_tensor) -> list[int] | None:
        if wrt_tensor is not None and not graph.is_keras_tensor(wrt_tensor):
            raise TypeError(
                f"`wrt_tensor` must be a Keras tensor such as `layer.output`. Received: {wrt_tensor!r}"
            )
        if wrt_tensor is None:
            return list(range(len(self.input_tensors)))
        if graph.is_input(wrt_tensor):
            return graph.match_sources([wrt_tensor], self.input_tensors)
        return None

    def _signature(self) -> list:
        seeds = [tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in self.input_tensors]
        args = [tf.TensorSpec(p.shape, p.dtype) for p in self.placeholders]
        return [seeds, args, tf.TensorSpec((self.n_losses,), tf.float32)]

    def gradients(self, seeds: list, args: list, weights):
        """Computes losses and gradients on tensors (traceable; used compiled).

        Args:
            seeds: One batch tensor per model input.
            args: Run-time loss arguments, in placeholder order.
            weights: Float tensor of shape `(n_losses,)`.

        Returns:
            `(per-sample losses (n_losses, batch), per-sample overall loss,
            grads, wrt_value)`.
        """
        seeds = [tf.convert_to_tensor(s) for s in seeds]
        batch = tf.shape(seeds[0])[0]
        with tf.GradientTape() as tape:
            if self.wrt_inputs is not None:
                tape.watch([seeds[i] for i in self.wrt_inputs])
            feeds = [seeds[i] for i in self.source_inputs] + list(args)
            # Layers run in inference mode: with no `training` argument anywhere,
            # Keras resolves it to False (Dropout off, BatchNorm moving statistics).
            outputs = tf.nest.flatten(self.model(feeds))
            per_sample = [_per_sample(o, batch) for o in outputs[: self.n_losses]]
            stacked = tf.stack(per_sample) if per_sample else tf.zeros((0, batch))
            overall = tf.reduce_sum(weights[:, None] * stacked, axis=0)
            total = tf.reduce_sum(overall)
        targets = outputs[self.n_losses :] if self.wrt_inputs is None else [seeds[i] for i in self.wrt_inputs]
        grads = tape.gradient(total, targets)
        self._check(grads)
        if self.wrt_inputs is None:
            return stacked, overall, tf.add_n(grads), targets[0]
        return stacked, overall, grads, targets

    def _check(self, grads) -> None:
        if any(g is not None for g in grads):
            return
        raise ValueError(
            f"The gradient of the losses {self.loss_names} does not reach the tensor it is taken "
            f"with respect to: the path between them is not differentiable. {self._diagnosis}"
        )

    def __call__(self, seeds: list, losses: list, weights: list) -> EngineResult:
        """Runs the compiled program on numpy seeds and returns numpy results."""
        args = [np.asarray(a) for loss in losses for a in loss.get_runtime_args()]
        seeds = [tf.convert_to_tensor(s, dtype=t.dtype) for s, t in zip(seeds, self.input_tensors)]
        stacked, overall, grads, wrt = self.compiled(seeds, args, tf.constant(weights, tf.float32))
        named = [(name, values) for name, values in zip(self.loss_names, stacked.numpy())]
        if isinstance(grads, (list, tuple)):
            grads, wrt = [g.numpy() for g in grads], [w.numpy() for w in wrt]
            if len(grads) == 1:
                grads, wrt = grads[0], wrt[0]
        else:
            grads, wrt = grads.numpy(), wrt.numpy()
        return EngineResult(named, overall.numpy(), grads, wrt)


def _build(loss):
    expr = loss.build_loss()
    if not graph.is_keras_tensor(expr):
        raise TypeError(
            f"`{type(loss).__name__}.build_loss()` must return a symbolic Keras tensor built with "
            f"`keras.ops` over `layer.output` or the model's inputs. Received: {expr!r}"
        )
    return expr


def _per_sample(value, batch):
    """Reduces a loss to one value per sample; a scalar loss counts once for the batch."""
    value = tf.cast(value, tf.float32)
    if value.shape.rank == 0:
        return tf.ones((batch,)) * value / tf.cast(batch, tf.float32)
    if value.shape.rank > 1:
        value = tf.reduce_sum(value, axis=list(range(1, value.shape.rank)))
    return value


def _wrt_occurrences(wrt_tensor, rebuilt) -> list:
    found = rebuilt.find(wrt_tensor)
    if not found:
        name = graph.producer(wrt_tensor)[0].name
        raise ValueError(
            f"The losses do not depend on `wrt_tensor` (output of layer '{name}'): it must lie "
            f"between the model's input and the layer the losses are built on. "
            f"Received: wrt_tensor={wrt_tensor!r}"
        )
    return found


def _check_paths(names: list, exprs: list, found: list, source_inputs: list, wrt_inputs, wrt_tensor) -> None:
    """Raises when one loss reaches the target only through non-differentiable tensors.

    Without this, a dead loss (say an argmax head) would pass unnoticed as long
    as another loss (a regularizer on the input) still has a gradient.
    """
    if wrt_inputs is not None:
        targets = [s for s, index in zip(found, source_inputs) if index in wrt_inputs]
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


def _nondifferentiable_hint(exprs: list) -> str:
    for tensor in graph.ancestry(exprs):
        if not keras.backend.is_float_dtype(tensor.dtype):
            operation = graph.producer(tensor)[0]
            return (
                f"Layer '{operation.name}' outputs {tensor.dtype} values, which have no gradient "
                "(argmax, cast to int, rounding). Visualize a layer before it."
            )
    names = ", ".join(f"'{layer.name}'" for layer in graph.layers_between(exprs))
    return f"One of these layers has no gradient (argmax, cast, stop_gradient): {names}."


def get_program(input_tensors: list, losses: list, wrt_tensor=None, backprop_modifier=None) -> Program:
    """Returns the cached compiled program for these losses, building it once.

    The cache key is structural: losses with the same `cache_key()` share a
    program (for example `ActivationMaximization` on one layer, whatever the
    filters). The cache lives on the first input's `InputLayer`, bounded to a
    few programs, so nothing at module level keeps a model alive.
    """
    owner = graph.producer(input_tensors[0])[0] if graph.is_keras_tensor(input_tensors[0]) else None
    key = (
        tuple(id(t) for t in input_tensors),
        tuple(loss.cache_key() or ("object", id(loss)) for loss in losses),
        None if wrt_tensor is None else id(wrt_tensor),
        None if backprop_modifier is None else id(backprop_modifier),
    )
    with _LOCK:
        cache = _cache_of(owner)
        program = cache.get(key)
        if program is not None:
            cache.move_to_end(key)
            return program
    program = Program(input_tensors, losses, wrt_tensor, backprop_modifier)
    with _LOCK:
        cache[key] = program
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return program


def _cache_of(owner) -> collections.OrderedDict:
    if owner is None:
        return collections.OrderedDict()
    cache = owner.__dict__.get(_CACHE_ATTR)
    if cache is None:
        cache = collections.OrderedDict()
        owner.__dict__[_CACHE_ATTR] = cache
    return cache


def compute(
    input_tensors, losses: list, seed_inputs, wrt_tensor=None, backprop_modifier=None
) -> EngineResult:
    """Evaluates weighted losses and their gradient for a batch of seed inputs.

    Args:
        input_tensors: The model's input Keras tensor, or a list of them.
        losses: A list of `(Loss, weight)` pairs; pairs with weight 0 or None are skipped.
        seed_inputs: A batch array (batch axis first), or a list of them, one per input.
        wrt_tensor: Tensor to differentiate with respect to: None for the
            input(s), or an intermediate tensor such as `layer.output`, also
            of a layer inside a nested model.
        backprop_modifier: Optional `layer -> callable or None` that swaps
            layers for the gradient computation (see `vis.backprop_modifiers`).

    Returns:
        An `EngineResult`.

    Raises:
        ValueError: If no loss has a non-zero weight, or the gradient does not
            reach `wrt_tensor`.
    """
    inputs = input_tensors if isinstance(input_tensors, (list, tuple)) else [input_tensors]
    kept = [(loss, weight) for loss, weight in losses if weight]
    if not kept:
        raise ValueError(f"At least one loss needs a non-zero weight. Received: losses={losses!r}")
    program = get_program(list(inputs), [loss for loss, _ in kept], wrt_tensor, backprop_modifier)
    seeds = seed_inputs if isinstance(seed_inputs, (list, tuple)) else [seed_inputs]
    return program(list(seeds), [loss for loss, _ in kept], [float(w) for _, w in kept])
