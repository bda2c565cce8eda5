"""Score-CAM's masking loop: the score of every seed masked by each of its feature maps.

Shared by `vis.visualization.visualize_score_cam` and the tf-keras-vis compat
`Scorecam`. Each `(seed, channel)` pair to score gives one masked seed: the
channel's feature map, resized to the input by linear interpolation (corners
aligned, `scipy.ndimage.zoom(order=1)`'s grid) and min-max normalised to
[0, 1] on its own, multiplies the seed. `batch_size` pairs go through the
engine's compiled forward (`vis.engine.evaluate`) per call: memory holds one
batch of masked seeds, never all of them.

The masks are made by TensorFlow, not numpy: a small traced function
(`MASKER`, compiled at its second call like the engine's programs) gathers
the seeds, resizes the coarse maps (one interpolation matrix per spatial
axis), normalises them and multiplies, on every CPU core; its output
tensors go straight into the forward. The host only picks each chunk's
coarse maps. Made with numpy, one chunk of 32 masked 224x224 images cost
about 70 ms on one core next to a 670 ms MobileNetV2 forward.

What callers choose: which pairs and in what order (`pairs`), which inputs
are masked (`targets`: vis masks the input the maps fit; tf-keras-vis every
input), the normalisation's `epsilon`, and the losses of each chunk
(per-sample selections follow the chunk's seeds).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from vis import engine
from vis.engine.compiling import Lazy
from vis.losses_base import Loss
from vis.visualization.feature_maps import interpolation


@dataclass(frozen=True)
class Target:
    """An input the masks multiply (`vis.visualization.feature_maps.InputGrid` has the same fields).

    Attributes:
        index: The input's position in the model's inputs.
        shape: Its spatial shape, the masks' shape.
        channel: The position of its channel axis in one sample (no batch axis), or None.
    """

    index: int
    shape: tuple
    channel: int | None


def score_weights(
    inputs: list,
    losses: list,
    batches: list,
    maps: np.ndarray,
    targets: Sequence,
    batch_size: int,
    max_n: int | None = None,
    union: bool = False,
    epsilon: float = 0.0,
) -> np.ndarray:
    """The weight `S(x * mask_k)` of every selected channel of every seed (0 for the others).

    Args:
        inputs: The model's input Keras tensors.
        losses: `(Loss, weight)` pairs; their weighted sum is the score. Run-time
            arguments with one row per seed (`PerSample` filters) follow each seed.
        batches: The seeds, one batch per input.
        maps: The feature maps, `(seeds, *spatial, channels)`.
        targets: The inputs to mask (`Target`s or `InputGrid`s); the other inputs
            take their seed unmasked.
        batch_size: Masked seeds per forward pass.
        max_n: None to score every channel; else each seed's `max_n` channels of
            largest spatial variance (Faster Score-CAM).
        union: Score, for every seed, the union over the batch of the seeds'
            channels, channel after channel (tf-keras-vis's order: a chunk of
            `batch_size` equal to the batch holds one channel's masked seeds).
        epsilon: Added to each mask's range before dividing (tf-keras-vis adds
            1e-7); with 0, a constant map gives a mask of zeros.

    Returns:
        Float64 weights `(seeds, channels)`.
    """
    count, channels = maps.shape[0], maps.shape[-1]
    selected = selected_channels(maps, max_n)
    if union:
        _, first = np.unique(selected, return_index=True)
        kept = selected.reshape(-1)[np.sort(first)]
        pairs = (np.tile(np.arange(count), len(kept)), np.repeat(kept, count))
    else:
        pairs = (np.repeat(np.arange(count), selected.shape[1]), selected.reshape(-1))
    weights = np.zeros((count, channels))
    weights[pairs] = masked_scores(inputs, losses, batches, maps, pairs, targets, batch_size, epsilon)
    return weights


def selected_channels(maps: np.ndarray, max_n: int | None) -> np.ndarray:
    """Per seed, the channels Score-CAM scores: all, or the `max_n` of largest spatial variance.

    Returns:
        Indices of shape `(seeds, n)`, largest variance first (ties by channel order); every
        channel in order for None (or `max_n` of every channel).
    """
    count, channels = maps.shape[0], maps.shape[-1]
    if max_n is None or max_n >= channels:
        return np.tile(np.arange(channels), (count, 1))
    variance = np.var(maps.reshape(count, -1, channels), axis=1)
    return np.argsort(-variance, axis=1, kind="stable")[:, :max_n]


def masked_scores(inputs, losses, batches, maps, pairs, targets, batch_size, epsilon=0.0) -> np.ndarray:
    """The score of each seed masked by one of its maps: one per `(seed, channel)` of `pairs`, in order.

    Arguments as for `score_weights`; `pairs` is `(seed indices, channel indices)`.
    """
    seeds_of, channels_of = (np.asarray(p, dtype="int64") for p in pairs)
    tensors = [tf.convert_to_tensor(b, dtype=t.dtype) for b, t in zip(batches, inputs)]
    where = {t.index: t for t in targets}
    matrices = {i: _matrices(maps.shape[1:-1], tuple(t.shape)) for i, t in where.items()}
    scores = np.zeros(len(seeds_of))
    for start in range(0, len(seeds_of), batch_size):
        seeds, channels = seeds_of[start : start + batch_size], channels_of[start : start + batch_size]
        coarse = tf.convert_to_tensor(maps[seeds, ..., channels], tf.float64)
        picks = tf.convert_to_tensor(seeds)
        chunk = [
            MASKER(batch, picks, coarse, matrices[i], epsilon, where[i].channel)
            if i in where
            else tf.gather(batch, picks)
            for i, batch in enumerate(tensors)
        ]
        chosen = [(_for_seeds(loss, seeds, len(batches[0])), weight) for loss, weight in losses]
        scores[start : start + len(seeds)] = engine.evaluate(inputs, chosen, chunk).overall_loss
    return scores


def _for_seeds(loss, seeds: np.ndarray, count: int):
    """The loss for a chunk of seeds (a loss without a cache key cannot share a program: as it is)."""
    return loss if count == 1 or loss.cache_key() is None else _ForSeeds(loss, seeds, count)


class _ForSeeds(Loss):
    """A loss for a chunk of masked seeds: its run-time arguments with one row per seed follow them.

    The same program as the loss itself (same cache key), fed the chunk's rows.
    """

    def __init__(self, loss, seeds: np.ndarray, count: int) -> None:
        super().__init__()
        self.loss, self.seeds, self.count, self.name = loss, seeds, count, str(loss)

    def cache_key(self):
        return self.loss.cache_key()

    def build_loss(self):
        expression = self.loss.build_loss()
        self.runtime_placeholders = self.loss.runtime_placeholders
        return expression

    def get_runtime_args(self) -> list:
        args = [np.asarray(a) for a in self.loss.get_runtime_args()]
        return [a[self.seeds] if a.ndim and len(a) == self.count > 1 else a for a in args]


def _matrices(source: tuple, target: tuple) -> list:
    """One linear-interpolation matrix `(out, in)` per spatial axis, as float64 tensors."""
    if len(source) != len(target):
        raise ValueError(
            f"The feature maps have {len(source)} spatial axes {source}, the input {len(target)} "
            f"{target}: Score-CAM cannot lay one on the other. Received: an input of spatial shape {target}"
        )
    return [tf.constant(interpolation(n, m)) for n, m in zip(source, target)]


class _Masker:
    """`seeds[picks] * normalise(resize(maps))`, traced per input rank and channel position."""

    def __init__(self) -> None:
        self._functions: dict = {}

    def __call__(self, batch, picks, coarse, matrices: list, epsilon: float, channel):
        key = (batch.dtype, batch.shape.rank, len(matrices), channel)
        function = self._functions.get(key)
        if function is None:  # Every size unknown: any batch, chunk or map size runs on one trace.
            signature = [
                tf.TensorSpec([None] * batch.shape.rank, batch.dtype),
                tf.TensorSpec([None], tf.int64),
                tf.TensorSpec([None] * (1 + len(matrices)), tf.float64),
                [tf.TensorSpec([None, None], tf.float64)] * len(matrices),
                tf.TensorSpec([], tf.float32),
            ]
            function = Lazy(functools.partial(_masked, channel=channel), signature, "Score-CAM's masking")
            self._functions[key] = function
        return function(batch, picks, coarse, list(matrices), tf.constant(epsilon, tf.float32))


def _masked(batch, picks, coarse, matrices: list, epsilon, channel):
    """The masked seeds (traceable): each coarse map resized, normalised to [0, 1], times its seed."""
    masks, rank = coarse, 1 + len(matrices)
    for axis, matrix in enumerate(matrices):  # Resize axis by axis: (out, in) x (batch, ..., in, ...).
        resized = tf.tensordot(matrix, masks, axes=[[1], [axis + 1]])  # (out, batch, other axes)
        masks = tf.transpose(resized, [*range(1, axis + 2), 0, *range(axis + 2, rank)])
    masks = tf.cast(masks, tf.float32)
    axes = list(range(1, masks.shape.rank))
    low = tf.reduce_min(masks, axis=axes, keepdims=True)
    span = tf.reduce_max(masks, axis=axes, keepdims=True) - low
    masks = (masks - low) / tf.where(span > 0, span + epsilon, 1.0)
    if channel is not None:
        masks = tf.expand_dims(masks, 1 + channel)
    seeds = tf.cast(tf.gather(batch, picks), tf.float32)
    # Broadcast explicitly: TensorFlow's implicit broadcast over a last axis of 3 takes twice as long.
    return tf.cast(seeds * tf.broadcast_to(masks, tf.shape(seeds)), batch.dtype)


MASKER = _Masker()  # No model state: one traced function per input rank, dtype and channel position.
