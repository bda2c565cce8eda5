"""tf-keras-vis 0.8.7's `ActivationMaximization`, on vis's engine.

Each step is what 0.8.7 does, with the gradient from `vis.engine`: the input
modifiers of each input change the current values (kept), one engine call
gives the scores (vis losses over the model outputs, `_scoring`), the
regularizers (vis losses over the inputs they regularize, `_adapters`) and
the gradient of `sum(regularizers) - sum(scores)` w.r.t. every input; the
`gradient_modifier`, then the Keras optimizer's update (0.8.7's default
`RMSprop(1.0, rho=0.999)`, loss-scaled for a mixed-precision model, or the
user's), the values clipped to `input_range` and the callbacks. The result is
the last step's clipped values, as tensors (one for a single-input model
unless `seed_input` is a list).
"""

from __future__ import annotations

import time
import warnings
import weakref

import numpy as np
import tensorflow as tf

from vis import engine
from vis.compat.tf_keras_vis import ModelVisualization, _scoring, check_training
from vis.compat.tf_keras_vis.activation_maximization import _adapters, _steps
from vis.compat.tf_keras_vis.activation_maximization._legacy import LegacyRegularizer
from vis.compat.tf_keras_vis.activation_maximization.callbacks import (
    GifGenerator2D,
    PrintLogger,
    Progress,
    managed_callbacks,
)
from vis.compat.tf_keras_vis.activation_maximization.input_modifiers import Jitter, Rotate2D
from vis.compat.tf_keras_vis.activation_maximization.regularizers import Norm, TotalVariation2D
from vis.compat.tf_keras_vis.utils import (
    get_input_names,
    get_num_of_steps_allowed,
    is_mixed_precision,
    listify,
)
from vis.engine import compiling

# A program not compiled yet runs eagerly while its eager steps, those already run by earlier calls
# plus the rest of this run, would take less than this (about a compile of a small model):
# tf-keras-vis's test suite (a few steps on fresh tiny models) compiles nothing, as 0.8.7; a long
# run, a big model or a loop of short runs on one model compiles once the budget is spent.
_COMPILE_BUDGET_S = 1.0
# Seconds of eager steps run so far per program (weak keys: a deleted model's programs drop out).
_EAGER_SECONDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CHUNK_S = 0.5  # Compiled steps run in calls of about this long, so Ctrl+C stops a run soon.
_BUILT_IN_CALLBACKS = (Progress, PrintLogger, GifGenerator2D)  # They never read `model_outputs`.


class ActivationMaximization(ModelVisualization):
    """Finds the model inputs that maximize the scores, by gradient ascent (tf-keras-vis 0.8.7)."""

    def __call__(
        self,
        score,
        seed_input=None,
        input_range=(0, 255),
        input_modifiers=[Jitter(jitter=4), Rotate2D(degree=1)],  # noqa: B006, B008 (0.8.7's)
        regularizers=[TotalVariation2D(weight=1.0), Norm(weight=0.3, p=1)],  # noqa: B006, B008
        steps=200,
        optimizer=None,
        gradient_modifier=None,
        callbacks=None,
        training=False,
        unconnected_gradients=tf.UnconnectedGradients.NONE,
        activation_modifiers=None,
    ):
        """Returns the model inputs that maximize the `score` functions.

        Args:
            score: A `Score` or function of a model output, or a list of them (one per model output).
            seed_input: The starting input(s): an array or tensor, with or without the batch axis,
                or a list of them (one per input). None for uniform noise over `input_range`.
            input_range: `(low, high)`, or a list of them (one per input); the results are clipped
                to it. None, or a None end, for no bound.
            input_modifiers: A modifier (callable), a list of them (the first input), a list of
                lists (one per input) or a dict keyed by input names.
            regularizers: A `Regularizer`, a list of them, a list of lists or a dict keyed by input
                names (the legacy `utils.regularizers` ones: a list over all inputs).
            steps: The number of steps (capped by the `TF_KERAS_VIS_MAX_STEPS` environment variable).
            optimizer: A Keras optimizer; None for `RMSprop(learning_rate=1.0, rho=0.999)`.
            gradient_modifier: A function applied to each input's gradient before the update.
            callbacks: A `Callback` or a list of them.
            training: Must be False (vis runs models in inference mode).
            unconnected_gradients: Accepted for compatibility: an input no score or
                regularizer reaches gets a zero gradient.
            activation_modifiers: A function (first input) or a dict keyed by input names,
                applied to the clipped results.

        Returns:
            A tensor (batch axis first) for a single-input model, or a list of them for several
            inputs or a list `seed_input`.

        Raises:
            ValueError: For bad arguments (as 0.8.7), with the value received.
            TypeError: For an input range whose ends have different types.
        """
        arguments = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        check_training(training)
        model = self.model
        if optimizer is not None:
            optimizer = _adapters.keras_optimizer(optimizer, is_mixed_precision(model))
        scores = self._get_scores_for_multiple_outputs(score)
        input_ranges = _adapters.input_ranges_of(model, input_range)
        values = self._seeds(seed_input, input_ranges)
        modifiers = _adapters.per_input(model, input_modifiers, "input modifiers")
        losses, regularizer_names = self._losses(scores, regularizers, len(values[0]))
        activation_modifiers = _adapters.activation_modifiers_of(model, activation_modifiers)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"`steps` must be an int >= 0. Received: steps={steps!r}")
        steps = get_num_of_steps_allowed(steps)
        eager = self._needs_eager(losses, scores)
        names = get_input_names(model)
        program = engine.get_program(model.inputs, [loss for loss, _ in losses])
        kinds = [[_steps.kind(m, v) for m in modifiers[n]] for n, v in zip(names, values)]
        host = not all(k for per_input in kinds for k in per_input)
        kinds = [[] if host else k for k in kinds]
        steps_of = _steps.steps_for(program, values, kinds, is_mixed_precision(model))
        fused = optimizer is None and gradient_modifier is None
        function = steps_of.update if fused else steps_of.forward
        mode = "eager" if eager else ("auto" if function.ready else "rent")
        args = [a for loss, _ in losses for a in loss.get_runtime_args()]
        args = [tf.convert_to_tensor(a, p.dtype) for a, p in zip(args, program.placeholders)]
        weights = tf.ones([len(losses)])
        optimizer = steps_of.optimizer if optimizer is None else optimizer
        clipped = _adapters.clip_and_modify(model, values, input_ranges, activation_modifiers)
        with managed_callbacks(**arguments) as active:
            step, seconds = 0, None  # `seconds`: a compiled step's last measured time.
            while step < steps:
                count = 1
                if fused and not host and not active and mode == "auto" and seconds is not None:
                    count = max(1, min(steps - step, int(_CHUNK_S / seconds)))  # Ctrl+C between chunks.
                if host:
                    self._modify_on_host(steps_of.variables, modifiers, names)
                draws = _steps.draws([modifiers[n] for n in names], kinds, values, count)
                started = time.perf_counter()
                with compiling.policy("auto" if mode == "auto" else "eager"), program.reporting():
                    stacked, grads, fed = (
                        function(tf.constant(count), draws, args, weights)
                        if fused
                        else function(draws, args, weights)
                    )
                elapsed = time.perf_counter() - started
                if mode == "rent" and _spend(function, elapsed, steps - step - 1):
                    mode = "auto"  # Staying eager would cost more than compiling: compile at the next step.
                seconds = elapsed / count if mode == "auto" and function.ready else None
                if not fused:
                    if gradient_modifier is not None:
                        grads = [gradient_modifier(g) for g in grads]
                    optimizer.apply_gradients(zip(grads, steps_of.variables))
                step += count
                if active or step == steps:
                    values = [variable.value() for variable in steps_of.variables]
                    clipped = _adapters.clip_and_modify(model, values, input_ranges, activation_modifiers)
                if active:
                    self._report(
                        active, step - 1, clipped, grads, fed, stacked, len(scores), regularizer_names
                    )
        if len(model.inputs) == 1 and not isinstance(seed_input, list):
            return clipped[0]
        return clipped

    def _seeds(self, seed_input, input_ranges: list) -> list:
        """The starting values, one tensor per input of the input's dtype, batch axis first."""
        if seed_input is None or (isinstance(seed_input, list) and not seed_input):
            seeds = _adapters.random_seeds(self.model, input_ranges)
        else:
            seeds = self._get_seed_inputs_for_multiple_inputs(seed_input)
        return [tf.cast(tf.constant(s), t.dtype) for s, t in zip(seeds, self.model.inputs)]

    def _losses(self, scores: list, regularizers, batch: int) -> tuple[list, list]:
        """`(loss, 1)` pairs: the negated scores, then the regularizers; and the regularizer names."""
        model = self.model
        # `_scoring` gives `(-S, -1)` pairs (the gradient of S, for saliency); minimising -S needs weight 1.
        losses = [(loss, 1.0) for loss, _ in _scoring.score_losses(model.outputs, scores, batch)]
        legacy = _legacy_regularizers(regularizers)
        if legacy is not None:
            warnings.warn(
                "`vis.compat.tf_keras_vis.utils.regularizers.Regularizer` is deprecated. Use "
                "vis.compat.tf_keras_vis.activation_maximization.regularizers.Regularizer instead.",
                DeprecationWarning,
                stacklevel=3,
            )
            pairs = [(r.name, r, list(model.inputs)) for r in legacy]
        else:
            per_input = _adapters.per_input(model, regularizers, "regularizers")
            named = _adapters.named_regularizers(model, per_input)
            tensors = dict(zip(get_input_names(model), model.inputs))
            pairs = [(n, r, tensors[key]) for key, items in named.items() for n, r in items.items()]
        losses += [(_adapters.RegularizerLoss(r, tensor, name), 1.0) for name, r, tensor in pairs]
        return losses, [name for name, _, _ in pairs]

    def _needs_eager(self, losses: list, scores: list) -> bool:
        """Whether a score or regularizer is the user's own (run eagerly, as written)."""
        penalties = [loss.regularizer for loss, _ in losses[len(scores) :]]
        return _scoring.needs_eager(scores) or not all(_adapters.is_built_in(r) for r in penalties)

    def _modify_on_host(self, variables: list, modifiers, names: list) -> None:
        """Applies each input's modifiers (0.8.7's way: on the current values, kept)."""
        for variable, name in zip(variables, names):
            value = variable.value()
            for modifier in modifiers[name]:
                value = modifier(value)
            variable.assign(value)

    def _report(self, active, step, clipped, grads, fed, stacked, n_scores, regularizer_names) -> None:
        """Calls the callbacks with 0.8.7's arguments (`model_outputs` on the inputs `fed` to the step)."""
        named = list(tf.unstack(stacked))
        scores = [-v for v in named[:n_scores]]
        regularizations = list(zip(regularizer_names, named[n_scores:]))
        overall = [-s for s in scores] + [v for _, v in regularizations]
        outputs = []
        if any(type(c) not in _BUILT_IN_CALLBACKS for c in active):
            outputs = listify(self.model(fed[0] if len(fed) == 1 else list(fed), training=False))
        for c in active:
            c(step, clipped, grads, scores, outputs, regularizations=regularizations, overall_score=overall)


def _legacy_regularizers(regularizers):
    """The regularizers as a list when all are legacy ones (`utils.regularizers`), else None.

    Raises:
        ValueError: When legacy and current regularizers are mixed, or legacy ones are given per input.
    """
    legacy = LegacyRegularizer
    items = [listify(r) for r in regularizers.values()] if isinstance(regularizers, dict) else regularizers
    if isinstance(items, (tuple, list)):
        if any(isinstance(r, (tuple, list)) for r in items):
            if any(isinstance(r, legacy) for group in items for r in listify(group)):
                raise ValueError(
                    "Legacy regularizers (`utils.regularizers`) must be given as one instance or a "
                    f"list of instances, not per input. Received: regularizers={regularizers!r}"[:400]
                )
            return None
        flags = [isinstance(r, legacy) for r in items]
        if flags and all(flags):
            return list(items)
        if any(flags):
            raise ValueError(
                "Regularizers of `activation_maximization.regularizers` and legacy ones "
                f"(`utils.regularizers`) cannot be mixed. Received: regularizers={regularizers!r}"[:400]
            )
        return None
    return [items] if isinstance(items, legacy) else None


def _spend(lazy, seconds: float, remaining: int) -> bool:
    """Adds an eager step's `seconds` to the program's account; True once the eager steps run so far
    plus `remaining` more of them would cost more than a compile."""
    spent = _EAGER_SECONDS.get(lazy, 0.0) + seconds
    _EAGER_SECONDS[lazy] = spent
    return spent + remaining * seconds > _COMPILE_BUDGET_S
