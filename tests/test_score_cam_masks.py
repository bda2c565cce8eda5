"""Score-CAM's shared masking loop (`vis.visualization.score_masks`) against numpy references.

The score is the weighted sum of a linear model's output, so each masked seed's score is a
numpy dot product: every mask (scipy's `zoom(order=1)` resize, min-max normalised), every
masked input, every selected `(seed, channel)` pair and its order can be checked exactly.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from vis.losses import ActivationMaximization, PerSample
from vis.visualization import score_masks
from vis.visualization.score_masks import MASKER, Target, interpolation, score_weights


@pytest.fixture(scope="module")
def linear():
    """Two inputs (6x5x2 and 4x3x1) into a Dense of 3 units with fixed weights: `y = W . [x1, x2]`."""
    first, second = keras.Input((6, 5, 2)), keras.Input((4, 3, 1))
    joined = keras.layers.Concatenate()([keras.layers.Flatten()(first), keras.layers.Flatten()(second)])
    dense = keras.layers.Dense(3, use_bias=False, name="out")
    model = keras.Model([first, second], dense(joined))
    weights = np.random.default_rng(0).normal(size=(6 * 5 * 2 + 4 * 3, 3)).astype("float32")
    dense.set_weights([weights])
    return model, weights


def _mask(coarse: np.ndarray, shape: tuple, epsilon: float) -> np.ndarray:
    resized = ndimage.zoom(coarse, [t / s for t, s in zip(shape, coarse.shape)], order=1)
    span = resized.max() - resized.min()
    return (resized - resized.min()) / (span + epsilon) if span > 0 else np.zeros(shape)


def _reference(model, weights, batches, maps, seed, channel, targets, rows, epsilon):
    """The score of `seed` masked by `channel`: `-(-sum_c y_c rows_c)`, as a loss weighted -1."""
    parts = []
    for index, batch in enumerate(batches):
        x = batch[seed].astype("float64")
        if index in targets:
            x = x * _mask(maps[seed, ..., channel], x.shape[:-1], epsilon)[..., None]
        parts.append(x.reshape(-1))
    return float(np.concatenate(parts) @ weights.astype("float64") @ rows[seed])


@pytest.mark.parametrize(
    "masked,max_n,union,epsilon", [([0], None, False, 0.0), ([0, 1], 2, False, 0.0), ([1], 2, True, 1e-7)]
)
def test_score_weights_equal_the_numpy_reference(linear, masked, max_n, union, epsilon):
    model, weights = linear
    rng = np.random.default_rng(1)
    batches = [rng.random((3, 6, 5, 2), dtype="float32"), rng.random((3, 4, 3, 1), dtype="float32")]
    maps = rng.random((3, 3, 2, 4))
    maps[1, ..., 3] = 0.5  # A constant map: a mask of zeros.
    loss = ActivationMaximization(model.get_layer("out"), PerSample([2, 0, 1]))
    rows = np.eye(3)[[2, 0, 1]]
    targets = [Target(i, batches[i].shape[1:-1], 2) for i in masked]
    got = score_weights(model.inputs, [(loss, -1)], batches, maps, targets, 4, max_n, union, epsilon)
    variance = maps.reshape(3, -1, 4).var(axis=1)
    chosen = [np.argsort(-v, kind="stable")[: max_n or 4] for v in variance]
    if union:
        chosen = [sorted(set(np.concatenate(chosen)))] * 3
    expected = np.zeros((3, 4))
    for seed in range(3):
        for channel in chosen[seed]:
            expected[seed, channel] = _reference(
                model, weights, batches, maps, seed, channel, masked, rows, epsilon
            )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert (got[:, [c for c in range(4) if all(c not in s for s in chosen)]] == 0).all()


def test_union_pairs_are_channel_major_and_batches_never_retrace(linear, monkeypatch):
    """tf-keras-vis's order: with `batch_size` = the batch, each call holds one channel's seeds;
    chunks of any size run on one trace of the masking function."""
    model, _ = linear
    rng = np.random.default_rng(2)
    batches = [rng.random((2, 6, 5, 2), dtype="float32"), rng.random((2, 4, 3, 1), dtype="float32")]
    maps = rng.random((2, 3, 2, 5))
    calls = []
    evaluate = score_masks.engine.evaluate
    monkeypatch.setattr(
        score_masks.engine, "evaluate", lambda *a: calls.append(np.asarray(a[2][0])) or evaluate(*a)
    )
    loss = ActivationMaximization(model.get_layer("out"), 1)
    targets = [Target(0, (6, 5), 2)]
    score_weights(model.inputs, [(loss, -1)], batches, maps, targets, 2, 2, True)
    variance = maps.reshape(2, -1, 5).var(axis=1)
    top = np.argsort(-variance, axis=1, kind="stable")[:, :2].reshape(-1)
    kept = top[np.sort(np.unique(top, return_index=True)[1])]
    assert len(calls) == len(kept)
    for chunk, channel in zip(calls, kept):
        for seed in range(2):
            mask = _mask(maps[seed, ..., channel], (6, 5), 0.0)[..., None]
            np.testing.assert_allclose(chunk[seed], batches[0][seed] * mask, rtol=1e-6, atol=1e-6)
    for size in (3, 1):
        score_weights(model.inputs, [(loss, -1)], batches, maps, targets, size)
    function = MASKER._functions[(tf.float32, 4, 2, 2)]
    assert function.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("size,out", [(7, 224), (3, 8), (5, 5), (6, 4), (1, 3), (4, 1)])
def test_interpolation_is_scipy_zoom_of_order_1(size, out):
    values = np.random.default_rng(3).random(size)
    expected = ndimage.zoom(values, out / size, order=1)
    assert expected.shape == (out,)
    np.testing.assert_allclose(interpolation(size, out) @ values, expected, atol=1e-12)


def test_maps_the_input_cannot_take_raise(linear):
    model, _ = linear
    batches = [np.ones((1, 6, 5, 2), "float32"), np.ones((1, 4, 3, 1), "float32")]
    loss, maps = ActivationMaximization(model.get_layer("out"), 0), np.ones((1, 3, 2, 2, 1))
    with pytest.raises(ValueError, match=r"cannot lay one on the other.*Received: an input of spatial"):
        score_weights(model.inputs, [(loss, -1)], batches, maps, [Target(0, (6, 5), 2)], 2)
