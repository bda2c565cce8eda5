"""`RegressionTarget`: the loss keras-vis 0.3.x used for regression outputs.

A regression output has no class to maximise: what is worth seeing is what
drives it towards a chosen value. keras-vis wrote this as a loss that, once
minimised, moves the listed outputs to their targets, and looked at its
gradient to see which inputs would *increase* an output (target above the
prediction), *decrease* it (target below) or *maintain* it (target equal).

Here the loss is the squared distance of the outputs to their targets (per
sample): it is lowest when the outputs equal the targets, is bounded below
(so `visualize_activation_with_losses` can minimise it, as keras-vis's
`visualize_regression_activation` did), and with weight -1 its gradient is
`sum_i (t_i - y_i) * dy_i/dx`: positive where raising the input moves the
outputs towards the targets. keras-vis's version switched between `y`, `-y`
and `sign(t - y) / y` per output; its "maintain" branch gave a zero gradient
whenever the target equalled the output, which the regression functions of
`vis.visualization.legacy` replace by the `grad_modifier='small_values'` map
keras-vis 0.5 recommends.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import keras
import numpy as np

from vis.losses_base import Loss

_DEFAULT_THRESHOLD = 0.05  # keras-vis's `RegressionTarget(threshold=0.05)`.


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _as_list(value) -> list:
    if isinstance(value, np.ndarray):
        return value.reshape(-1).tolist() if value.ndim else [value.item()]
    return list(value) if isinstance(value, (list, tuple)) else [value]


class RegressionTarget(Loss):
    """Loss that is low when regression outputs of a layer are close to their targets.

    Per sample, the loss is `0.5 * sum_i (y_i - t_i) ** 2` over the listed
    outputs `y_i` of `layer` and their targets `t_i`. With weight -1 in a
    saliency or grad-CAM call, the gradient is `sum_i (t_i - y_i) dy_i/dx`:
    it shows what *increases* an output whose target lies above it and what
    *decreases* one whose target lies below it. The targets are fed at run
    time, so new targets never recompile anything.

    Args:
        layer: A Keras layer with outputs of shape `(batch, outputs)`, such
            as a final linear `Dense` layer.
        output_indices: An int, a list of ints, or None for every output.
        targets: One target per entry of `output_indices` (a single number
            for a single index). A target of None means "keep the current
            value": that output adds nothing to the distance, and
            `visualize_regression_saliency` shows what leaves it unchanged.
        threshold: Outputs within this distance of their target count as
            already at it ("maintain"), as in keras-vis. Used by the legacy
            regression functions; the loss itself is the plain distance.

    Raises:
        ValueError: If the layer's output is not `(batch, outputs)`, an
            index is out of range or repeated, the targets do not match the
            indices, a target is not finite, or `threshold` is negative.
        TypeError: If an index is not an int or a target is not a number or None.
    """

    name = "RegressionTarget Loss"

    def __init__(
        self,
        layer,
        output_indices: int | Sequence[int] | None,
        targets,
        threshold: float = _DEFAULT_THRESHOLD,
    ) -> None:
        super().__init__()
        shape = tuple(layer.output.shape)
        if len(shape) != 2 or shape[-1] is None:
            raise ValueError(
                f"`RegressionTarget` needs a layer with outputs of shape (batch, outputs); layer "
                f"'{layer.name}' outputs shape {shape}. Received: layer={layer.name!r}"
            )
        self.layer = layer
        self.num_outputs = int(shape[-1])
        self.output_indices = self._check_indices(output_indices)
        self.targets = self._check_targets(targets)
        if not _is_number(threshold) or not threshold >= 0:
            raise ValueError(f"`threshold` must be a number >= 0. Received: threshold={threshold!r}")
        self.threshold = float(threshold)

    def _check_indices(self, output_indices) -> list[int]:
        if output_indices is None:
            return list(range(self.num_outputs))
        items = _as_list(output_indices)
        if not items:
            raise ValueError(
                f"`output_indices` must not be empty. Received: output_indices={output_indices!r}"
            )
        result = []
        for index in items:
            if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
                raise TypeError(
                    "`output_indices` must be an int, a list of ints or None. "
                    f"Received: output_indices={output_indices!r}"
                )
            if not -self.num_outputs <= index < self.num_outputs:
                raise ValueError(
                    f"`output_indices` must be in [0, {self.num_outputs}) for the {self.num_outputs} outputs "
                    f"of layer '{self.layer.name}'. Received: output_indices={output_indices!r}"
                )
            result.append(int(index) % self.num_outputs)
        if len(set(result)) != len(result):
            raise ValueError(
                f"`output_indices` must not repeat an output (each gets one target). "
                f"Received: output_indices={output_indices!r}"
            )
        return result

    def _check_targets(self, targets) -> list[float | None]:
        items = _as_list(targets)
        if len(items) != len(self.output_indices):
            raise ValueError(
                f"`targets` needs one value per output index: {len(self.output_indices)} for "
                f"output_indices={self.output_indices}. Received: targets={targets!r}"
            )
        result = []
        for target in items:
            if target is None:
                result.append(None)
                continue
            if not _is_number(target):
                raise TypeError(f"`targets` must hold numbers or None. Received: targets={targets!r}")
            if not np.isfinite(target):
                raise ValueError(f"`targets` must be finite. Received: targets={targets!r}")
            result.append(float(target))
        return result

    def cache_key(self) -> Hashable:
        return ("RegressionTarget", id(self.layer), self.num_outputs)

    def get_runtime_args(self) -> list[np.ndarray]:
        values = np.zeros((self.num_outputs,), dtype="float32")
        mask = np.zeros((self.num_outputs,), dtype="float32")
        for index, target in zip(self.output_indices, self.targets):
            if target is not None:
                values[index], mask[index] = target, 1.0
        return [values, mask]

    def build_loss(self):
        outputs = keras.ops.cast(self.layer.output, "float32")
        targets = keras.Input(batch_shape=(self.num_outputs,))
        mask = keras.Input(batch_shape=(self.num_outputs,))
        self.runtime_placeholders = [targets, mask]
        return 0.5 * keras.ops.sum(mask * keras.ops.square(outputs - targets), axis=-1)

    def at_target(self, outputs) -> np.ndarray:
        """Tells, per sample, whether every output is already at its target.

        Args:
            outputs: The layer's outputs, `(batch, outputs)`.

        Returns:
            A bool array `(batch,)`: True when each listed output with a
            numeric target is within `threshold` of it (outputs whose
            target is None always count as at their target).
        """
        outputs = np.asarray(outputs, dtype="float64").reshape(-1, self.num_outputs)
        done = np.ones((outputs.shape[0],), dtype=bool)
        for index, target in zip(self.output_indices, self.targets):
            if target is not None:
                done &= np.abs(target - outputs[:, index]) <= self.threshold
        return done


__all__ = ["RegressionTarget"]
