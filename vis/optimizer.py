"""The optimizer behind activation maximization: gradient descent on the input.

`Optimizer.minimize` follows keras-vis step by step: input modifiers' `pre`,
the gradients of the weighted losses (normalised by their root mean square
per sample when `norm_grads`), the grad modifier, the callbacks, an RMSProp
step on the input, the modifiers' `post` in reverse order, keeping the
input with the lowest overall loss.

The loop runs compiled. Without callbacks or a grad modifier (and with
modifiers written in TensorFlow ops, as the built-in ones are), all steps
run inside one `tf.function` (`tf.while_loop`), so a step costs one forward
and backward pass plus a few element-wise ops. Otherwise each step is two
compiled calls with the values fetched to the host in between, only
because the callbacks or the grad modifier need numpy arrays. Gradients
come from `vis.engine`; this module never opens a gradient tape.
"""

from __future__ import annotations

import collections
import numbers

import numpy as np
import tensorflow as tf

from vis import backprop_modifiers, engine, grad_modifiers
from vis import callbacks as callbacks_lib
from vis import input_modifiers as modifiers_lib
from vis.optimizer_loop import Feed, Loop, stepwise
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
    """Minimises weighted losses by gradient descent on the model input.

    Args:
        input_tensor: The model's input Keras tensor (`model.input`, or
            `model.inputs[0]` for a Sequential model), or the model.
        losses: A list of `(Loss, weight)` pairs; a weight of 0 or None drops the loss.
        input_range: The `(min, max)` range the result is rescaled to.
        wrt_tensor: Tensor the gradients are taken with respect to; None
            (or the input) for the input. For another tensor the input is
            not updated (the gradients are still reported).
        norm_grads: Divide the gradients by their root mean square (per
            sample) before the step, as keras-vis did.

    Raises:
        ValueError: For a bad `input_range`, no loss with a non-zero weight or
            a model with several inputs.
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
    ) -> None:
        inputs = common.as_input_list(input_tensor)
        if len(inputs) != 1:
            raise ValueError(
                f"`Optimizer` optimizes one input. Received: input_tensor with {len(inputs)} inputs"
            )
        self.input_tensor = inputs[0]
        self.input_range = check_input_range(input_range)
        kept = _kept_losses(losses)
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
        self._program = engine.get_program([self.input_tensor], self.losses, wrt_tensor, modifier)
        self.wrt_tensor_is_input_tensor = self._program.wrt_inputs is not None
        self.wrt_tensor = _InputMarker(self.input_tensor) if self.wrt_tensor_is_input_tensor else wrt_tensor
        self.norm_grads = bool(norm_grads)

    def minimize(
        self,
        seed_input=None,
        max_iter: int = 200,
        input_modifiers=None,
        grad_modifier=None,
        callbacks=None,
        verbose: bool = True,
    ) -> tuple:
        """Runs gradient descent on the input and returns the best input found.

        Args:
            seed_input: The start: one input without the batch axis, a batch,
                or None for noise around the middle of `input_range`.
            max_iter: The number of steps (at least 1).
            input_modifiers: A list of `InputModifier`s (or names, see
                `vis.input_modifiers.get`); `pre` in order, `post` in reverse.
            grad_modifier: A name from `vis.grad_modifiers`, a callable or None.
            callbacks: A list of `OptimizerCallback`s (the list is not modified).
            verbose: Print each step's named losses.

        Returns:
            `(best input rescaled to input_range, last grads, last wrt value)`:
            the input without batch axis unless `seed_input` had one; grads
            and wrt value are numpy arrays with the batch axis.

        Raises:
            ValueError: For `max_iter` < 1 or a seed of the wrong shape.
            TypeError: For a callback or modifier without the needed methods.
        """
        max_iter = _check_max_iter(max_iter)
        seed, single = self._seed(seed_input)
        modifiers = [modifiers_lib.get(m) for m in utils.listify(input_modifiers or [])]
        modify = grad_modifiers.get(grad_modifier)
        callbacks = callbacks_lib.check_callbacks(callbacks) + ([callbacks_lib.Print()] if verbose else [])
        args = [tf.convert_to_tensor(a) for loss in self.losses for a in loss.get_runtime_args()]
        feed = Feed(
            tf.constant(seed, tf.float32),
            args,
            tf.constant(self.weights, tf.float32),
            tf.constant(np.random.randint(0, 2**31 - 1, size=2), tf.int64),
        )
        loop = self._loop(modifiers)
        for c in callbacks:
            getattr(c, "on_begin", lambda n: None)(max_iter)
        with loop.program.reporting():
            if modify is None and not callbacks and not loop.host_mods:
                steps = tf.constant(max_iter)
                best, grads, wrt = loop.fused(feed.x, feed.args, feed.weights, steps, feed.seed)
            else:
                best, grads, wrt = stepwise(loop, feed, max_iter, modify, callbacks, single)
        for c in callbacks:
            c.on_end()
        images = np.stack([utils.deprocess_input(b, self.input_range) for b in np.asarray(best)])
        return (images[0] if single else images), np.asarray(grads), np.asarray(wrt)

    def _seed(self, seed_input) -> tuple[np.ndarray, bool]:
        if seed_input is not None:
            return common.prepare_seed(seed_input, self.input_tensor)
        shape = (1, *self.input_tensor.shape[1:])
        if any(dim is None for dim in shape):
            raise ValueError(
                f"Input '{self.input_tensor.name}' has unknown dimensions {shape}: give `seed_input`."
            )
        low, high = self.input_range
        return utils.random_array(shape, mean=np.mean(self.input_range), std=0.05 * (high - low)), True

    def _loop(self, modifiers) -> Loop:
        """Returns the compiled loop for these modifiers, cached on the engine program."""
        key = (self.norm_grads, tuple(modifiers_lib.cache_key(m) for m in modifiers))
        loops = self._program.__dict__.setdefault(_LOOPS_ATTR, collections.OrderedDict())
        if key not in loops:
            loops[key] = Loop(self._program, modifiers, self.norm_grads, self.input_tensor.dtype)
            while len(loops) > _LOOPS_SIZE:
                loops.popitem(last=False)
        loops.move_to_end(key)
        return loops[key]


def check_input_range(input_range) -> tuple:
    """Returns `input_range` as a tuple after checking it is a `(min, max)` pair with min < max."""
    ok = isinstance(input_range, (tuple, list)) and len(input_range) == 2
    ok = ok and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in input_range)
    if not ok or not np.isfinite(input_range).all() or not input_range[0] < input_range[1]:
        raise ValueError(
            f"`input_range` must be a `(min, max)` pair of finite numbers with min < max. "
            f"Received: input_range={input_range!r}"
        )
    return tuple(input_range)


def _check_max_iter(max_iter) -> int:
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"`max_iter` must be an int >= 1. Received: max_iter={max_iter!r}")
    return int(max_iter)


def _kept_losses(losses) -> list:
    try:
        pairs = [(loss, weight) for loss, weight in losses]
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`losses` must be a list of `(Loss, weight)` pairs. Received: losses={losses!r}"
        ) from error
    kept = [(loss, weight) for loss, weight in pairs if weight]
    if not kept:
        raise ValueError(f"At least one loss needs a non-zero weight. Received: losses={losses!r}")
    return kept
