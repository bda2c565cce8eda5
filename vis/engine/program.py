"""A compiled gradient-of-loss computation: the one place in `vis` that opens a `tf.GradientTape`.

A `Program` holds, for one set of losses, the `Plan` that computes them from
the model's inputs and the compiled functions that run it: `gradients` (the
weighted losses and their gradient w.r.t. the inputs or an intermediate
tensor) and `forward` (the losses and that tensor's value, no gradient).
Seeds, run-time loss arguments (the selected filters) and the loss weights
are tensors, so a new class, seed or batch size never retraces.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import tensorflow as tf

from vis.engine import diagnostics, dispatch, graph
from vis.engine.compiling import Lazy
from vis.engine.plan import Plan
from vis.engine.results import EngineResult, numpy_of, regroup, weighted


class GradientPathError(ValueError):
    """The gradient of a loss does not reach the tensor it is taken with respect to."""


class Program:
    """Losses, their gradient and their value, compiled for one model and set of losses.

    Args:
        input_tensors: The model's input Keras tensors.
        losses: The `Loss` objects (their expressions are built here once).
        wrt_tensor: Tensor to differentiate with respect to; None for the inputs.
        backprop_modifier: Optional policy `layer -> stand-in or None` applied
            to every layer of the plan (see `vis.backprop_modifiers`).
        also_wrt: With `wrt_tensor=None`: intermediate tensors whose values and
            gradients the program returns too (the backward pass to the inputs
            computes them anyway), so that calls differentiating w.r.t. one of
            them can be served by this program (`serve`); those off the
            losses' path are dropped.
    """

    def __init__(
        self, input_tensors: list, losses: list, wrt_tensor=None, backprop_modifier=None, also_wrt=()
    ) -> None:
        self.input_tensors = list(input_tensors)
        self.loss_names = [str(loss) for loss in losses]
        exprs = [diagnostics.loss_expression(loss) for loss in losses]
        self.placeholders = [p for loss in losses for p in (loss.runtime_placeholders or ())]
        self.wrt_inputs = _wrt_inputs(wrt_tensor, self.input_tensors)
        diagnostics.check_paths(self.loss_names, exprs, self.placeholders, self.wrt_inputs, wrt_tensor)
        record = list(also_wrt) if self.wrt_inputs is not None else [wrt_tensor]
        self.plan = Plan(self.input_tensors, exprs, self.placeholders, backprop_modifier, record)
        if self.wrt_inputs is None:
            diagnostics.check_recorded(wrt_tensor, self.plan.records[0])
        # The `also_wrt` tensors the losses reach: id -> index of their record.
        served = record if self.wrt_inputs is not None else []
        self.also = {id(t): i for i, t in enumerate(served) if self.plan.records[i]}
        self.served = 0  # Samples served to calls differentiating w.r.t. one of them (`vis.engine._server`).
        self._exprs, self._error, self.n_losses = exprs, None, len(exprs)
        # With several losses, a dead one hides behind the others' gradient: each
        # loss through the model is checked on its own (at trace time only).
        several = len(exprs) > 1 and self.wrt_inputs is not None
        self._probed = [i for i, e in enumerate(exprs) if several and diagnostics.depends_on_layers(e)]
        self._probes_passed = False
        self._dtypes_checked = False  # Integer inputs fail only a gradient, checked at the first one.
        self.modifier_warning = diagnostics.modifier_warning(backprop_modifier, self.plan)
        # Keys built from id() stay valid only while these objects live.
        self._pinned = (list(losses), wrt_tensor, backprop_modifier, list(also_wrt))
        self.wrt_tensor = wrt_tensor
        # What the trace freezes and a user may swap in place (`layer.activation = linear`).
        self._activations = _activations(self.plan.layers)
        name = f"the program of {', '.join(self.loss_names)}"[:200]
        self.lazy_gradients = Lazy(self.gradients, self._signature(), f"{name} (gradient)")
        self.lazy_values = Lazy(self.values, self._signature(), f"{name} (forward)")
        self.compiled, self.forward = self.lazy_gradients.compiled, self.lazy_values.compiled

    def _signature(self) -> list:
        seeds = [tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in self.input_tensors]
        args = [tf.TensorSpec(p.shape, p.dtype) for p in self.placeholders]
        return [seeds, args, tf.TensorSpec((self.n_losses,), tf.float32)]

    def values(self, seeds: list, args: list, weights):
        """Computes the per-sample losses and the `wrt_tensor` value, without a gradient (traceable)."""
        seeds = [tf.convert_to_tensor(s) for s in seeds]
        outputs, records = self.plan.run(seeds, args)
        _, stacked, overall = weighted(outputs, weights, tf.shape(seeds[0])[0])
        # The inputs' values are the caller's own seeds: not copied back from the device.
        return stacked, overall, records[0][0] if self.wrt_inputs is None else []

    def gradients(self, seeds: list, args: list, weights, render=None):
        """Computes losses and gradients on tensors (traceable; used compiled).

        Args:
            seeds: One batch tensor per model input.
            args: Run-time loss arguments, in placeholder order.
            weights: Float tensor of shape `(n_losses,)`.
            render: Optional traceable `seeds -> model inputs` run inside the
                tape (feature visualization's parametrisation and
                transformations): the seeds are then its parameters, and the
                gradients are taken w.r.t. them (inputs only).

        Returns:
            `(per-sample losses (n_losses, batch), per-sample overall loss,
            grads, wrt_value)`, and with `also_wrt` targets the lists of
            their gradients and values; with `render`, the rendered inputs
            are appended.
        """
        seeds = [tf.convert_to_tensor(s) for s in seeds]
        params = seeds
        probed = self._probed if (tf.inside_function() or not self._probes_passed) else []
        # Only the targets are watched, not the weights: the backward pass stops at the targets
        # (for grad-CAM, at the penultimate layer) and builds no weight-gradient operations.
        with tf.GradientTape(persistent=bool(probed), watch_accessed_variables=False) as tape:
            if self.wrt_inputs is not None:
                tape.watch([seeds[i] for i in self.wrt_inputs])
            if render is not None:
                seeds = list(render(seeds))
            watched = {r for i in self._watched_records() for r in self.plan.records[i]}
            outputs, records = self.plan.run(seeds, args, watch=_watcher(tape, watched) if watched else None)
            per_sample, stacked, overall = weighted(outputs, weights, tf.shape(seeds[0])[0])
            total = tf.reduce_sum(overall)
        targets = records[0] if self.wrt_inputs is None else [params[i] for i in self.wrt_inputs]
        extra = [records[i] for i in self.also.values()]
        grads = tape.gradient(total, targets + [v for values in extra for v in values])
        dead = [i for i in probed if all(g is None for g in tape.gradient(per_sample[i], targets))]
        grads, extra_grads = grads[: len(targets)], regroup(grads[len(targets) :], extra)
        if all(g is None for g in grads):
            raise self._fail(self._probed[0] if self._probed else 0)
        if dead:  # Probes are traced: unused gradients are pruned from the compiled graph.
            raise self._fail(dead[0])
        if not tf.inside_function():
            self._probes_passed = True  # Eager: checked once per program.
        if self.wrt_inputs is None:
            return stacked, overall, tf.add_n([g for g in grads if g is not None]), targets[0]
        grads = [tf.zeros_like(t) if g is None else g for g, t in zip(grads, targets)]
        if extra:
            return stacked, overall, grads, [], extra_grads, [values[0] for values in extra]
        return (stacked, overall, grads, [], seeds) if render is not None else (stacked, overall, grads, [])

    def _watched_records(self) -> list[int]:
        """The indices of the plan's records whose values the tape watches."""
        return [0] if self.wrt_inputs is None else list(self.also.values())

    def _fail(self, index: int) -> ValueError:
        """Returns the error for loss `index`, naming the layer that stops its gradient.

        A plain `ValueError` (tracing rewraps it); `reporting()` re-raises it clean.
        """
        points = diagnostics.probe_points(self._exprs[index])
        layer = diagnostics.cut_layer(points, *self._reach(index, points))
        self._error = diagnostics.unreachable_message(self.loss_names[index], layer, self._exprs)
        return ValueError(self._error)

    def _reach(self, index: int, points: list) -> tuple[list[bool], list[bool]]:
        """For each tensor in `points`: whether loss `index`'s gradient reaches it, and whether
        it really holds floats (a `Lambda` may declare float32 and return ints).

        Traced only (never run): both are properties of the graph.
        """
        plan = Plan(self.input_tensors, [self._exprs[index]], self.placeholders)
        registers = [plan.register_of(t) for t in points]
        reached, floats = [], []

        def trace(seeds, args):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                computed = dict(zip(plan.seed_registers, seeds))
                tape.watch([s for s in seeds if s.dtype.is_floating])

                def watch(register, value):
                    if value.dtype.is_floating:
                        tape.watch(value)
                    computed[register] = value

                (output,), _ = plan.run(seeds, args, watch=watch)
                total = tf.reduce_sum(tf.cast(output, tf.float32))
            found = [computed.get(r) for r in registers]
            grads = tape.gradient(total, [f for f in found if f is not None])
            grads = iter(grads)
            for value in found:
                reached.append(value is not None and next(grads) is not None)
                floats.append(value is None or value.dtype.is_floating)
            return output

        signature = self._signature()[:2]
        tf.function(trace, autograph=False).get_concrete_function(*signature)
        return reached, floats

    @contextlib.contextmanager
    def reporting(self):
        """Re-raises an error found while tracing without `tf.function`'s "in user code" wrapping."""
        try:
            yield
        except ValueError:
            if self._error is None:
                raise
            raise GradientPathError(self._error) from None

    def outdated(self) -> bool:
        """Whether a layer's `activation` was swapped in place since the program was built.

        The plan (and a trace) freezes each layer's activation; keras-vis
        tutorials set `layer.activation = linear` without `apply_modifications`,
        so the engine builds a new program rather than run the old activation.
        """
        return any(a is not b for a, b in zip(self._activations, _activations(self.plan.layers)))

    def __call__(
        self, seeds: list, losses: list, weights: list, gradient: bool = True, serve=None
    ) -> EngineResult:
        """Runs the program on numpy seeds and returns numpy results.

        The first call runs eagerly, the later ones compiled (see
        `vis.engine.compiling.Lazy`). With `serve`, one
        of the program's `also_wrt` tensors, the result is that of a call
        differentiating w.r.t. it.
        """
        if self.modifier_warning:
            warnings.warn(self.modifier_warning, UserWarning, stacklevel=4)
        args = [np.asarray(a) for loss in losses for a in loss.get_runtime_args()]
        _check_per_sample(args, self.placeholders, len(seeds[0]), losses)
        if gradient and not self._dtypes_checked:
            diagnostics.check_input_dtypes(self._exprs, self.input_tensors, self.wrt_inputs)
            self._dtypes_checked = True
        function = self.lazy_gradients if gradient else self.lazy_values
        with self.reporting():
            results = dispatch.run(self, function, seeds, args, tf.constant(weights, tf.float32))
        named = [(name, values) for name, values in zip(self.loss_names, results[0].numpy())]
        overall = results[1].numpy()
        if serve is not None:
            index = list(self.also).index(id(serve))
            return EngineResult(named, overall, results[4][index].numpy(), results[5][index].numpy())
        grads = numpy_of(results[2]) if gradient else None
        if self.wrt_inputs is not None:
            given = [np.asarray(seeds[i]) for i in self.wrt_inputs]
            return EngineResult(named, overall, grads, given[0] if len(given) == 1 else given)
        return EngineResult(named, overall, grads, numpy_of(results[-1]))


def _check_per_sample(args: list, placeholders: list, batch: int, losses: list) -> None:
    """Raises when a per-sample run-time argument (`PerSample` filters) does not match the batch."""
    for arg, placeholder in zip(args, placeholders):
        if placeholder.shape and placeholder.shape[0] is None and arg.shape[0] not in (1, batch):
            raise ValueError(
                f"The losses {[str(loss) for loss in losses]} select filters for {arg.shape[0]} samples "
                f"(`PerSample`), but the batch has {batch} seeds. Received: filter_indices with "
                f"{arg.shape[0]} entries for a batch of {batch}"
            )


def _activations(layers: list) -> list:
    return [getattr(layer, "activation", None) for layer in layers]


def _watcher(tape, registers: set):
    """A plan `watch` callback that has the tape watch the values of `registers` as they are made."""

    def watch(register, value):
        if register in registers:
            tape.watch(value)

    return watch


def _wrt_inputs(wrt_tensor, input_tensors: list) -> list[int] | None:
    """The indices of the inputs to differentiate, or None for an intermediate `wrt_tensor`."""
    if wrt_tensor is not None and not graph.is_keras_tensor(wrt_tensor):
        raise TypeError(
            f"`wrt_tensor` must be a Keras tensor such as `layer.output`. Received: {wrt_tensor!r}"
        )
    if wrt_tensor is None:
        return list(range(len(input_tensors)))
    if not graph.is_input(wrt_tensor):
        return None
    operation = graph.producer(wrt_tensor)[0]
    own = [i for i, t in enumerate(input_tensors) if graph.producer(t)[0] is operation]
    if own:
        return own
    if id(operation) in graph.nested_inputs(input_tensors):  # A nested model's input: intermediate.
        return None
    return graph.match_sources([wrt_tensor], input_tensors)  # Another copy of a reloaded model's input.
