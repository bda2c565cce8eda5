"""visualize_cam: grad-CAM closed forms, penultimate search, nested models, bad input."""

import warnings

import keras
import numpy as np
import pytest
from keras import layers
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from tests.conftest import assert_unchanged, snapshot
from vis import engine
from vis.losses import ActivationMaximization
from vis.visualization import visualize_cam, visualize_cam_with_losses, visualize_saliency
from vis.visualization.cam import _find_penultimate_layer

RNG = np.random.default_rng(3)

CONV = {1: layers.Conv1D, 2: layers.Conv2D, 3: layers.Conv3D}
GAP = {1: layers.GlobalAveragePooling1D, 2: layers.GlobalAveragePooling2D, 3: layers.GlobalAveragePooling3D}


def _minmax(a):
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else np.zeros_like(a)


def _conv_valid(x, kernel, bias, activation):
    """numpy 'valid' convolution (cross-correlation, as Keras does), channels last, no batch."""
    n = kernel.ndim - 2
    windows = sliding_window_view(x, kernel.shape[:n], axis=tuple(range(n)))  # (*out, cin, *k)
    out = np.tensordot(windows, kernel, axes=(list(range(n + 1, 2 * n + 1)) + [n], list(range(n)) + [n]))
    out = out + bias
    return np.maximum(out, 0) if activation == "relu" else out


def _gap_model(input_shape, filters, classes, activation="relu", head=None):
    """Input -> Conv(3, valid) 'conv' -> global average pooling -> bias-free Dense 'preds', fixed weights."""
    n = len(input_shape) - 1
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            CONV[n](filters, 3, activation=activation, name="conv"),
            GAP[n](name="gap"),
            layers.Dense(classes, use_bias=False, activation=head, name="preds"),
        ]
    )
    kernel = RNG.normal(size=(3,) * n + (input_shape[-1], filters)).astype("float32")
    model.get_layer("conv").set_weights([kernel, RNG.normal(size=filters).astype("float32") * 0.1])
    model.get_layer("preds").set_weights([RNG.normal(size=(filters, classes)).astype("float32")])
    return model


def _expected_cam(model, seed, classes, sign=1.0):
    """relu(sum_k w[k, c] A_k), resized with zoom(order=1) to the seed's spatial shape, normalised.

    The gradient of class c w.r.t. A_k at any position is w[k, c] / (number of positions),
    so the grad-CAM weight of channel k is w[k, c] up to a positive factor.
    """
    kernel, bias = model.get_layer("conv").get_weights()
    features = _conv_valid(seed.astype("float64"), kernel, bias, model.get_layer("conv").activation.__name__)
    w = model.get_layer("preds").get_weights()[0][:, classes]
    w = w.sum(axis=1) if w.ndim == 2 else w
    cam = np.maximum(sign * features @ w, 0)
    spatial = seed.shape[:-1]
    return _minmax(ndimage.zoom(cam, [t / c for t, c in zip(spatial, cam.shape)], order=1))


@pytest.mark.parametrize(
    "input_shape, classes",
    [((10, 12, 3), 1), ((10, 12, 3), [0, 2]), ((20, 2), 2), ((6, 7, 5, 1), 0)],
    ids=["2d", "2d-two-classes", "1d", "3d"],
)
def test_closed_form_conv_gap_dense(input_shape, classes):
    model = _gap_model(input_shape, filters=4, classes=3)
    seed = RNG.uniform(-1, 1, size=input_shape).astype("float32")
    cam = visualize_cam(model, -1, classes, seed)
    assert cam.shape == input_shape[:-1] and cam.dtype == np.float32
    np.testing.assert_allclose(cam, _expected_cam(model, seed, classes), atol=1e-5)


def test_closed_form_holds_when_a_saliency_call_serves_the_grad_cam():
    model = _gap_model((10, 12, 3), filters=4, classes=3)
    seed = RNG.uniform(-1, 1, size=(10, 12, 3)).astype("float32")
    visualize_saliency(model, -1, 0, seed)  # Its program also keeps the gradient at 'conv'.
    for c in range(3):
        expected = _expected_cam(model, seed, c)
        np.testing.assert_allclose(visualize_cam(model, -1, c, seed), expected, atol=1e-5)
    (program,) = engine._cache_of(model.inputs[0]._keras_history.operation).values()
    assert program.served == 3


def test_linear_conv_and_negate_grad_modifier():
    model = _gap_model((9, 9, 2), filters=3, classes=2, activation="linear")
    seed = RNG.uniform(-1, 1, size=(9, 9, 2)).astype("float32")
    np.testing.assert_allclose(visualize_cam(model, -1, 1, seed), _expected_cam(model, seed, 1), atol=1e-5)
    negated = visualize_cam(model, -1, 1, seed, grad_modifier="negate")
    np.testing.assert_allclose(negated, _expected_cam(model, seed, 1, sign=-1.0), atol=1e-5)


def test_all_negative_weights_give_a_blank_map():
    # keras-vis divided by the signed max gradient, which turned this map inside out.
    model = _gap_model((8, 8, 1), filters=3, classes=1)
    dense = model.get_layer("preds")
    dense.set_weights([-np.abs(dense.get_weights()[0])])
    cam = visualize_cam(model, -1, 0, RNG.uniform(size=(8, 8, 1)))
    np.testing.assert_array_equal(cam, np.zeros((8, 8), "float32"))


def test_batch_gives_per_sample_maps_equal_to_single_calls():
    model = _gap_model((10, 10, 2), filters=4, classes=3)
    seeds = RNG.uniform(-1, 1, size=(3, 10, 10, 2)).astype("float32")
    maps = visualize_cam(model, -1, 2, seeds)
    assert maps.shape == (3, 10, 10)
    for seed, cam in zip(seeds, maps):
        np.testing.assert_allclose(cam, visualize_cam(model, -1, 2, seed), atol=1e-6)
        np.testing.assert_allclose(cam, _expected_cam(model, seed, 2), atol=1e-5)


def test_with_losses_equals_plain_and_pooling_penultimate():
    model = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            layers.Conv2D(2, 3, name="conv"),
            layers.MaxPooling2D(name="pool"),
            layers.Flatten(),
            layers.Dense(2, name="preds"),
        ]
    )
    seed = RNG.uniform(size=(12, 12, 1))
    plain = visualize_cam(model, -1, 0, seed)
    losses = [(ActivationMaximization(model.layers[-1], 0), -1)]
    with_losses = visualize_cam_with_losses(model.inputs[0], losses, seed, model.layers[1])
    np.testing.assert_array_equal(plain, with_losses)
    assert plain.shape == (12, 12) and plain.max() == pytest.approx(1.0)


def test_input_without_channel_axis():
    model = keras.Sequential(
        [
            keras.Input((8, 8)),
            layers.Reshape((8, 8, 1)),
            layers.Conv2D(3, 3, name="conv"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(2, use_bias=False, name="preds"),
        ]
    )
    seed = RNG.uniform(size=(8, 8)).astype("float32")
    expected = _expected_cam(model, seed[..., None], 1)
    np.testing.assert_allclose(visualize_cam(model, -1, 1, seed), expected, atol=1e-5)


def test_channels_first_feature_maps():
    keras.config.set_image_data_format("channels_first")
    inp = keras.Input((2, 9, 9))
    x = layers.Permute((2, 3, 1))(inp)
    x = layers.Conv2D(3, 3, data_format="channels_last", name="conv")(x)
    feats = layers.Permute((3, 1, 2), name="to_channels_first")(x)
    out = layers.Dense(2, use_bias=False, name="preds")(layers.GlobalAveragePooling2D()(feats))
    model = keras.Model(inp, out)
    seed = RNG.uniform(-1, 1, size=(2, 9, 9)).astype("float32")
    cam = visualize_cam(model, -1, 0, seed, penultimate_layer_idx="to_channels_first")
    np.testing.assert_allclose(cam, _expected_cam(model, seed.transpose(1, 2, 0), 0), atol=1e-5)


def test_time_distributed_conv_closed_form():
    model = keras.Sequential(
        [
            keras.Input((4, 7, 7, 2)),
            layers.TimeDistributed(layers.Conv2D(3, 3), name="td"),
            layers.GlobalAveragePooling3D(),
            layers.Dense(2, use_bias=False, name="preds"),
        ]
    )
    seed = RNG.uniform(-1, 1, size=(4, 7, 7, 2)).astype("float32")
    kernel, bias = model.get_layer("td").get_weights()
    kernel = kernel[None]  # A frame-wise 2-D kernel is a 3-D kernel of depth 1.
    features = _conv_valid(seed.astype("float64"), kernel, bias, "linear")
    cam = np.maximum(features @ model.get_layer("preds").get_weights()[0][:, 1], 0)
    expected = _minmax(ndimage.zoom(cam, [1, 7 / 5, 7 / 5], order=1))
    np.testing.assert_allclose(visualize_cam(model, -1, 1, seed), expected, atol=1e-5)


def _stack():
    return keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            layers.Conv2D(2, 3, name="c1"),
            layers.MaxPooling2D(name="p1"),
            layers.Conv2D(2, 3, name="c2"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Flatten(name="flat"),
            layers.Dropout(0.5, name="drop"),
            layers.Dense(4, name="d1"),
            layers.Dense(2, name="out"),
        ]
    )


@pytest.mark.parametrize(
    "layer_idx, penultimate, expected",
    [
        (-1, None, "c2"),
        ("d1", None, "c2"),
        ("c2", None, "p1"),
        ("p1", None, "c1"),
        (-1, 0, "c1"),
        (-1, "p1", "p1"),
        ("c2", "c2", "c2"),
        (-1, -4, "flat"),
    ],
)
def test_penultimate_search_and_explicit(layer_idx, penultimate, expected):
    model = _stack()
    assert _find_penultimate_layer(model, layer_idx, penultimate).name == expected


def test_penultimate_search_sees_through_time_distributed():
    model = keras.Sequential(
        [
            keras.Input((3, 8, 8, 1)),
            layers.TimeDistributed(layers.Conv2D(2, 3), name="td_conv"),
            layers.TimeDistributed(layers.Flatten(), name="td_flat"),
            layers.LSTM(4, name="lstm"),
            layers.Dense(2, name="out"),
        ]
    )
    assert _find_penultimate_layer(model, -1, None).name == "td_conv"


@pytest.mark.parametrize(
    "layer_idx, penultimate, pattern",
    [
        (0, None, "no convolution or pooling layer before layer 'c1'.*Received: layer_idx=0"),
        ("c1", 5, "comes after it.*Received: penultimate_layer_idx=5"),
        (-1, "nope", "No layer named 'nope'.*Received: penultimate_layer_idx='nope'"),
        (-1, "x/c1", "No layer named 'x/c1'"),
        (-1, 42, "out of range.*Received: penultimate_layer_idx=42"),
        (-1, layers.Conv2D(1, 1, name="stranger"), "'stranger' is not a layer of model"),
    ],
)
def test_penultimate_errors(layer_idx, penultimate, pattern):
    with pytest.raises(ValueError, match=pattern):
        visualize_cam(_stack(), layer_idx, 0, np.ones((12, 12, 3)), penultimate_layer_idx=penultimate)


def test_no_conv_model_and_bad_penultimate_type():
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.GlobalAveragePooling2D(), layers.Dense(2)])
    with pytest.raises(ValueError, match="no convolution or pooling layer"):
        visualize_cam(model, -1, 0, np.ones((6, 6, 1)))
    with pytest.raises(TypeError, match="penultimate_layer_idx"):
        visualize_cam(_stack(), -1, 0, np.ones((12, 12, 3)), penultimate_layer_idx=1.5)
    with pytest.raises(TypeError, match="penultimate_layer"):
        visualize_cam_with_losses(model.inputs[0], [], np.ones((6, 6, 1)), "conv")


def test_penultimate_without_spatial_axes_is_rejected():
    with pytest.raises(ValueError, match="spatial axes.*Received: penultimate_layer_idx='d1'"):
        visualize_cam(_stack(), -1, 0, np.ones((12, 12, 3)), penultimate_layer_idx="d1")


def test_softmax_head_warns():
    model = _gap_model((8, 8, 1), filters=2, classes=3, head="softmax")
    with pytest.warns(UserWarning, match="apply_modifications"):
        visualize_cam(model, -1, 0, np.ones((8, 8, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        visualize_cam(_gap_model((8, 8, 1), filters=2, classes=3), -1, 0, np.ones((8, 8, 1)))


def test_model_and_seed_unchanged():
    model = _gap_model((10, 10, 3), filters=4, classes=3)
    probe = RNG.uniform(size=(2, 10, 10, 3)).astype("float32")
    before = (*snapshot(model), model.predict(probe, verbose=0))
    seed = RNG.uniform(size=(10, 10, 3)).astype("float32")
    seed_copy, indices = seed.copy(), [0, 2]
    visualize_cam(model, -1, indices, seed)
    assert_unchanged(model, before, probe)
    np.testing.assert_array_equal(seed, seed_copy)
    assert indices == [0, 2]


def _base(name="base"):
    inp = keras.Input((12, 12, 3))
    x = layers.Conv2D(3, 3, activation="relu", name="conv1")(inp)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Conv2D(4, 3, activation="relu", name="conv2")(x)
    return keras.Model(inp, x, name=name)


def _nested(functional=False):
    base = _base()
    if functional:
        inp = keras.Input((12, 12, 3))
        out = layers.Dense(3, name="preds")(layers.GlobalAveragePooling2D(name="gap")(base(inp)))
        return keras.Model(inp, out), base
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            base,
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(3, name="preds"),
        ]
    )
    return model, base


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_nested_penultimate_search_returns_inner_layer(functional):
    model, base = _nested(functional)
    assert _find_penultimate_layer(model, -1, None) is base.get_layer("conv2")
    assert _find_penultimate_layer(model, "preds", "base/pool") is base.get_layer("pool")
    assert _find_penultimate_layer(model, -1, "pool") is base.get_layer("pool")
    assert _find_penultimate_layer(model, -1, base.get_layer("conv1")) is base.get_layer("conv1")
    assert _find_penultimate_layer(model, "base", None) is base.get_layer("conv2")
    with pytest.raises(ValueError, match="comes after it"):
        _find_penultimate_layer(model, "base", "gap")


def test_nested_ambiguous_name_asks_for_a_path():
    inp = keras.Input((12, 12, 3))
    a, b = _base("a"), _base("b")
    model = keras.Model(inp, layers.Dense(2)(layers.Flatten()(layers.Concatenate()([a(inp), b(inp)]))))
    assert _find_penultimate_layer(model, -1, "b/conv1") is b.get_layer("conv1")
    with pytest.raises(ValueError, match="give a path"):
        _find_penultimate_layer(model, -1, "conv1")


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_nested_grad_cam_equals_flattened_copy(functional):
    model, base = _nested(functional)
    flat = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            *[layers.deserialize(layers.serialize(x)) for x in base.layers[1:]],
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(3, name="preds"),
        ]
    )
    sources = {layer.name: layer for layer in [*base.layers, *model.layers]}
    for layer in flat.layers:
        layer.set_weights(sources[layer.name].get_weights())
    seed = RNG.uniform(size=(12, 12, 3)).astype("float32")
    predictions = flat.predict(seed[None], verbose=0)
    np.testing.assert_allclose(predictions, model.predict(seed[None], verbose=0), atol=1e-5)
    np.testing.assert_allclose(visualize_cam(model, -1, 1, seed), visualize_cam(flat, -1, 1, seed), atol=1e-5)
    nested_pool = visualize_cam(model, -1, 1, seed, penultimate_layer_idx="base/pool")
    flat_pool = visualize_cam(flat, -1, 1, seed, penultimate_layer_idx="pool")
    np.testing.assert_allclose(nested_pool, flat_pool, atol=1e-5)


def _cloned(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


@pytest.mark.parametrize("modifier", ["guided", "rectified", _cloned])
def test_backprop_modifiers_leave_a_relu_free_head_unchanged(modifier):
    # The only ReLU is inside the conv layer, before the feature maps: nothing to modify downstream.
    model = _gap_model((9, 9, 2), filters=3, classes=2)
    seed = RNG.uniform(-1, 1, size=(9, 9, 2)).astype("float32")
    cam = visualize_cam(model, -1, 1, seed, backprop_modifier=modifier)
    np.testing.assert_allclose(cam, _expected_cam(model, seed, 1), atol=1e-5)


def test_callable_modifier_finds_the_nested_penultimate_in_the_new_model():
    model, base = _nested()
    seed = RNG.uniform(size=(12, 12, 3)).astype("float32")
    for penultimate in (None, "base/pool", base.get_layer("pool")):
        expected = visualize_cam(model, -1, 2, seed, penultimate_layer_idx=penultimate)
        cam = visualize_cam(model, -1, 2, seed, penultimate_layer_idx=penultimate, backprop_modifier=_cloned)
        np.testing.assert_allclose(cam, expected, atol=1e-5)


def test_unknown_backprop_modifier():
    with pytest.raises(ValueError, match="sharpen"):
        visualize_cam(_stack(), -1, 0, np.ones((12, 12, 3)), backprop_modifier="sharpen")


@pytest.mark.parametrize(
    "source, target", [((7, 7), (224, 224)), ((8, 5), (26, 188)), ((3,), (11,)), ((2, 3, 4), (9, 8, 10))]
)
def test_resize_is_linear_zoom_with_edges_kept(source, target):
    """The CAM resize equals `zoom(order=1, mode="nearest")`: zoom's default mode zeroes the last row
    for sizes such as 8 to 26 (a coordinate rounding past the edge); a constant map stays constant."""
    from scipy.ndimage import zoom

    from vis.visualization.feature_maps import resize

    maps = np.random.default_rng(0).normal(size=(2, *source)).astype("float32")
    expected = np.stack(
        [zoom(m, [t / s for t, s in zip(target, source)], order=1, mode="nearest") for m in maps]
    )
    np.testing.assert_allclose(resize(maps, target), expected, atol=1e-6)
    np.testing.assert_array_equal(resize(np.ones((1, *source), "float32"), target), np.ones((1, *target)))
