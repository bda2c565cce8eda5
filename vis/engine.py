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
import contextlib
import threading
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from vis import diagnostics, graph, rebuild
from vis.compiling import compile_method

_CACHE_ATTR = "_vis_engine_programs"
_CACHE_SIZE = 16
_LOCK = threading.Lock()


class GradientPathError(ValueError):
    """The gradient of a loss does not reach the tensor it is taken with respect to."""


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
        backprop_modifier: Optional policy `layer -> stand-in or None` applied
            while rebuilding the graph (see `vis.backprop_modifiers`).
    """

    def __init__(self, input_tensors: list, losses: list, wrt_tensor=None, backprop_modifier=None) -> None:
        self.input_tensors = list(input_tensors)
        self.loss_names = [str(loss) for loss in losses]
        exprs = [diagnostics.loss_expression(loss) for loss in losses]
        graph.rename_clashing_ops(exprs)
        self.placeholders = [p for loss in losses for p in loss.runtime_placeholders]
        found = graph.sources(exprs, exclude=self.placeholders)
        self.source_inputs = graph.match_sources(found, self.input_tensors)
        self.wrt_inputs = self._wrt_inputs(wrt_tensor)
        diagnostics.check_paths(
            self.loss_names, exprs, found, self.source_inputs, self.wrt_inputs, wrt_tensor
        )
        self._exprs, self._plain_inputs, self._error = exprs, found + self.placeholders, None
        # With several losses, a dead one hides behind the others' gradient: each
        # loss through the model is checked on its own (at trace time only).
        several = len(exprs) > 1 and self.wrt_inputs is not None
        self._probed = [i for i, e in enumerate(exprs) if several and diagnostics.depends_on_layers(e)]
        graph_inputs, outputs = found + self.placeholders, exprs
        needs_rebuild = self.wrt_inputs is None and not graph.occurrences(wrt_tensor, exprs)
        if backprop_modifier is not None or needs_rebuild:
            rebuilt = rebuild.rebuild(graph_inputs, exprs, backprop_modifier)
            graph_inputs, outputs = rebuilt.inputs, rebuilt.outputs
            self.wrt_tensors = (
                [] if self.wrt_inputs is not None else diagnostics.wrt_occurrences(wrt_tensor, rebuilt)
            )
        else:
            self.wrt_tensors = [] if self.wrt_inputs is not None else graph.occurrences(wrt_tensor, exprs)
        # A `keras.Function`, not a `keras.Model`: a Model insists on unique operation
        # names, and a user's layer named "add" collides with a `keras.ops.add` in a loss.
        self.model = keras.Function(graph_inputs, outputs + self.wrt_tensors)
        self.n_losses = len(exprs)
        # Keys built from id() stay valid only while these objects live.
        self._pinned = (list(losses), wrt_tensor, backprop_modifier)
        self.compiled = compile_method(self.gradients, self._signature())

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
        with tf.GradientTape(persistent=bool(self._probed)) as tape:
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
        if all(g is None for g in grads):
            raise self._fail(self._probed[0] if self._probed else 0)
        for i in self._probed:  # Only traced: unused gradients are pruned from the compiled graph.
            if all(g is None for g in tape.gradient(per_sample[i], targets)):
                raise self._fail(i)
        if self.wrt_inputs is None:
            return stacked, overall, tf.add_n(grads), targets[0]
        return stacked, overall, grads, targets

    def _fail(self, index: int) -> ValueError:
        """Returns the error for loss `index`, naming the layer that stops its gradient.

        A plain `ValueError` (autograph rewraps it); `reporting()` re-raises it clean.
        """
        points = diagnostics.probe_points(self._exprs[index])
        layer = diagnostics.cut_layer(points, *_reach(self._plain_inputs, self._exprs[index], points))
        self._error = diagnostics.unreachable_message(self.loss_names[index], layer, self._exprs)
        return ValueError(self._error)

    @contextlib.contextmanager
    def reporting(self):
        """Re-raises an error found while tracing without `tf.function`'s "in user code" wrapping."""
        try:
            yield
        except ValueError:
            if self._error is None:
                raise
            raise GradientPathError(self._error) from None

    def __call__(self, seeds: list, losses: list, weights: list) -> EngineResult:
        """Runs the compiled program on numpy seeds and returns numpy results."""
        args = [np.asarray(a) for loss in losses for a in loss.get_runtime_args()]
        seeds = [tf.convert_to_tensor(s, dtype=t.dtype) for s, t in zip(seeds, self.input_tensors)]
        with self.reporting():
            stacked, overall, grads, wrt = self.compiled(seeds, args, tf.constant(weights, tf.float32))
        named = [(name, values) for name, values in zip(self.loss_names, stacked.numpy())]
        if isinstance(grads, (list, tuple)):
            grads, wrt = [g.numpy() for g in grads], [w.numpy() for w in wrt]
            if len(grads) == 1:
                grads, wrt = grads[0], wrt[0]
        else:
            grads, wrt = grads.numpy(), wrt.numpy()
        return EngineResult(named, overall.numpy(), grads, wrt)


def _per_sample(value, batch):
    """Reduces a loss to one value per sample; a scalar loss counts once for the batch."""
    value = tf.cast(value, tf.float32)
    if value.shape.rank == 0:
        return tf.ones((batch,)) * value / tf.cast(batch, tf.float32)
    if value.shape.rank > 1:
        value = tf.reduce_sum(value, axis=list(range(1, value.shape.rank)))
    return value


def _reach(inputs: list, expr, points: list) -> tuple[list[bool], list[bool]]:
    """Returns, for each tensor in `points`, whether the gradient of `expr` reaches it and
    whether it really holds floats (a `Lambda` may declare float32 and return ints).

    Traced only (never run): both are properties of the graph.
    """
    function = keras.Function(list(inputs), [expr])
    keys = [graph.producer(t) for t in points]
    reached, floats = [], []

    def trace(*values):
        computed = {graph.producer(t): [v] for t, v in zip(inputs, values)}
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(values)
            (output,) = function._run_through_graph(list(values), operation_fn=_recorder(computed, tape))
            total = tf.reduce_sum(tf.cast(output, tf.float32))
        found = [computed.get(key, []) for key in keys]
        grads = tape.gradient(total, found)
        reached.extend(any(g is not None for g in per_point) for per_point in grads)
        floats.extend(all(t.dtype.is_floating for t in per_point) for per_point in found)
        return output

    specs = [tf.TensorSpec(t.shape, t.dtype) for t in inputs]
    tf.function(trace, autograph=False).get_concrete_function(*specs)
    return reached, floats


def _recorder(computed: dict, tape):
    """An `operation_fn` that runs each operation, watches and records its outputs by producer key.

    Watching every output matters: a tape only follows tensors computed from
    watched ones, and the point is to learn where the chain breaks.
    """

    def wrap(operation):
        def call(*args, **kwargs):
            outputs = operation(*args, **kwargs)
            for index, tensor in enumerate(tf.nest.flatten(outputs)):
                if tensor.dtype.is_floating:
                    tape.watch(tensor)
                computed.setdefault((operation, index), []).append(tensor)
            return outputs

        return call

    return wrap


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
