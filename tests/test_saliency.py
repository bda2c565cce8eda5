"""visualize_saliency: closed forms, keras-vis scenarios, bad input, the model untouched."""

import warnings

import keras
import numpy as np
import pytest
from keras import layers

from tests.conftest import assert_unchanged, snapshot
from tests.models import dense_model, small_cnn
from vis.losses import ActivationMaximization
from vis.visualization import get_num_filters, overlay, visualize_saliency, visualize_saliency_with_losses

RNG = np.random.default_rng(1)


def _minmax(a):
    return (a - a.min()) / (a.max() - a.min())


def _flat_dense(shape, units, weights):
    model = keras.Sequential([keras.Input(shape), layers.Flatten(), layers.Dense(units, use_bias=False)])
    model.layers[-1].set_weights([weights])
    return model


@pytest.mark.parametrize("index", [0, 1, 2])
def test_bias_free_dense_saliency_is_abs_weight_row(index):
    w = RNG.normal(size=(6, 3)).astype("float32")
    saliency = visualize_saliency(dense_model(w), -1, index, RNG.normal(size=6))
    np.testing.assert_allclose(saliency, _minmax(np.abs(w[:, index])), atol=1e-6)


def test_image_input_gives_spatial_map_and_keepdims_keeps_channels():
    w = RNG.normal(size=(28 * 28 * 3, 4)).astype("float32")
    model = _flat_dense((28, 28, 3), 4, w)
    seed = RNG.uniform(size=(28, 28, 3))
    grads = np.abs(w[:, 2].reshape(28, 28, 3))
    saliency = visualize_saliency(model, -1, 2, seed)
    assert saliency.shape == (28, 28)
    np.testing.assert_allclose(saliency, _minmax(grads.max(axis=-1)), atol=1e-6)
    kept = visualize_saliency(model, -1, 2, seed, keepdims=True)
    assert kept.shape == (28, 28, 3)
    np.testing.assert_allclose(kept, _minmax(grads), atol=1e-6)


def test_channels_first_reduces_axis_one():
    keras.config.set_image_data_format("channels_first")
    w = RNG.normal(size=(3 * 5 * 5, 2)).astype("float32")
    model = _flat_dense((3, 5, 5), 2, w)
    saliency = visualize_saliency(model, -1, 1, RNG.uniform(size=(3, 5, 5)))
    # Flatten moves channels last before flattening, so W's rows are in (H, W, C) order.
    grads = np.abs(w[:, 1].reshape(5, 5, 3)).transpose(2, 0, 1)
    np.testing.assert_allclose(saliency, _minmax(grads.max(axis=0)), atol=1e-6)


def test_dense_only_35_features_keepdims():
    w = RNG.normal(size=(35, 2)).astype("float32")
    saliency = visualize_saliency(dense_model(w), -1, 0, RNG.normal(size=35), keepdims=True)
    assert saliency.shape == (35,)
    np.testing.assert_allclose(saliency, _minmax(np.abs(w[:, 0])), atol=1e-6)


REGRESSION_W = np.array([[0.5], [-3.0], [0.05], [2.0], [-0.2], [1.0]], "float32")


@pytest.mark.parametrize(
    "grad_modifier, check",
    [
        ("absolute", lambda s, w: np.argmax(s) == np.argmax(np.abs(w))),
        ("negate", lambda s, w: np.argmax(s) == np.argmin(w)),
        ("relu", lambda s, w: np.all(s[w < 0] == 0) and np.argmax(s) == np.argmax(w)),
        ("small_values", lambda s, w: np.argmax(s) == np.argmin(np.abs(w))),
    ],
)
def test_regression_scenarios_on_linear_model(grad_modifier, check):
    model = dense_model(REGRESSION_W)
    saliency = visualize_saliency(model, -1, 0, np.ones(6), grad_modifier=grad_modifier, keepdims=True)
    assert check(saliency, REGRESSION_W[:, 0])


def test_grad_modifier_none_keeps_signed_gradient():
    model = dense_model(REGRESSION_W)
    saliency = visualize_saliency(model, -1, 0, np.ones(6), grad_modifier=None, keepdims=True)
    np.testing.assert_allclose(saliency, _minmax(REGRESSION_W[:, 0]), atol=1e-6)


def test_batch_gives_one_map_per_sample_each_normalised():
    model = small_cnn()
    seeds = RNG.uniform(size=(3, 28, 28, 3)).astype("float32")
    maps = visualize_saliency(model, "preds", 1, seeds)
    assert maps.shape == (3, 28, 28)
    for seed, saliency in zip(seeds, maps):
        np.testing.assert_allclose(saliency, visualize_saliency(model, "preds", 1, seed), atol=1e-5)
        assert saliency.min() == 0.0 and saliency.max() == pytest.approx(1.0)


def test_layer_name_equals_index_and_with_losses_equals_plain():
    model = small_cnn()
    seed = RNG.uniform(size=(28, 28, 3))
    by_index = visualize_saliency(model, -1, 3, seed)
    np.testing.assert_array_equal(by_index, visualize_saliency(model, "preds", 3, seed))
    losses = [(ActivationMaximization(model.layers[-1], 3), -1)]
    np.testing.assert_array_equal(by_index, visualize_saliency_with_losses(model.inputs[0], losses, seed))


def test_conv_filter_saliency_counts_covering_windows():
    model = small_cnn(input_shape=(9, 9, 1))
    conv = model.get_layer("conv")
    kernel, bias = conv.get_weights()
    kernel[..., 0] = 1.0
    bias[0] = 1.0
    conv.set_weights([kernel, bias])
    saliency = visualize_saliency(model, "conv", 0, np.ones((9, 9, 1)))
    # d mean(relu(conv)) / dx at a pixel = number of 3x3 windows covering it / 49.
    cover = np.array([1, 2, 3, 3, 3, 3, 3, 2, 1], "float32")
    np.testing.assert_allclose(saliency, _minmax(np.outer(cover, cover)), atol=1e-6)


def test_reloaded_sequential_same_maps(tmp_path):
    model = small_cnn()
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    seed = RNG.uniform(size=(28, 28, 3))
    np.testing.assert_allclose(
        visualize_saliency(model, -1, 0, seed), visualize_saliency(reloaded, -1, 0, seed), atol=1e-5
    )


def test_model_and_seed_unchanged():
    model = small_cnn()
    probe = RNG.uniform(size=(2, 28, 28, 3)).astype("float32")
    before = (*snapshot(model), model.predict(probe, verbose=0))
    seed = RNG.uniform(size=(28, 28, 3)).astype("float32")
    seed_copy, indices = seed.copy(), [0, 2]
    visualize_saliency(model, -1, indices, seed)
    assert_unchanged(model, before, probe)
    np.testing.assert_array_equal(seed, seed_copy)
    assert indices == [0, 2]


def test_softmax_layer_warns():
    model = dense_model(REGRESSION_W.repeat(2, axis=1), activation="softmax")
    with pytest.warns(UserWarning, match="apply_modifications"):
        visualize_saliency(model, -1, 0, np.ones(6))
    linear = dense_model(REGRESSION_W)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        visualize_saliency(linear, -1, 0, np.ones(6))


def test_integer_seed_is_accepted():
    model = small_cnn()
    seed = RNG.integers(0, 255, size=(28, 28, 3)).astype("uint8")
    np.testing.assert_allclose(
        visualize_saliency(model, -1, 0, seed), visualize_saliency(model, -1, 0, seed.astype("float32"))
    )


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"layer_idx": "nope"}, ValueError, "No layer named 'nope'.*Received: layer_idx='nope'"),
        ({"layer_idx": 7}, ValueError, "out of range.*Received: layer_idx=7"),
        ({"layer_idx": 1.5}, TypeError, "layer_idx"),
        ({"filter_indices": 4}, ValueError, r"filter_indices.*Received: filter_indices=4"),
        ({"filter_indices": [0, 9]}, ValueError, r"Received: filter_indices=\[0, 9\]"),
        ({"filter_indices": "a"}, TypeError, "filter_indices"),
        ({"seed_input": np.ones((28, 28))}, ValueError, r"seed_input.*\(28, 28\)"),
        ({"seed_input": np.ones((1, 2, 28, 28, 3))}, ValueError, "seed_input"),
        ({"seed_input": np.full((28, 28, 3), np.nan)}, ValueError, "NaN"),
        ({"grad_modifier": "sharpen"}, ValueError, "Unknown grad_modifier.*absolute"),
    ],
)
def test_bad_input(kwargs, error, pattern):
    model = small_cnn()
    arguments = {"layer_idx": -1, "filter_indices": 0, "seed_input": np.ones((28, 28, 3))}
    arguments.update(kwargs)
    with pytest.raises(error, match=pattern):
        visualize_saliency(model, **arguments)


def test_overlay_and_get_num_filters():
    a = np.full((2, 2, 3), 200, "uint8")
    b = np.full((2, 2, 3), 100, "uint8")
    blended = overlay(a, b, alpha=0.25)
    assert blended.dtype == np.uint8 and np.all(blended == 125)
    np.testing.assert_allclose(overlay(a.astype(float), b.astype(float), 1.0), a)
    for alpha in (-0.1, 1.5, "x"):
        with pytest.raises(ValueError, match="alpha"):
            overlay(a, b, alpha)
    with pytest.raises(ValueError, match="same shape"):
        overlay(a, b[0])
    model = small_cnn(classes=7)
    assert get_num_filters(model.get_layer("conv")) == 4
    assert get_num_filters(model.get_layer("preds")) == 7
