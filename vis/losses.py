"""Losses: symbolic expressions over Keras tensors that the engine minimises.

A loss is written the keras-vis way: `build_loss()` returns an expression
built with `keras.ops` over Keras tensors such as `layer.output` or
`model.inputs[0]`. The expression is either a scalar (one value for the
whole batch, as keras-vis losses were) or has the batch as its first axis
(one value per sample, as the built-in losses here do).

A loss can also take values at run time without being rebuilt: it creates
`keras.Input` placeholders in `build_loss()`, lists them in
`runtime_placeholders` and returns their values from `get_runtime_args()`.
Two losses with the same `cache_key()` build the same expression, so the
engine compiles it once and feeds each one's run-time values.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import keras
import numpy as np

from vis.losses_base import Loss
from vis.regression import RegressionTarget  # keras-vis 0.3.x users import it from here.
from vis.utils.layers import channel_axis


class PerSample:
    """Filter indices chosen per sample of a batch of seeds: `PerSample([3, 1, 7])`.

    Passed as `filter_indices` to `ActivationMaximization` (and so to
    `visualize_saliency` and `visualize_cam`), it selects filter 3 for the
    first seed, 1 for the second and 7 for the third, in one call: each image
    explained by its own class (its label or its prediction). `vis.stream`
    uses it for `filter_indices='label'` and `'predicted'`.

    Args:
        indices: One int per sample.
    """

    def __init__(self, indices) -> None:
        array = np.asarray(indices)
        if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
            raise TypeError(
                f"`PerSample` takes one int per sample, as a 1-D sequence. Received: indices={indices!r}"
            )
        self.indices = [int(i) for i in array]

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"PerSample({self.indices})"


class ActivationMaximization(Loss):
    """Loss that is low when the chosen filters of a layer are highly active.

    For each listed filter the loss adds minus its mean activation over the
    spatial axes (a Dense unit has none), so minimising the loss raises them.
    The filter selection is fed at run time: changing the class does not
    recompile anything.

    Args:
        layer: The Keras layer whose output is maximised.
        filter_indices: An int, a list of ints (duplicates count twice),
            None for every filter, or `PerSample` indices (one per seed).

    Raises:
        TypeError: If `filter_indices` holds something other than ints.
        ValueError: If an index is out of range for the layer.
    """

    name = "ActivationMax Loss"

    def __init__(self, layer, filter_indices: int | Sequence[int] | None) -> None:
        super().__init__()
        self.layer = layer
        self.num_filters = _num_filters(layer)
        self.per_sample = isinstance(filter_indices, PerSample)
        if self.per_sample:
            self.filter_indices = [
                check_filter_indices(i, self.num_filters, layer)[0] for i in filter_indices.indices
            ]
        else:
            self.filter_indices = check_filter_indices(filter_indices, self.num_filters, layer)

    def cache_key(self) -> Hashable:
        return ("ActivationMaximization", id(self.layer), self.num_filters)

    def get_runtime_args(self) -> list[np.ndarray]:
        """The selection: `(1, filters)` counts of the chosen filters, or `(batch, filters)` per sample."""
        if self.per_sample:
            selection = np.zeros((len(self.filter_indices), self.num_filters), dtype="float32")
            selection[np.arange(len(self.filter_indices)), self.filter_indices] = 1.0
            return [selection]
        selection = np.zeros((1, self.num_filters), dtype="float32")
        np.add.at(selection[0], self.filter_indices, 1.0)
        return [selection]

    def build_loss(self):
        output = self.layer.output
        axis = channel_axis(self.layer, output.ndim)
        spatial = tuple(a for a in range(1, output.ndim) if a != axis)
        per_filter = keras.ops.mean(output, axis=spatial) if spatial else output
        # No fixed name: several of these losses may share one program, and graph names must be unique.
        selection = keras.Input(batch_shape=(None, self.num_filters))  # One row for all, or one per sample.
        self.runtime_placeholders = [selection]
        per_filter = keras.ops.cast(per_filter, "float32")
        return -keras.ops.sum(per_filter * selection, axis=-1)


def _num_filters(layer) -> int:
    shape = layer.output.shape
    axis = channel_axis(layer, len(shape))
    return int(shape[axis])


def check_filter_indices(filter_indices, num_filters: int, layer=None) -> list[int]:
    """Validates `filter_indices` and returns them as a list (None = all).

    Raises:
        TypeError: If an index is not an int.
        ValueError: If an index is outside `[0, num_filters)` (negative
            indices are refused: keras-vis users pass class numbers, and -1
            silently meaning the last class would hide a bug).
    """
    if filter_indices is None:
        return list(range(num_filters))
    items = filter_indices.tolist() if isinstance(filter_indices, np.ndarray) else filter_indices
    items = list(items) if isinstance(items, (list, tuple)) else [items]
    where = f" of layer '{layer.name}'" if layer is not None else ""
    if not items:
        raise ValueError(f"`filter_indices` must not be empty. Received: filter_indices={filter_indices!r}")
    result = []
    for index in items:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(
                "`filter_indices` must be an int, a list of ints or None. "
                f"Received: filter_indices={filter_indices!r}"
            )
        if not 0 <= index < num_filters:
            raise ValueError(
                f"`filter_indices` must be in [0, {num_filters}) for the {num_filters} "
                f"filters{where}. Received: filter_indices={filter_indices!r}"
            )
        result.append(int(index))
    return result


__all__ = ["ActivationMaximization", "Loss", "PerSample", "RegressionTarget", "check_filter_indices"]
