"""tf-keras-vis 0.8.7's `ActivationMaximization`, on vis's engine.

Each step is 0.8.7's: the input modifiers change the current values (kept),
`vis.engine` gives the gradient of `sum(regularizers) - sum(scores)` w.r.t.
every input (scores and regularizers as vis losses), then `gradient_modifier`,
the Keras optimizer's update, the values clipped to `input_range` and the
callbacks; `_steps` runs them as compiled calls. The result is the last
step's clipped values, as tensors.
"""

from __future__ import annotations

import warnings

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
        model, mixed = self.model, is_mixed_precision(self.model)
        optimizer = None if optimizer is None else _adapters.keras_optimizer(optimizer, mixed)
        scores = self._get_scores_for_multiple_outputs(score)
        input_ranges = _adapters.input_ranges_of(model, input_range)
        values = self._seeds(seed_input, input_ranges)
        modifiers = _adapters.per_input(model, input_modifiers, "input modifiers")
        losses, names = self._losses(scores, regularizers, len(values[0]))
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"`steps` must be an int >= 0. Received: steps={steps!r}")
        clipped = _adapters.clip_and_modify(model, values, input_ranges, activation_modifiers)
        program = engine.get_program(model.inputs, [loss for loss, _ in losses])
        args = [a for loss, _ in losses for a in loss.get_runtime_args()]
        args = [tf.convert_to_tensor(a, p.dtype) for a, p in zip(args, program.placeholders)]
        modifiers = [modifiers[name] for name in get_input_names(model)]
        penalties = [loss.regularizer for loss, _ in losses[len(scores) :]]
        eager = _scoring.needs_eager(scores) or not all(_adapters.is_built_in(r) for r in penalties)
        steps = get_num_of_steps_allowed(steps)
        held = _steps.steps_for(program, values, modifiers, mixed)
        with held as runner, managed_callbacks(**arguments) as active:
            run = runner.run(steps, args, modifiers, eager, bool(active), optimizer, gradient_modifier)
            for step, stacked, grads, fed in run:
                if active or step == steps - 1:
                    values = [variable.value() for variable in runner.variables]
                    clipped = _adapters.clip_and_modify(model, values, input_ranges, activation_modifiers)
                if active:
                    self._report(active, step, clipped, grads, fed, stacked, len(scores), names)
        return clipped[0] if len(model.inputs) == 1 and not isinstance(seed_input, list) else clipped

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
            triples = [(r.name, r, list(model.inputs)) for r in legacy]
        else:
            triples = _adapters.named_regularizers(
                model, _adapters.per_input(model, regularizers, "regularizers")
            )
        losses += [(_adapters.RegularizerLoss(r, tensor, name), 1.0) for name, r, tensor in triples]
        return losses, [name for name, _, _ in triples]

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
    """The regularizers as a list when they are legacy ones (`utils.regularizers`), else None.

    Raises:
        ValueError: When legacy and current regularizers are mixed, or legacy ones are given per input.
    """
    items = [listify(r) for r in regularizers.values()] if isinstance(regularizers, dict) else regularizers
    items = list(items) if isinstance(items, (tuple, list)) else [items]
    nested = any(isinstance(r, (tuple, list)) for r in items)
    legacy = [
        isinstance(r, LegacyRegularizer) for group in items for r in (listify(group) if nested else [group])
    ]
    if not any(legacy):
        return None
    if nested or not all(legacy):
        what = (
            "a list of them, not per input"
            if nested
            else "a list of them: they cannot be mixed with current ones"
        )
        raise ValueError(
            f"Legacy regularizers (`utils.regularizers`) must be given as one instance or {what}. "
            f"Received: regularizers={regularizers!r}"[:400]
        )
    return items
