"""The model parameter randomisation test: does a map change when the model's weights do?

Adebayo et al. (2018, "Sanity checks for saliency maps") re-initialise the
weights of a trained model layer by layer, from the top down, and compare each
map of the randomised model with the map of the trained one. A map that barely
changes does not depend on what the model learned: it shows the image, not the
model (an edge detector would pass for such a map). They found guided
backpropagation among these.

The randomised model is a copy (`keras.models.clone_model`, whose layers draw
fresh weights from their own initialisers; the layers not yet randomised get the
trained weights back); the user's model is never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
from scipy import stats

from vis.engine import graph
from vis.metrics.common import Target, flat_method_maps, seed_batch
from vis.utils.layers import flat_layers, get_layer, position
from vis.visualization import methods

MODES = ("cascading", "independent")


def randomization_test(
    method: str | Callable,
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | str | None,
    seed_input,
    layers: str = "cascading",
    num_layers: int | None = None,
    **method_kwargs,
) -> np.ndarray:
    """Returns the rank correlation of each map with its map on the model with randomised weights.

    The layers with weights, from `layer_idx` down to the input (the order of
    `randomized_layers`), are re-initialised in a copy of the model: cumulatively
    (`'cascading'`: column `j` has the top `j + 1` layers randomised) or one at a
    time (`'independent'`: column `j` has only layer `j` randomised). After each,
    the map of every seed is computed again and compared with the trained
    model's map by Spearman's rank correlation.

    Args:
        method: A registered method name (`'saliency'`, `'guided'`,
            `'gradcam'`, ... see `vis.visualization.methods`) or a map function
            `(model, layer_idx, filter_indices, seed_input, **kwargs) -> maps`.
        model: A Keras model with one input (left unchanged).
        layer_idx: The layer the maps explain (index, name, path or layer).
        filter_indices: As for the map methods (`PerSample` indices included),
            or `'predicted'`: each seed's most active filter on the trained
            model (kept for the randomised ones).
        seed_input: One input or a batch.
        layers: `'cascading'` or `'independent'`.
        num_layers: Randomise only the top `num_layers` layers with weights; None for all.
        **method_kwargs: Passed to the method (layer objects and Keras tensors of
            `model`, such as `wrt_tensor`, are swapped for the copy's).

    Returns:
        float64 `(batch, layers)`: the rank correlation per seed and randomised
        layer. Near 1: the map ignores those weights; low: it depends on them.
        0 when exactly one of the two maps is constant (nothing ranks in it),
        NaN when both are.

    Raises:
        ValueError: For an unknown method or `layers` mode, a `num_layers` < 1,
            a model without weights below `layer_idx`, a model
            `keras.models.clone_model` cannot copy, and what the method checks.
        TypeError: For arguments of the wrong type.
    """
    function = methods.get(method)
    if layers not in MODES:
        raise ValueError(f"`layers` must be 'cascading' or 'independent'. Received: layers={layers!r}")
    chosen = weighted_layers(model, layer_idx, num_layers)
    target = Target(model, layer_idx, filter_indices)
    batch = seed_batch(model, seed_input)
    calls = target.calls(batch, function)
    trained = flat_method_maps(function, model, layer_idx, calls, batch, **method_kwargs)
    return correlations(function, model, layer_idx, calls, batch, trained, chosen, layers, method_kwargs)


def correlations(
    function: methods.Method,
    model,
    layer_idx,
    calls: list,
    batch: np.ndarray,
    trained: np.ndarray,
    chosen: list,
    layers: str,
    method_kwargs: dict,
) -> np.ndarray:
    """The body of `randomization_test`, given the trained maps (`vis.evaluation` reuses them).

    Args:
        function: The map method.
        model: The user's model (copied, never changed).
        layer_idx: The layer the maps explain.
        calls: `(filter_indices, sample indices)` pairs, from `Target.calls`.
        batch: The seed batch.
        trained: The maps of the trained model, one per seed (any shape after the batch axis).
        chosen: The layers to randomise, top first, from `weighted_layers`.
        layers: `'cascading'` or `'independent'`.
        method_kwargs: The method's keywords.

    Returns:
        float64 `(batch, len(chosen))` rank correlations.
    """
    copy, twins, fresh = _copy(model, chosen)
    layer_idx, method_kwargs = _translate(model, copy, layer_idx), _translate(model, copy, method_kwargs)
    columns = []
    for twin, weights, original in zip(twins, fresh, chosen):
        twin.set_weights(weights)
        maps = flat_method_maps(function, copy, layer_idx, calls, batch, **method_kwargs)
        columns.append(rank_correlation(trained, maps))
        if layers == "independent":
            twin.set_weights(original.get_weights())
    return np.stack(columns, axis=1)


def randomized_layers(model, layer_idx: int | str, num_layers: int | None = None) -> list[str]:
    """The names of the layers `randomization_test` randomises, top first (its columns, in order).

    They are the layers with weights at or below `layer_idx`, in the order of
    `model.layers` reversed (looking into nested models).

    Args:
        model: A Keras model.
        layer_idx: The layer the maps explain.
        num_layers: At most this many (from the top); None for all.

    Returns:
        The layer names, top first.

    Raises:
        ValueError: If there are none, or `num_layers` < 1.
    """
    return [layer.name for layer in weighted_layers(model, layer_idx, num_layers)]


def rank_correlation(a, b) -> np.ndarray:
    """Spearman's rank correlation of each pair of maps `a[i]`, `b[i]` (ties get their average rank).

    Args:
        a: A batch of maps (any shape after the batch axis).
        b: Another batch of maps, of the same size.

    Returns:
        float64 `(batch,)`; 0 when exactly one map of a pair is constant, NaN when both are.
    """
    a = np.asarray(a, dtype="float64").reshape(len(a), -1)
    b = np.asarray(b, dtype="float64").reshape(len(b), -1)
    ra, rb = stats.rankdata(a, axis=1), stats.rankdata(b, axis=1)
    ra, rb = ra - ra.mean(axis=1, keepdims=True), rb - rb.mean(axis=1, keepdims=True)
    na, nb = np.sqrt((ra**2).sum(axis=1)), np.sqrt((rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.clip((ra * rb).sum(axis=1) / (na * nb), -1.0, 1.0)
    rho[(na == 0) != (nb == 0)] = 0.0
    return rho


def weighted_layers(model, layer_idx: int | str, num_layers: int | None) -> list:
    """The layers with weights at or below `layer_idx`, top first (at most `num_layers` of them).

    Raises:
        ValueError: If there are none, or `num_layers` < 1.
        TypeError: If `num_layers` is not an int or None.
    """
    if num_layers is not None:
        if isinstance(num_layers, (bool, np.bool_)) or not isinstance(num_layers, (int, np.integer)):
            raise TypeError(f"`num_layers` must be an int or None. Received: num_layers={num_layers!r}")
        if num_layers < 1:
            raise ValueError(f"`num_layers` must be >= 1 or None. Received: num_layers={num_layers!r}")
    flat = flat_layers(model)
    top = position(flat, get_layer(model, layer_idx))
    chosen = [
        layer for layer in reversed(flat[: top + 1]) if layer.weights and not isinstance(layer, keras.Model)
    ]
    if not chosen:
        raise ValueError(
            f"No layer with weights at or below layer '{flat[top].name}': there is nothing to randomise. "
            f"Received: layer_idx={layer_idx!r}"
        )
    return chosen[:num_layers]


def _copy(model, chosen: list) -> tuple:
    """A copy of the model with the trained weights, the copy's twin of each chosen layer and fresh weights.

    The fresh weights are those `clone_model` drew from each twin's initialisers.
    """
    try:
        copy = keras.models.clone_model(model)
    except Exception as error:  # noqa: BLE001 - any failure to copy is reported with the model's name
        raise ValueError(
            f"randomization_test works on a copy made by `keras.models.clone_model`, which failed for model "
            f"'{model.name}' ({type(error).__name__}: {error}). Received: model={model!r}"
        ) from None
    flat, copied = flat_layers(model), flat_layers(copy)
    if [type(layer) for layer in flat] != [type(layer) for layer in copied]:  # Input names may differ.
        raise ValueError(
            f"The copy of model '{model.name}' does not have its layers. Received: model={model!r}"
        )
    twins = [copied[position(flat, layer)] for layer in chosen]
    fresh = [twin.get_weights() for twin in twins]
    for original, twin in zip(flat, copied):
        if original.weights and not isinstance(original, keras.Model):
            twin.set_weights(original.get_weights())
    return copy, twins, fresh


def _translate(model, copy, value) -> object:
    """Swaps the layers and Keras tensors of `model` in `value` (a dict, list or one) for the copy's."""
    if isinstance(value, dict):
        return {key: _translate(model, copy, item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_translate(model, copy, item) for item in value)
    flat = flat_layers(model)
    if isinstance(value, keras.layers.Layer) and position(flat, value) is not None:
        return flat_layers(copy)[position(flat, value)]
    if graph.is_keras_tensor(value):
        operation, index = graph.producer(value)
        where = position(flat, operation)
        if where is not None:
            twin = flat_layers(copy)[where]
            outputs = twin.output if isinstance(twin.output, (list, tuple)) else [twin.output]
            return outputs[index]
        if isinstance(operation, keras.layers.InputLayer):
            return copy.inputs[0]
    return value
