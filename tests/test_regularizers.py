"""Tests for vis.regularizers: values checked against plain numpy formulas."""

import itertools
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from vis import regularizers
from vis.losses import Loss
from vis.regularizers import LPNorm, TotalVariation, normalize


def _evaluate(inp, loss, x):
    model = keras.Model(inputs=inp, outputs=loss.build_loss())
    return keras.ops.convert_to_numpy(model(x.astype("float32")))


def _reference_tv(x, beta, channels_first=False):
    """Total variation of each sample by explicit loops over pixels (float64)."""
    x = np.asarray(x, dtype="float64")
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    spatial = x.shape[1:-1]
    values = []
    for sample in x:
        total = 0.0
        for pixel in itertools.product(*(range(size - 1) for size in spatial)):
            for c in range(x.shape[-1]):
                squared = 0.0
                for d in range(len(spatial)):
                    neighbour = list(pixel)
                    neighbour[d] += 1
                    squared += (sample[tuple(neighbour) + (c,)] - sample[pixel + (c,)]) ** 2
                total += squared ** (beta / 2.0)
        values.append(total / np.prod(x.shape[1:]))
    return np.array(values)


def _reference_lp(x, p):
    x = np.asarray(x, dtype="float64").reshape(len(x), -1)
    if math.isinf(p):
        norms = np.abs(x).max(axis=1)
    else:
        norms = (np.abs(x) ** p).sum(axis=1) ** (1.0 / p)
    return norms / x.shape[1]


def _samples(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * np.arange(1, shape[0] + 1).reshape((-1,) + (1,) * (len(shape) - 1))


@pytest.mark.parametrize("beta", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("shape", [(2, 7, 3), (2, 5, 6, 3), (2, 3, 4, 5, 2)], ids=["1d", "2d", "3d"])
def test_total_variation_matches_numpy(beta, shape):
    inp = keras.Input(shape=shape[1:])
    x = _samples(shape)
    values = _evaluate(inp, TotalVariation(inp, beta=beta), x)
    expected = _reference_tv(x, beta)
    assert values.shape == (2,)
    assert values[0] != pytest.approx(values[1])
    np.testing.assert_allclose(values, expected, rtol=1e-5)


@pytest.mark.parametrize("beta", [1.0, 2.0, 3.0])
def test_total_variation_channels_first(beta):
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        inp = keras.Input(shape=(3, 5, 6))
        x = _samples((2, 3, 5, 6), seed=1)
        values = _evaluate(inp, TotalVariation(inp, beta=beta), x)
    finally:
        keras.config.set_image_data_format(previous)
    np.testing.assert_allclose(values, _reference_tv(x, beta, channels_first=True), rtol=1e-5)
    # The channel axis must not be treated as a spatial one.
    assert not np.allclose(values, _reference_tv(x, beta))


def test_total_variation_hand_computed_2d():
    # One 2x2 single-channel image: only pixel (0, 0) has both neighbours.
    x = np.array([[[[1.0], [4.0]], [[5.0], [9.0]]]])
    inp = keras.Input(shape=(2, 2, 1))
    # dy = 5 - 1 = 4, dx = 4 - 1 = 3, (16 + 9) ** (beta / 2) / 4 pixels.
    assert _evaluate(inp, TotalVariation(inp, beta=1.0), x)[0] == pytest.approx(5.0 / 4)
    assert _evaluate(inp, TotalVariation(inp, beta=2.0), x)[0] == pytest.approx(25.0 / 4)
    assert _evaluate(inp, TotalVariation(inp, beta=3.0), x)[0] == pytest.approx(125.0 / 4)


def test_total_variation_constant_image_is_zero():
    inp = keras.Input(shape=(4, 4, 3))
    x = np.full((2, 4, 4, 3), 7.0)
    np.testing.assert_array_equal(_evaluate(inp, TotalVariation(inp), x), [0.0, 0.0])


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0, 3.0])
def test_total_variation_gradient_finite_at_constant_image(beta):
    inp = keras.Input(shape=(4, 5, 3))
    model = keras.Model(inputs=inp, outputs=TotalVariation(inp, beta=beta).build_loss())
    x = tf.Variable(np.full((2, 4, 5, 3), 3.0, dtype="float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x))
    grads = tape.gradient(loss, x).numpy()
    assert np.all(np.isfinite(grads))
    np.testing.assert_array_equal(grads, np.zeros_like(grads))


def test_total_variation_gradient_matches_numeric():
    inp = keras.Input(shape=(3, 4, 2))
    model = keras.Model(inputs=inp, outputs=TotalVariation(inp, beta=1.5).build_loss())
    x0 = _samples((1, 3, 4, 2), seed=3)
    x = tf.Variable(x0.astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x))
    grads = tape.gradient(loss, x).numpy()
    numeric = np.zeros_like(x0)
    step = 1e-6
    for index in np.ndindex(x0.shape):
        up, down = x0.copy(), x0.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = (_reference_tv(up, 1.5)[0] - _reference_tv(down, 1.5)[0]) / (2 * step)
    np.testing.assert_allclose(grads, numeric, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("p", [1, 2.0, 6.0, float("inf")])
@pytest.mark.parametrize("shape", [(2, 10), (2, 5, 6, 3)], ids=["flat", "image"])
def test_lp_norm_matches_numpy(p, shape):
    inp = keras.Input(shape=shape[1:])
    x = _samples(shape, seed=2) * 50.0
    values = _evaluate(inp, LPNorm(inp, p=p), x)
    assert values.shape == (2,)
    assert values[0] != pytest.approx(values[1])
    np.testing.assert_allclose(values, _reference_lp(x, p), rtol=1e-5)


def test_lp_norm_hand_computed():
    inp = keras.Input(shape=(2, 2, 1))
    x = np.array([[[[3.0], [-4.0]], [[0.0], [0.0]]], [[[-1.0], [1.0]], [[1.0], [-1.0]]]])
    np.testing.assert_allclose(_evaluate(inp, LPNorm(inp, p=2), x), [5.0 / 4, 2.0 / 4], rtol=1e-6)
    np.testing.assert_allclose(_evaluate(inp, LPNorm(inp, p=1), x), [7.0 / 4, 4.0 / 4], rtol=1e-6)
    # The infinity norm takes absolute values: max |x|, not max x.
    np.testing.assert_allclose(_evaluate(inp, LPNorm(inp, p=float("inf")), x), [4.0 / 4, 1.0 / 4])


def test_lp_norm_large_p_does_not_overflow():
    inp = keras.Input(shape=(8, 8, 3))
    x = np.random.default_rng(4).uniform(0, 255, size=(2, 8, 8, 3))
    values = _evaluate(inp, LPNorm(inp, p=30.0), x)
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values, _reference_lp(x, 30.0), rtol=1e-5)


@pytest.mark.parametrize("p", [1, 2.0, 6.0, float("inf")])
def test_lp_norm_gradient_finite_at_zero(p):
    inp = keras.Input(shape=(3, 3, 2))
    model = keras.Model(inputs=inp, outputs=LPNorm(inp, p=p).build_loss())
    x = tf.Variable(np.zeros((2, 3, 3, 2), dtype="float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x))
    assert np.all(np.isfinite(tape.gradient(loss, x).numpy()))


def test_lp_norm_gradient_matches_analytic():
    inp = keras.Input(shape=(4, 3))
    model = keras.Model(inputs=inp, outputs=LPNorm(inp, p=6.0).build_loss())
    x0 = _samples((2, 4, 3), seed=5) * 10.0
    x = tf.Variable(x0.astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x))
    grads = tape.gradient(loss, x).numpy()
    flat = x0.reshape(2, -1)
    norms = (np.abs(flat) ** 6).sum(axis=1) ** (1 / 6)
    expected = (np.sign(flat) * np.abs(flat) ** 5 / norms[:, None] ** 5 / flat.shape[1]).reshape(x0.shape)
    np.testing.assert_allclose(grads, expected, rtol=1e-4, atol=1e-7)


def test_normalize_divides_by_product_of_non_batch_dims():
    inp = keras.Input(shape=(3, 4, 5))
    model = keras.Model(inputs=inp, outputs=normalize(inp, keras.ops.sum(inp, axis=(1, 2, 3))))
    x = np.ones((2, 3, 4, 5), dtype="float32")
    x[1] *= 2.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), [1.0, 2.0])
    assert normalize(np.zeros((7, 2, 3)), 12.0) == pytest.approx(2.0)


def test_regularizers_are_normalized():
    inp = keras.Input(shape=(6, 5, 4))
    x = _samples((2, 6, 5, 4), seed=6)
    tv = _evaluate(inp, TotalVariation(inp), x)
    raw_tv = _reference_tv(x, 2.0) * (6 * 5 * 4)
    np.testing.assert_allclose(tv * 120, raw_tv, rtol=1e-5)
    lp = _evaluate(inp, LPNorm(inp, p=2.0), x)
    np.testing.assert_allclose(lp * 120, np.sqrt((x.reshape(2, -1) ** 2).sum(axis=1)), rtol=1e-5)


def test_normalize_unknown_dims():
    inp = keras.Input(shape=(None, None, 3))
    with pytest.raises(ValueError, match=r"known statically.*\(None, None, None, 3\)"):
        normalize(inp, keras.ops.sum(inp))
    with pytest.raises(ValueError, match="known statically"):
        TotalVariation(inp).build_loss()


def test_names():
    inp = keras.Input(shape=(4, 4, 3))
    assert TotalVariation(inp).name == "TV(2.0) Loss"
    assert TotalVariation(inp, beta=3).name == "TV(3) Loss"
    assert str(TotalVariation(inp, beta=1.5)) == "TV(1.5) Loss"
    assert LPNorm(inp).name == "L-6.0 Norm Loss"
    assert LPNorm(inp, p=2).name == "L-2 Norm Loss"
    assert str(LPNorm(inp, p=float("inf"))) == "L-inf Norm Loss"
    assert isinstance(LPNorm(inp), Loss) and isinstance(TotalVariation(inp), Loss)


def test_attributes():
    inp = keras.Input(shape=(4, 4, 3))
    tv = TotalVariation(inp, beta=1.5)
    lp = LPNorm(inp, p=3)
    assert tv.img is inp and tv.img_input is inp and tv.beta == 1.5
    assert lp.img is inp and lp.img_input is inp and lp.p == 3


def test_lp_norm_errors():
    inp = keras.Input(shape=(4, 4, 3))
    with pytest.raises(ValueError, match=r"Received: p=0\.5"):
        LPNorm(inp, p=0.5)
    with pytest.raises(ValueError, match="Received: p=nan"):
        LPNorm(inp, p=float("nan"))
    with pytest.raises(TypeError, match="Received: p='6'"):
        LPNorm(inp, p="6")
    with pytest.raises(TypeError, match="Received: p=True"):
        LPNorm(inp, p=True)


def test_total_variation_errors():
    inp = keras.Input(shape=(4, 4, 3))
    with pytest.raises(ValueError, match="Received: beta=0"):
        TotalVariation(inp, beta=0)
    with pytest.raises(TypeError, match="Received: beta='2'"):
        TotalVariation(inp, beta="2")
    flat = keras.Input(shape=(10,))
    with pytest.raises(ValueError, match=r"spatial axis.*\(None, 10\)"):
        TotalVariation(flat).build_loss()


@pytest.mark.parametrize("cls", [TotalVariation, LPNorm])
def test_img_input_must_be_keras_tensor(cls):
    with pytest.raises(TypeError, match=r"Received: img_input of type ndarray with shape \(1, 4, 4, 3\)"):
        cls(np.zeros((1, 4, 4, 3)))
    with pytest.raises(TypeError, match="Received: img_input=None"):
        cls(None)


def test_module_exports():
    for name in ("normalize", "TotalVariation", "LPNorm", "Loss"):
        assert hasattr(regularizers, name)
