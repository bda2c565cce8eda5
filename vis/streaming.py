"""`vis.stream`: maps for a whole data set, batch by batch, on one device or many.

The data set is read in batches (a numpy array, a `tf.data.Dataset` of images
or `(image, label)` pairs, or any iterable of batches), each batch goes
through one call of a map method (the compiled engine program, split across
the replicas of a `tf.distribute` strategy when one is given), and the maps
are yielded, or written into a memory-mapped `.npy` file or a folder of `.npy`
shards. Memory holds one batch at a time: it grows with the batch size, never
with the size of the data set.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import time
from collections.abc import Iterator

import keras
import numpy as np

from vis.losses import PerSample
from vis.streaming_data import NpyWriter, batches_of, count_of
from vis.utils.layers import get_layer, per_filter
from vis.visualization import common, methods

_TARGETS = ("label", "predicted")


def stream(
    method,
    model,
    layer_idx,
    filter_indices,
    data,
    batch_size: int = 64,
    out: str | None = None,
    strategy=None,
    verbose: int = 1,
    **method_kwargs,
) -> Iterator[np.ndarray] | str:
    """Computes the maps of every image of a data set, batch by batch.

    Args:
        method: A map method by name (`'saliency'`, `'guided'`, `'gradcam'`,
            ...; see `vis.visualization.methods`) or a map function
            `(model, layer_idx, filter_indices, seed_input, **kwargs)`.
        model: A Keras model.
        layer_idx: The layer to visualize (index, name, path or layer).
        filter_indices: An int, a list of ints or None (as for the method),
            `'label'` (each sample's label: `data` must yield `(image, label)`
            pairs) or `'predicted'` (each sample's top class, from the layer's
            own output on that batch).
        data: A numpy array of images `(N, ...)`, a `tf.data.Dataset` of
            images or `(image, label)` pairs (batched or not), or any iterable
            of batches (arrays, or `(images, labels)` pairs).
        batch_size: Images per batch (a batched dataset or an iterable of
            batches is re-cut to this size).
        out: None to yield the maps batch by batch; a path ending in `.npy` to
            write them, as they come, into one array `(N, ...)` (open it with
            `np.load(out, mmap_mode='r')`); any other path for a folder of
            `.npy` shards, one per batch.
        strategy: An optional `tf.distribute.Strategy`: each batch is split
            across its replicas (the model may also have been built under
            `strategy.scope()`); the maps equal the single-device ones.
        verbose: 1 shows a `keras.utils.Progbar` with images per second; 0 is quiet.
        **method_kwargs: Keywords of the method (`backprop_modifier`, `penultimate_layer_idx`, ...).

    Returns:
        Without `out`, an iterator of map batches (batch axis first). With
        `out`, the path written (after all batches are done).

    Raises:
        ValueError: For `batch_size` < 1, an empty data set, images of the wrong
            shape, or `filter_indices='label'` without labels.
        TypeError: For data of an unsupported type or an unknown method.
    """
    method = methods.get(method)
    _check_batch_size(batch_size)
    inputs = common.model_inputs(model)
    layer = get_layer(model, layer_idx)
    if isinstance(filter_indices, str) and filter_indices not in _TARGETS:
        raise ValueError(
            f"`filter_indices` must be an int, a list of ints, None, 'label' or 'predicted'. "
            f"Received: filter_indices={filter_indices!r}"
        )
    total = count_of(data)
    if total == 0:
        raise ValueError("`data` holds no samples. Received: an empty data set")
    batches = batches_of(data, batch_size, inputs[0])
    maps = _maps(method, model, layer, filter_indices, batches, strategy, method_kwargs)
    maps = _progress(maps, total, verbose)
    if out is None:
        return maps
    return _write(maps, str(out), total)


def _check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an int >= 1. Received: batch_size={batch_size!r}")


def _maps(method, model, layer, filter_indices, batches, strategy, kwargs) -> Iterator[np.ndarray]:
    seen = False
    for images, labels in batches:
        seen = True
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            targets = _targets(filter_indices, model, layer, images, labels)
            yield apply_batch(method, model, layer, targets, images, kwargs)
    if not seen:
        raise ValueError("`data` holds no samples. Received: an empty data set")


def _targets(filter_indices, model, layer, images, labels):
    """The filter selection for one batch: as given, or one index per sample."""
    if filter_indices == "label":
        if labels is None:
            raise ValueError(
                "filter_indices='label' needs labels: give `data` as (image, label) pairs. "
                "Received: data without labels"
            )
        return np.asarray(labels).reshape(len(images), -1)[:, 0].astype(int)
    if filter_indices == "predicted":
        return predicted(model, layer, images)
    return filter_indices


def predicted(model, layer, images: np.ndarray) -> np.ndarray:
    """The most active filter of `layer` for each image: its top class, or for a convolution the
    channel of largest mean activation (one forward pass through the engine)."""
    from vis import engine
    from vis.losses import ActivationMaximization

    loss = ActivationMaximization(layer, 0)
    values = engine.evaluate(common.model_inputs(model), [(loss, 1)], images, wrt_tensor=layer.output)
    return np.argmax(per_filter(layer, values.wrt_value), axis=-1)


def apply_batch(method, model, layer, targets, images, kwargs) -> np.ndarray:
    """Runs the method on one batch: once, or once per distinct target when per-sample targets
    cannot be passed in one call."""
    if not isinstance(targets, np.ndarray):
        return _batched(method, model, layer, targets, images, kwargs)
    if method.per_sample:
        return _batched(method, model, layer, PerSample(targets), images, kwargs)
    result = None
    for target in np.unique(targets):
        chosen = np.flatnonzero(targets == target)
        part = _batched(method, model, layer, int(target), images[chosen], kwargs)
        if result is None:
            result = np.empty((len(images), *part.shape[1:]), dtype=part.dtype)
        result[chosen] = part
    return result


def _batched(method, model, layer, targets, images, kwargs) -> np.ndarray:
    """Calls the method so that it returns a batch of maps, also for a batch of one."""
    if _takes(method, "keep_batch_axis"):
        return np.asarray(method(model, layer, targets, images, keep_batch_axis=True, **kwargs))
    maps = np.asarray(method(model, layer, targets, images, **kwargs))
    return maps[None] if len(images) == 1 and (maps.ndim == 0 or len(maps) != 1) else maps


def _takes(method, keyword: str) -> bool:
    try:
        parameters = inspect.signature(method.function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _progress(maps: Iterator[np.ndarray], total: int | None, verbose: int) -> Iterator[np.ndarray]:
    bar = keras.utils.Progbar(total, verbose=verbose, unit_name="image", stateful_metrics=["images/s"])
    start, done = time.perf_counter(), 0
    for batch in maps:
        done += len(batch)
        rate = done / max(time.perf_counter() - start, 1e-9)
        bar.update(done, values=[("images/s", rate)], finalize=total is not None and done >= total)
        yield batch
    if total is None:
        bar.update(done, values=[("images/s", done / max(time.perf_counter() - start, 1e-9))], finalize=True)


def _write(maps: Iterator[np.ndarray], out: str, total: int | None) -> str:
    """Writes the maps as they come: into one `.npy` file, or one shard per batch in a folder."""
    if out.endswith(".npy"):
        writer = NpyWriter(out)
        try:
            for batch in maps:
                writer.add(batch)
        finally:
            writer.close()
        return out
    os.makedirs(out, exist_ok=True)
    for index, batch in enumerate(maps):
        np.save(os.path.join(out, f"maps-{index:05d}.npy"), batch)
    return out
