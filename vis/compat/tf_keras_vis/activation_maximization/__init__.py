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
from vis.compat.tf_keras_vis.activation_maximization import _adapters
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
        mode, lazy = self._mode(losses, scores)
        names = get_input_names(model)
        clipped = _adapters.clip_and_modify(model, values, input_ranges, activation_modifiers)
        with managed_callbacks(**arguments) as active:
            variables = [tf.Variable(x) for x in values]
            for step in range(steps):
                for i, name in enumerate(names):
                    for modifier in modifiers[name]:
                        values[i] = modifier(values[i])
                for variable, value in zip(variables, values):
                    variable.assign(value)
                fed = [variable.numpy() for variable in variables]
                started = time.perf_counter()
                with compiling.policy("auto" if mode == "auto" else "eager"):
                    result = engine.compute(model.inputs, losses, fed)
                if mode == "rent" and _spend(lazy, time.perf_counter() - started, steps - step - 1):
                    mode = "auto"  # Staying eager would cost more than compiling: compile at the next step.
                grads = [tf.constant(g) for g in listify(result.grads)]
                if gradient_modifier is not None:
                    grads = [gradient_modifier(g) for g in grads]
                optimizer.apply_gradients(zip(grads, variables))
                values = [variable.value() for variable in variables]
                clipped = _adapters.clip_and_modify(model, values, input_ranges, activation_modifiers)
                if active:
                    self._report(active, step, clipped, grads, fed, result, len(scores), regularizer_names)
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

    def _mode(self, losses: list, scores: list) -> tuple[str, object]:
        """How the steps run, and the program's lazy gradients: 'eager' for a score or regularizer of
        the user's (run as written), 'auto' when the program is compiled already, else 'rent' (eager
        while its eager steps would cost less than `_COMPILE_BUDGET_S` in all, then compiled)."""
        penalties = [loss.regularizer for loss, _ in losses[len(scores) :]]
        if _scoring.needs_eager(scores) or not all(_adapters.is_built_in(r) for r in penalties):
            return "eager", None
        lazy = engine.get_program(self.model.inputs, [loss for loss, _ in losses]).lazy_gradients
        return ("auto" if lazy.ready else "rent"), lazy

    def _report(self, active, step, clipped, grads, fed, result, n_scores, regularizer_names) -> None:
        """Calls the callbacks with 0.8.7's arguments (`model_outputs` on the inputs `fed` to the step)."""
        named = [tf.constant(v) for _, v in result.named_losses]
        scores = [-v for v in named[:n_scores]]
        regularizations = list(zip(regularizer_names, named[n_scores:]))
        overall = [-s for s in scores] + [v for _, v in regularizations]
        outputs = []
        if any(type(c) not in _BUILT_IN_CALLBACKS for c in active):
            inputs = [tf.constant(v) for v in fed]
            outputs = listify(self.model(inputs[0] if len(inputs) == 1 else inputs, training=False))
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
