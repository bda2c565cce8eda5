"""The optimizer behind activation maximization: gradient descent on the input.

`Optimizer.minimize` follows keras-vis step by step: input modifiers' `pre`,
the gradients of the weighted losses (normalised by their root mean square
per sample when `norm_grads`), the grad modifier, the callbacks, an RMSProp
step on the input, the modifiers' `post` in reverse order. As in keras-vis,
the input kept as the best is the one produced by the step whose overall loss
(measured on that step's input, before the update) was the lowest.

The loop runs compiled. Without callbacks or a grad modifier (and with
modifiers written in TensorFlow ops, as the built-in ones are), the steps
run inside a `tf.while_loop` in one `tf.function`, so a step costs one forward
and backward pass plus a few element-wise ops; the loop runs in chunks of
about half a second, so Ctrl+C stops it at once. Otherwise each step is two
compiled calls with the values fetched to the host in between, only
because the callbacks or the grad modifier need numpy arrays. Gradients
come from `vis.engine`; this module never opens a gradient tape.
"""

from __future__ import annotations

import collections

import numpy as np
import tensorflow as tf

from vis import backprop_modifiers, engine, grad_modifiers
from vis import callbacks as callbacks_lib
from vis import input_modifiers as modifiers_lib
from vis.featurevis import render
from vis.optimizer_checks import (  # noqa: F401 (check_input_range: public here before the split)
    batch_size_of,
    check_float_inputs,
    check_input_range,
    check_max_iter,
    input_ranges,
    kept_losses,
)
from vis.optimizer_loop import Feed, Loop, fused, stepwise
from vis.utils import utils
from vis.visualization import common

_LOOPS_ATTR = "_vis_optimizer_loops"
_LOOPS_SIZE = 8


class _InputMarker:
    """`Optimizer.wrt_tensor` when the gradients are taken w.r.t. the input.

    keras-vis put `K.identity(input_tensor)` there, so that `wrt_tensor` is
    never the input tensor itself; comparisons give plain booleans.
    """

    def __init__(self, tensor) -> None:
        self.tensor = tensor
        self.shape, self.dtype, self.name = tensor.shape, tensor.dtype, f"{tensor.name}_wrt"

    def __eq__(self, other) -> bool:
        return other is self

    def __ne__(self, other) -> bool:
        return other is not self

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<wrt_tensor: the input {self.tensor.name!r}, shape={tuple(self.shape)}>"


class Optimizer:
    """Minimises weighted losses by gradient descent on the model input(s).

    Args:
        input_tensor: The model's input Keras tensor (`model.input`, or
            `model.inputs[0]` for a Sequential model), a list of the inputs of
            a multi-input model (all are optimized together), or the model.
        losses: A list of `(Loss, weight)` pairs; a weight of 0 or None drops the loss.
        input_range: The `(min, max)` range the result is rescaled to; for
            several inputs, one pair for all or a list of pairs, one per input.
        wrt_tensor: Tensor the gradients are taken with respect to; None
            (or the input) for the input. For another tensor the input is
            not updated (the gradients are still reported).
        norm_grads: Divide the gradients by their root mean square (per
            sample) before the step, as keras-vis did.
        backprop_modifier: 'guided', 'rectified' or None, applied to the model's ReLUs.
        image_param: 'pixel' (keras-vis: the input itself) or 'fft' (a
            1/f-scaled Fourier spectrum, see `vis.featurevis.param`).
        decay_power: The exponent of the 'fft' spectrum's 1/f scaling.
        decorrelate: Optimize decorrelated colour channels (3-channel inputs;
            see `vis.featurevis.color`).
        transforms: 'robust', a list of `vis.featurevis.transforms` (or
            callables of TF ops) applied inside each step, or None.

    Any of the last four set (not 'pixel', False, None) optimizes the
    parameters of `vis.featurevis.Renderer` with Adam (step 0.05); the
    image is squashed into `input_range` by a sigmoid and returned as it is.
    The defaults keep keras-vis's loop exactly.

    Raises:
        ValueError: For a bad `input_range`, no loss with a non-zero weight or
            an integer input (token ids cannot be changed by gradient descent).
        TypeError: If `losses` is not a list of `(Loss, weight)` pairs.
    """

    def __init__(
        self,
        input_tensor,
        losses,
        input_range=(0, 255),
        wrt_tensor=None,
        norm_grads=True,
        backprop_modifier=None,
        image_param="pixel",
        decay_power=1.0,
        decorrelate=False,
        transforms=None,
    ) -> None:
        self.input_tensors = common.as_input_list(input_tensor)
        self.input_tensor = self.input_tensors[0]
        self.input_ranges = input_ranges(input_range, len(self.input_tensors))
        self.input_range = self.input_ranges[0]
        kept = kept_losses(losses)
        self.losses = [loss for loss, _ in kept]
        self.weights = [float(weight) for _, weight in kept]
        self.loss_names = [str(loss) for loss in self.losses]
        modifier = backprop_modifiers.get(backprop_modifier)
        if modifier is not None and not backprop_modifiers.is_engine_modifier(modifier):
            raise ValueError(
                "`Optimizer` takes a named backprop modifier ('guided', 'rectified'); apply a "
                "`model -> model` callable to the model first. "
                f"Received: backprop_modifier={backprop_modifier!r}"
            )
        if wrt_tensor is None:
            check_float_inputs(self.input_tensors)
        self._program = engine.get_program(self.input_tensors, self.losses, wrt_tensor, modifier)
        self.wrt_tensor_is_input_tensor = self._program.wrt_inputs is not None
        self.wrt_tensor = _InputMarker(self.input_tensor) if self.wrt_tensor_is_input_tensor else wrt_tensor
        self.norm_grads = bool(norm_grads)
        self.renderer = render.renderer_for(
            self.input_tensors,
            self.input_ranges,
            self.wrt_tensor_is_input_tensor,
            image_param=image_param,
            decay_power=decay_power,
            decorrelate=decorrelate,
            transforms=transforms,
        )

    def minimize(
        self,
        seed_input=None,
        max_iter: int = 200,
        input_modifiers=None,
        grad_modifier=None,
        callbacks=None,
        verbose: bool = True,
        keep_batch_axis: bool = False,
        batch_size: int | None = None,
    ) -> tuple:
        """Runs gradient descent on the input and returns the best input found.

        Args:
            seed_input: The start: one input without the batch axis, a batch,
                or None for noise around the middle of `input_range`; for a
                multi-input model a list (or dict by input name) of them.
            max_iter: The number of steps (at least 1).
            input_modifiers: A list of `InputModifier`s (or names, see
                `vis.input_modifiers.get`); `pre` in order, `post` in reverse.
                They apply to image inputs (rank 3 or more) only.
            grad_modifier: A name from `vis.grad_modifiers`, a callable or None.
            callbacks: A list of `OptimizerCallback`s (the list is not modified).
            verbose: Print each step's named losses.
            keep_batch_axis: Return the best input with its batch axis also for one sample.
            batch_size: With `seed_input=None`, how many random starts to
                optimize at once (one result each); default 1, or one per
                `PerSample` filter.

        Returns:
            `(best input rescaled to input_range, last grads, last wrt value)`:
            the input without batch axis for one sample (a list or dict of
            them for a multi-input model); grads and wrt value are numpy arrays
            with the batch axis (lists for a multi-input model). With the
            feature-visualization options the grads are those of the
            renderer's parameters and the wrt value is the (transformed) input
            the model saw.

        Raises:
            ValueError: For `max_iter` < 1 or a seed of the wrong shape.
            TypeError: For a callback or modifier without the needed methods.
        """
        max_iter = check_max_iter(max_iter)
        seeds = self._seeds(seed_input, keep_batch_axis, batch_size)
        modifiers = [modifiers_lib.get(m) for m in utils.listify(input_modifiers or [])]
        starts = seeds.batches if self.renderer is None else [self._parameters(seed_input, seeds)]
        modify = grad_modifiers.get(grad_modifier)
        callbacks = callbacks_lib.check_callbacks(callbacks) + ([callbacks_lib.Print()] if verbose else [])
        args = [tf.convert_to_tensor(a) for loss in self.losses for a in loss.get_runtime_args()]
        feed = Feed(
            [tf.constant(b, tf.float32) for b in starts],
            args,
            tf.constant(self.weights, tf.float32),
            tf.constant(np.random.randint(0, 2**31 - 1, size=2), tf.int64),
        )
        loop = self._loop(modifiers)
        for c in callbacks:
            getattr(c, "on_begin", lambda n: None)(max_iter)
        with loop.program.reporting():
            if modify is None and not callbacks and not loop.host_mods:
                best, grads, wrt = fused(loop, feed, max_iter)
            else:
                best, grads, wrt = stepwise(loop, feed, max_iter, modify, callbacks, seeds.squeeze)
        for c in callbacks:
            c.on_end()
        if self.renderer is not None:  # Already in input_range: no re-normalisation.
            images = [self.renderer.render(best[0])]
        else:
            images = [
                np.stack([utils.deprocess_input(b, input_range) for b in np.asarray(batch)])
                for batch, input_range in zip(best, self.input_ranges)
            ]
        grads, wrt = [np.asarray(g) for g in grads], [np.asarray(w) for w in wrt]
        if len(self.input_tensors) == 1:
            return seeds.one(images[0]), grads[0], wrt[0]
        return seeds.per_input(images), grads, wrt

    def _seeds(self, seed_input, keep_batch_axis: bool, batch_size) -> common.Seeds:
        if seed_input is not None:
            return common.prepare_seeds(seed_input, self.input_tensors, keep_batch_axis)
        batch = batch_size_of(batch_size, self.losses)
        if self.renderer is not None:  # Not drawn: `_parameters` draws the parameters.
            shape = (batch, *self.input_tensor.shape[1:])
            return common.Seeds([np.zeros(shape, "float32")], not keep_batch_axis and batch == 1, None, False)
        batches = []
        for tensor, (low, high) in zip(self.input_tensors, self.input_ranges):
            shape = (batch, *tensor.shape[1:])
            if any(dim is None for dim in shape):
                raise ValueError(f"Input '{tensor.name}' has unknown dimensions {shape}: give `seed_input`.")
            batches.append(utils.random_array(shape, mean=(low + high) / 2, std=0.05 * (high - low)))
        return common.Seeds(batches, not keep_batch_axis and batch == 1, None, len(batches) > 1)

    def _parameters(self, seed_input, seeds: common.Seeds) -> np.ndarray:
        """The renderer's starting parameters: those of the seed images, or random ones."""
        batch = seeds.batches[0]
        return self.renderer.random(len(batch)) if seed_input is None else self.renderer.encode(batch)

    def _loop(self, modifiers) -> Loop:
        """Returns the compiled loop for these modifiers, cached on the engine program."""
        key = (self.norm_grads, tuple(modifiers_lib.cache_key(m) for m in modifiers))
        if self.renderer is not None:
            if not all(modifiers_lib.runs_in_graph(m) for m in modifiers):
                raise ValueError(
                    "With the feature-visualization options, input modifiers must run in TensorFlow "
                    f"(as the built-in ones do): their `pre` applies inside the step. Received: {modifiers!r}"
                )
            key = (*key, self.renderer.key)
        loops = self._program.__dict__.setdefault(_LOOPS_ATTR, collections.OrderedDict())
        if key not in loops:
            dtypes = [t.dtype for t in self.input_tensors]
            loops[key] = Loop(self._program, modifiers, self.norm_grads, dtypes, self.renderer)
            while len(loops) > _LOOPS_SIZE:
                loops.popitem(last=False)
        loops.move_to_end(key)
        return loops[key]
