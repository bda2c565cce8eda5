"""Property tests (hypothesis) for the pure helpers, and numerics of the visualizations."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import layers

from vis import backend, grad_modifiers
from vis.utils import utils
from vis.visualization import common, visualize_activation, visualize_cam, visualize_saliency

SETTINGS = settings(max_examples=50, deadline=None)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)


def float_arrays(min_dims=1, max_dims=3, elements=finite):
    return hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=6),
        elements=elements,
    )


# ---------------------------------------------------------------- normalize


@SETTINGS
@given(float_arrays(min_dims=2, max_dims=4))
def test_normalize_each_bounds(maps):
    original = maps.copy()
    out = common.normalize_each(maps)
    np.testing.assert_array_equal(maps, original)
    assert out.shape == maps.shape and out.dtype == np.float32
    assert not np.any(np.isnan(out))
    assert out.min() >= 0 and out.max() <= 1
    for single, result in zip(maps, out):
        if single.max() > single.min():
            assert result.min() == 0 and result.max() == pytest.approx(1, abs=1e-6)
        else:
            assert np.all(result == 0)


@SETTINGS
@given(float_arrays(max_dims=3))
def test_utils_normalize_bounds(array):
    original = array.copy()
    out = utils.normalize(array)
    np.testing.assert_array_equal(array, original)
    assert out.shape == array.shape
    assert not np.any(np.isnan(out))
    assert out.min() >= 0 and out.max() <= 1
    if array.max() > array.min():
        assert out.min() == 0 and out.max() == pytest.approx(1, abs=1e-6)
    else:
        assert np.all(out == 0)


@SETTINGS
@given(hnp.arrays(np.uint8, hnp.array_shapes(max_dims=3, max_side=6)))
def test_utils_normalize_integers(array):
    out = utils.normalize(array)
    assert np.issubdtype(out.dtype, np.floating)
    assert not np.any(np.isnan(out)) and out.min() >= 0 and out.max() <= 1


# ---------------------------------------------------------------- overlay


@SETTINGS
@given(
    st.data(),
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
    st.sampled_from([np.uint8, np.float32, np.float64]),
    st.floats(0, 1),
)
def test_overlay_is_a_convex_combination(data, shape, dtype, alpha):
    if dtype == np.uint8:
        elements = st.integers(0, 255)
    else:
        elements = st.floats(-1e3, 1e3, allow_nan=False, width=32)
    a = data.draw(hnp.arrays(dtype, shape, elements=elements))
    b = data.draw(hnp.arrays(dtype, shape, elements=elements))
    a0, b0 = a.copy(), b.copy()
    out = common.overlay(a, b, alpha)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    assert out.dtype == a.dtype and out.shape == a.shape
    low, high = np.minimum(a, b).astype("float64"), np.maximum(a, b).astype("float64")
    tol = 0.5 if dtype == np.uint8 else 1e-3
    assert np.all(out >= low - tol) and np.all(out <= high + tol)
    np.testing.assert_array_equal(common.overlay(a, b, 1.0), a)
    np.testing.assert_array_equal(common.overlay(a, b, 0.0), b)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_overlay_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        common.overlay(np.zeros(3), np.zeros(3), alpha)


# ---------------------------------------------------------------- stitch_images


@SETTINGS
@given(
    st.integers(1, 12),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(0, 3),
    st.integers(1, 6),
    st.sampled_from([(), (1,), (3,)]),
)
def test_stitch_images_layout(n, h, w, margin, cols, channels):
    rng = np.random.default_rng(n * 100 + h * 10 + w)
    images = [rng.integers(1, 255, (h, w, *channels), dtype=np.uint8) for _ in range(n)]
    copies = [image.copy() for image in images]
    out = utils.stitch_images(images, margin=margin, cols=cols)
    rows, ncols = -(-n // cols), min(n, cols)
    assert out.shape == (rows * h + (rows - 1) * margin, ncols * w + (ncols - 1) * margin, *channels)
    assert out.dtype == np.uint8
    covered = np.zeros(out.shape[:2], bool)
    for idx, image in enumerate(images):
        top, left = (idx // cols) * (h + margin), (idx % cols) * (w + margin)
        np.testing.assert_array_equal(out[top : top + h, left : left + w], image)
        covered[top : top + h, left : left + w] = True
    assert np.all(out[~covered] == 0), "margins and empty cells are black"
    for image, copy in zip(images, copies):
        np.testing.assert_array_equal(image, copy)


def test_stitch_images_empty_is_none():
    assert utils.stitch_images([]) is None


# ---------------------------------------------------------------- deprocess_input


@SETTINGS
@given(
    float_arrays(max_dims=3, elements=st.floats(-1e4, 1e4, allow_nan=False, width=32)),
    st.tuples(st.floats(-1e3, 1e3), st.floats(1e-2, 1e3)),
)
def test_deprocess_input_within_range(array, bounds):
    low, span = bounds
    input_range = (low, low + span)
    original = array.copy()
    out = utils.deprocess_input(array, input_range)
    np.testing.assert_array_equal(array, original)
    assert out.shape == array.shape
    assert not np.any(np.isnan(out))
    tol = 1e-3 * max(1.0, abs(low) + span)
    assert np.all(out >= input_range[0] - tol) and np.all(out <= input_range[1] + tol)


@SETTINGS
@given(hnp.arrays(np.uint8, hnp.array_shapes(max_dims=3, max_side=6)))
def test_deprocess_input_integers(array):
    out = utils.deprocess_input(array)
    assert np.issubdtype(out.dtype, np.floating)
    assert np.all(out >= 0) and np.all(out <= 255) and not np.any(np.isnan(out))


# ---------------------------------------------------------------- grad modifiers


@SETTINGS
@given(float_arrays(max_dims=4))
def test_grad_modifiers(grads):
    original = grads.copy()
    np.testing.assert_array_equal(grad_modifiers.negate(grad_modifiers.negate(grads)), grads)
    np.testing.assert_array_equal(grad_modifiers.negate(grads), -grads)
    absolute = grad_modifiers.absolute(grads)
    assert np.all(absolute >= 0)
    np.testing.assert_array_equal(absolute, np.abs(grads))
    relu = grad_modifiers.relu(grads)
    assert np.all(relu >= 0) and relu.dtype == grads.dtype
    np.testing.assert_array_equal(relu, np.maximum(grads, 0))
    small = grad_modifiers.small_values(grads)
    assert np.all(small >= 0)
    for name in ("negate", "absolute", "relu", "invert", "small_values"):
        out = grad_modifiers.get(name)(grads)
        assert out.shape == grads.shape and out is not grads
    np.testing.assert_array_equal(grads, original)


# ---------------------------------------------------------------- numerics

SHAPE = (8, 8, 3)


def test_constant_input_with_zero_gradient_gives_a_zero_map():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(SHAPE),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            layers.Flatten(name="flatten"),
            layers.Dense(2, name="preds"),
        ]
    )
    conv = model.get_layer("conv")
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel, np.full_like(bias, -1e3)])  # Every ReLU is off: the gradient is zero.
    seed = np.full(SHAPE, 0.5, "float32")
    for value in (
        visualize_saliency(model, -1, 0, seed),
        visualize_saliency(model, -1, 0, seed, backprop_modifier="guided"),
        visualize_cam(model, -1, 0, seed),
        visualize_saliency(model, -1, 0, np.zeros(SHAPE, "float32")),
    ):
        assert value.shape == SHAPE[:2] and not np.any(np.isnan(value))
        assert np.all(value == 0)


def test_constant_input_on_a_linear_model_gives_finite_maps():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(SHAPE), layers.Flatten(), layers.Dense(2, name="preds")])
    for seed in (np.zeros(SHAPE, "float32"), np.full(SHAPE, 7.0, "float32")):
        value = visualize_saliency(model, -1, 0, seed)
        assert np.all(np.isfinite(value)) and value.min() >= 0 and value.max() <= 1


def _cnn():
    return keras.Sequential(
        [
            keras.Input(SHAPE),
            layers.Conv2D(8, 3, activation="relu", name="conv"),
            layers.MaxPooling2D(name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(3, name="preds"),
        ]
    )


def test_mixed_float16_model_matches_float32():
    keras.utils.set_random_seed(0)
    reference = _cnn()
    policy = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        mixed = _cnn()
    finally:
        keras.config.set_dtype_policy(policy)
    mixed.set_weights(reference.get_weights())
    assert mixed.get_layer("conv").compute_dtype == "float16"
    seed = np.random.default_rng(0).uniform(0, 1, SHAPE).astype("float32")
    for kwargs in ({}, {"backprop_modifier": "guided"}):
        got = visualize_saliency(mixed, -1, 1, seed, **kwargs)
        want = visualize_saliency(reference, -1, 1, seed, **kwargs)
        assert got.dtype == np.float32 and np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, atol=0.02)
    cams = [(visualize_cam(mixed, -1, c, seed), visualize_cam(reference, -1, c, seed)) for c in range(3)]
    for got, want in cams:
        assert got.dtype == np.float32 and np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, atol=0.02)
    img = visualize_activation(mixed, -1, 1, max_iter=5, input_range=(0.0, 1.0))
    assert np.all(np.isfinite(img))


def test_set_random_seed_makes_activation_maximization_reproducible():
    keras.utils.set_random_seed(0)
    model = _cnn()
    runs = []
    for _ in range(2):
        backend.set_random_seed(42)
        runs.append(visualize_activation(model, -1, 1, max_iter=5, input_range=(0.0, 1.0)))
    np.testing.assert_array_equal(runs[0], runs[1])
    backend.set_random_seed(43)
    assert not np.array_equal(runs[0], visualize_activation(model, -1, 1, max_iter=5, input_range=(0.0, 1.0)))
