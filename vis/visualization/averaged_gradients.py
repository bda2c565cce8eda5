"""The body the gradient family shares: gradients averaged over modified copies of each seed.

SmoothGrad (Smilkov et al. 2017) averages the gradient over noisy copies of
the seed; Integrated Gradients (Sundararajan et al. 2017) over points on a
path from a baseline to the seed. Both make `copies` inputs per seed, send them
through the compiled engine in batches of at most `batch_size` (so memory is
bounded whatever the number of copies), and average per seed: `mean_gradients`.
They differ only in how a copy is made: `noisy_copies` and `path_points`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vis import engine


def mean_gradients(
    inputs: list,
    losses: list,
    batches: list,
    copies: int,
    make: Callable[[np.ndarray, np.ndarray], list],
    batch_size: int | None = None,
    wrt_tensor=None,
    backprop_modifier=None,
    modifier: Callable | None = None,
) -> list[np.ndarray]:
    """For each seed, the mean over its `copies` copies of `modifier(gradient)`.

    Copies are numbered seed by seed (copy `j` of seed `b` is number
    `b * copies + j`) and made, in that order, `batch_size` at a time.

    Args:
        inputs: The model's input Keras tensors.
        losses: `(Loss, weight)` pairs.
        batches: The seeds, one batch per input.
        copies: The number of copies per seed.
        make: `(seed indices, copy indices) -> one batch per input`, the copies.
        batch_size: Copies per engine call; None for `copies` (one seed's copies per call).
        wrt_tensor: As for `vis.engine.compute`.
        backprop_modifier: The engine's backprop modifier, or None.
        modifier: Applied to each copy's gradient before the mean (a grad modifier), or None.

    Returns:
        One float64 array per gradient (per input, or one for `wrt_tensor`), batch axis first.
    """
    count, step = len(batches[0]), batch_size or copies
    sums = None
    for start in range(0, count * copies, step):
        number = np.arange(start, min(start + step, count * copies))
        seeds, index = number // copies, number % copies
        result = engine.compute(inputs, losses, make(seeds, index), wrt_tensor, backprop_modifier)
        grads = result.grads if isinstance(result.grads, list) else [result.grads]
        grads = [g if modifier is None else np.asarray(modifier(g)) for g in grads]
        if sums is None:
            sums = [np.zeros((count, *g.shape[1:]), "float64") for g in grads]
        for total, grad in zip(sums, grads):
            for seed, rows in _runs(seeds):
                total[seed] += grad[rows].sum(axis=0, dtype="float64")
    return [total / copies for total in sums]


def _runs(seeds: np.ndarray) -> list[tuple[int, slice]]:
    """`(seed, rows)` for each run of equal (sorted) seed indices: rows as slices, so nothing is copied."""
    starts = np.flatnonzero(np.r_[True, seeds[1:] != seeds[:-1]])
    ends = np.r_[starts[1:], len(seeds)]
    return [(int(seeds[a]), slice(int(a), int(b))) for a, b in zip(starts, ends)]


def is_float(batch: np.ndarray) -> bool:
    return np.issubdtype(batch.dtype, np.floating)


def noisy_copies(batches: list, noise: float) -> Callable[[np.ndarray, np.ndarray], list]:
    """SmoothGrad's copies: each float seed plus Gaussian noise of std `noise * (max - min)` of that seed.

    The noise follows numpy's global generator: each call draws one integer
    from it (`np.random.randint(2**31)`) to seed a `np.random.default_rng`,
    whose `standard_normal(seed_shape, dtype=float32)` draws, one per copy
    and input, copies in order, are scaled by sigma. So maps follow
    `vis.backend.set_random_seed` (or `keras.utils.set_random_seed`) and do not
    depend on `batch_size`. (The float32 ziggurat draws of `default_rng` cost
    about half those of the legacy `np.random.normal`.) Integer inputs (token
    ids) are copied unchanged.
    """
    generator = np.random.default_rng(np.random.randint(2**31))
    sigmas = [
        [float(noise) * (float(s.max()) - float(s.min())) for s in batch] if is_float(batch) else None
        for batch in batches
    ]

    def make(seeds: np.ndarray, index: np.ndarray) -> list:
        out = [np.empty((len(seeds), *batch.shape[1:]), batch.dtype) for batch in batches]
        for row, seed in enumerate(seeds):
            for copy, batch, sigma in zip(out, batches, sigmas):
                if sigma is None:
                    copy[row] = batch[seed]
                    continue
                draw = generator.standard_normal(batch.shape[1:], dtype="float32")
                draw *= np.float32(sigma[seed])
                copy[row] = draw + batch[seed]
        return out

    return make


def path_points(batches: list, baselines: list, steps: int) -> Callable[[np.ndarray, np.ndarray], list]:
    """Integrated Gradients' copies: `b + alpha_j (x - b)` at the midpoints `alpha_j = (j + 1/2) / steps`.

    `baselines` holds one batch per input, of one sample or one per seed.
    """

    def make(seeds: np.ndarray, index: np.ndarray) -> list:
        alphas = ((index + 0.5) / steps).astype("float32")
        out = []
        for batch, baseline in zip(batches, baselines):
            points = np.empty((len(seeds), *batch.shape[1:]), "float32")
            for seed, rows in _runs(seeds):
                start = baseline[seed if len(baseline) > 1 else 0].astype("float32")
                along = alphas[rows].reshape((-1,) + (1,) * (batch.ndim - 1))
                np.multiply(along, batch[seed].astype("float32") - start, out=points[rows])
                points[rows] += start
            out.append(points.astype(batch.dtype, copy=False))
        return out

    return make
