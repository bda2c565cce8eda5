"""Checks and helpers shared by the metrics: seeds, maps, targets, scores and map methods.

Every model evaluation of `vis.metrics` is one `vis.engine.evaluate` call on a
batch: the forward twin of the compiled program the gradient methods use. The
score of a sample is the mean activation of its chosen filters of `layer_idx`
(summed over the filters): minus the value of `ActivationMaximization`, the
loss every map method maximises.
"""

from __future__ import annotations

import keras
import numpy as np

from vis import engine
from vis.losses import ActivationMaximization, PerSample
from vis.utils.layers import get_layer, per_filter
from vis.visualization import common, methods

PREDICTED = "predicted"


def one_input(model) -> object:
    """Returns the model's one input tensor.

    Raises:
        ValueError: If the model has several inputs.
    """
    inputs = common.model_inputs(model)
    if len(inputs) != 1:
        names = [common.input_name(t) for t in inputs]
        raise ValueError(
            f"vis.metrics perturbs the one input of a model; model '{model.name}' has {len(inputs)} inputs "
            f"{names}. Wrap the part that takes the image in a model of its own. Received: model={model!r}"
        )
    return inputs[0]


def seed_batch(model, seed_input) -> np.ndarray:
    """The validated seeds as a float batch (batch axis first, always)."""
    tensor = one_input(model)
    return common.prepare_seeds(seed_input, [tensor], keep_batch_axis=True).batches[0]


def input_channel_axis(ndim: int) -> int | None:
    """The channel axis of a seed batch of rank `ndim`, or None for `(batch, features)` inputs."""
    if ndim < 3:
        return None
    return 1 if keras.config.image_data_format() == "channels_first" else ndim - 1


def spatial_shape(batch: np.ndarray) -> tuple:
    """The shape of one map of a seed batch: a seed's shape without its channel axis."""
    axis = input_channel_axis(batch.ndim)
    return tuple(d for i, d in enumerate(batch.shape) if i not in (0, axis))


def check_maps(maps, batch: np.ndarray, argument: str = "maps") -> np.ndarray:
    """Validates maps of a seed batch and returns them as float64 `(batch, *spatial)`, channels reduced.

    Accepted: one map per seed, `(batch, *spatial)`, or with the seed's channel
    axis, `(batch, *seed_shape)` (reduced by a max, as saliency does); for one
    seed, also without the batch axis.

    Raises:
        TypeError: If the maps are not numeric.
        ValueError: For a wrong shape or NaN/inf values.
    """
    array = np.asarray(maps) if not isinstance(maps, np.ndarray) else maps
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"`{argument}` must be a numeric array. Received: {argument}={maps!r}"[:400])
    spatial, full, n = spatial_shape(batch), tuple(batch.shape[1:]), batch.shape[0]
    if n == 1 and array.shape in (spatial, full) and array.shape != (1, *spatial):
        array = array[None]
    if array.shape not in ((n, *spatial), (n, *full)):
        raise ValueError(
            f"`{argument}` must hold one map per seed: shape {(n, *spatial)} (or {(n, *full)} with the "
            f"channels) for seeds of shape {batch.shape}. Received: {argument} with shape {np.shape(maps)}"
        )
    array = array.astype("float64")
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"`{argument}` contains NaN or inf values. Received: {argument} with shape {array.shape}"
        )
    if array.shape[1:] == full and full != spatial:
        array = np.max(array, axis=input_channel_axis(array.ndim))
    return array


class Target:
    """The filters of `layer_idx` a metric scores, and the forward evaluation that scores them.

    Args:
        model: The Keras model.
        layer_idx: The layer whose filters are scored (index, name, path or layer).
        filter_indices: An int, a list of ints (their activations summed, as
            `ActivationMaximization` does), None for all filters, `PerSample`
            indices (one class per seed), or `'predicted'`: each seed's most
            active filter on its unperturbed seed.
    """

    def __init__(self, model, layer_idx, filter_indices) -> None:
        self.model, self.input = model, one_input(model)
        self.layer = get_layer(model, layer_idx)
        self.predicted = isinstance(filter_indices, str)
        if self.predicted and filter_indices != PREDICTED:
            raise ValueError(
                "`filter_indices` must be an int, a list of ints, None, `PerSample` indices or 'predicted'. "
                f"Received: filter_indices={filter_indices!r}"
            )
        chosen = ActivationMaximization(
            self.layer, None if self.predicted else filter_indices
        )  # Checks them.
        self.per_sample = isinstance(filter_indices, PerSample)
        self.selection = None if self.predicted else chosen.get_runtime_args()[0].astype("float64")
        # The forward calls read the layer's whole output; the selection is applied here, per sample.
        self.loss = ActivationMaximization(self.layer, None)
        self.filter_indices, self._predicted = filter_indices, None

    def check(self, batch: np.ndarray) -> None:
        """Raises when `PerSample` indices do not hold one class per seed."""
        if self.per_sample and len(self.filter_indices) != len(batch):
            raise ValueError(
                f"`filter_indices` must hold one class per seed: {len(batch)} for these seeds. "
                f"Received: filter_indices={self.filter_indices!r}"
            )

    def activations(self, batch: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """The mean activation of every filter of the layer, `(batch, filters)`: forward calls only."""
        size = len(batch) if batch_size is None else batch_size
        parts = []
        for start in range(0, len(batch), size):
            result = engine.evaluate(
                [self.input], [(self.loss, -1)], [batch[start : start + size]], wrt_tensor=self.layer.output
            )
            parts.append(per_filter(self.layer, result.wrt_value))
        return np.concatenate(parts)

    def selections(self, reference: np.ndarray) -> np.ndarray:
        """One selection vector per sample, `(batch, filters)`, from the unperturbed seeds' activations."""
        if not self.predicted:
            return np.broadcast_to(self.selection, reference.shape)
        return np.eye(reference.shape[1])[np.argmax(reference, axis=1)]

    def calls(self, batch: np.ndarray, method: methods.Method) -> list[tuple]:
        """`(filter_indices, sample indices)`: the calls of a map method that cover the batch.

        One call, unless each seed has its own class and the method cannot take
        `PerSample` indices: then one call per class.
        """
        self.check(batch)
        everything = np.arange(len(batch))
        if not (self.predicted or self.per_sample):
            return [(self.filter_indices, everything)]
        if self.per_sample:
            classes = np.asarray(self.filter_indices.indices)
        elif self._predicted is not None and self._predicted[0] is batch:
            classes = self._predicted[1]
        else:
            classes = np.argmax(self.activations(batch), axis=1)
            self._predicted = (batch, classes)  # Several methods' calls on one batch: one forward call.
        if method.per_sample:
            return [(PerSample(classes), everything)]
        return [(int(c), np.flatnonzero(classes == c)) for c in np.unique(classes)]


def method_maps(method, model, layer_idx, calls: list, batch: np.ndarray, **kwargs) -> np.ndarray:
    """Runs a map method in the calls `Target.calls` lists and returns the maps `(batch, *spatial)`."""
    function = methods.get(method)
    maps = np.zeros((len(batch), *spatial_shape(batch)))
    for filter_indices, index in calls:
        result = function(model, layer_idx, filter_indices, batch[index], **kwargs)
        maps[index] = check_maps(result, batch[index], argument=f"the maps of method {function.name!r}")
    return maps


def flat_method_maps(method, model, layer_idx, calls: list, batch: np.ndarray, **kwargs) -> np.ndarray:
    """Runs a map method in the calls `Target.calls` lists and returns its maps flattened, `(batch, values)`.

    Maps of any shape are accepted (a map of an intermediate `wrt_tensor` has
    that tensor's shape), as long as every sample's map has the same size.
    """
    function = methods.get(method)
    maps, argument = None, f"the maps of method {function.name!r}"
    for filter_indices, index in calls:
        result = np.asarray(
            function(model, layer_idx, filter_indices, batch[index], **kwargs), dtype="float64"
        )
        if len(index) == 1 and (result.ndim == 0 or result.shape[0] != 1):
            result = result[None]
        if result.ndim == 0 or result.shape[0] != len(index) or not np.all(np.isfinite(result)):
            raise ValueError(
                f"`{argument}` must be finite, one map per seed. Received: {argument} with shape "
                f"{result.shape} for {len(index)} seeds"
            )
        result = result.reshape(len(index), -1)
        if maps is None:
            maps = np.zeros((len(batch), result.shape[1]))
        if result.shape[1] != maps.shape[1]:
            raise ValueError(
                f"`{argument}` must all have the same size. Received: {argument} of sizes "
                f"{maps.shape[1]} and {result.shape[1]}"
            )
        maps[index] = result
    return maps
