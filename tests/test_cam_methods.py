"""grad-CAM++, LayerCAM, Score-CAM and guided grad-CAM against numpy references of the papers' formulas.

The references read the model's own feature maps `A` and gradients `dS/dA` (a tape in the test, on the
model's own layers) and apply the formulas as the papers write them: grad-CAM++ with the explicit
exponential `exp(S)` in extended precision, Score-CAM with `model.predict` on every masked input.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from scipy import ndimage

from tests.conftest import assert_unchanged, snapshot
from tests.test_cam import _nested
from vis.visualization import (
    methods,
    visualize_cam,
    visualize_cam_plus_plus,
    visualize_guided_cam,
    visualize_layer_cam,
    visualize_saliency,
    visualize_score_cam,
)

CONV = {1: layers.Conv1D, 2: layers.Conv2D}
POOL = {1: layers.GlobalAveragePooling1D, 2: layers.GlobalAveragePooling2D}


def _minmax(a):
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else np.zeros_like(a)


def _model(input_shape, filters=5, classes=3, head="gap", activation=None, seed=0):
    """Input -> Conv(3, relu) 'conv' -> GAP or Flatten -> bias-free Dense 'preds', fixed weights."""
    rng = np.random.default_rng(seed)
    n = len(input_shape) - 1
    inp = keras.Input(input_shape)
    features = CONV[n](filters, 3, activation="relu", name="conv")(inp)
    pooled = POOL[n](name="pool")(features) if head == "gap" else layers.Flatten(name="pool")(features)
    model = keras.Model(
        inp, layers.Dense(classes, use_bias=False, activation=activation, name="preds")(pooled)
    )
    conv, dense = model.get_layer("conv"), model.get_layer("preds")
    conv.set_weights(
        [
            rng.normal(size=conv.get_weights()[0].shape).astype("float32"),
            rng.normal(size=filters).astype("float32") * 0.1,
        ]
    )
    dense.set_weights([rng.normal(size=dense.get_weights()[0].shape).astype("float32")])
    return model


def _features_and_gradients(model, seed, classes):
    """`A`, `dS/dA` and `S` for one seed, with a tape on the model's own layers."""
    x = tf.constant(seed[None], tf.float32)
    with tf.GradientTape() as tape:
        features = model.get_layer("conv")(x)
        tape.watch(features)
        outputs = model.get_layer("preds")(model.get_layer("pool")(features))
        score = tf.reduce_sum(tf.gather(outputs, classes, axis=1))
    grads = tape.gradient(score, features)
    return features.numpy()[0].astype("float64"), grads.numpy()[0].astype("float64"), float(score)


def _upsample(cam, spatial):
    return ndimage.zoom(cam, [t / c for t, c in zip(spatial, cam.shape)], order=1)


def _grad_cam_plus_plus_reference(model, seed, classes):
    """Chattopadhyay et al. eq. 19 with Y = exp(S), exp computed (np.longdouble: finite up to S ~ 11000)."""
    A, g, S = _features_and_gradients(model, seed, classes)
    A, g = A.astype(np.longdouble), g.astype(np.longdouble)
    E = np.exp(np.longdouble(S))
    first, second, third = E * g, E * g**2, E * g**3
    spatial = tuple(range(A.ndim - 1))
    denominator = 2 * second + A.sum(axis=spatial, keepdims=True) * third
    alpha = np.where(denominator != 0, second / np.where(denominator != 0, denominator, 1), 0)
    weights = (alpha * np.maximum(first, 0)).sum(axis=spatial)
    cam = np.maximum((weights * A).sum(axis=-1), 0)
    return _minmax(_upsample((cam / cam.max()).astype("float64"), seed.shape[:-1]))


def _layer_cam_reference(model, seed, classes):
    A, g, _ = _features_and_gradients(model, seed, classes)
    return _minmax(_upsample(np.maximum((np.maximum(g, 0) * A).sum(axis=-1), 0), seed.shape[:-1]))


def _score_cam_reference(model, seed, classes, channels=None):
    """Wang et al.: each upsampled, min-max normalised map masks the seed; its weight is the masked
    class probability (the softmax of the logits of a linear head: `score_activation="auto"`)."""
    A, _, _ = _features_and_gradients(model, seed, classes)
    channels = range(A.shape[-1]) if channels is None else channels
    weights = np.zeros(A.shape[-1])
    linear = model.get_layer("preds").activation.__name__ == "linear"
    for k in channels:
        mask = _minmax(_upsample(A[..., k], seed.shape[:-1]))
        scores = model((seed * mask[..., None])[None].astype("float32")).numpy()[0].astype("float64")
        scores = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum() if linear else scores
        weights[k] = scores[classes].sum()
    return _minmax(_upsample(np.maximum((weights * A).sum(axis=-1), 0), seed.shape[:-1]))


CASES = [((11, 13, 2), "gap"), ((11, 13, 2), "flatten"), ((24, 3), "gap"), ((24, 3), "flatten")]
IDS = ["2d-gap", "2d-flatten", "1d-gap", "1d-flatten"]


@pytest.mark.parametrize("input_shape, head", CASES, ids=IDS)
@pytest.mark.parametrize(
    "function, reference",
    [(visualize_cam_plus_plus, _grad_cam_plus_plus_reference), (visualize_layer_cam, _layer_cam_reference)],
    ids=["gradcam++", "layercam"],
)
def test_gradient_cams_equal_the_papers_formulas(function, reference, input_shape, head):
    model = _model(input_shape, head=head)
    seeds = np.random.default_rng(1).uniform(-1, 1, size=(2, *input_shape)).astype("float32")
    for classes in (1, [0, 2]):
        maps = function(model, "preds", classes, seeds)
        expected = np.stack([reference(model, seed, classes) for seed in seeds])
        assert maps.shape == (2, *input_shape[:-1]) and maps.dtype == np.float32
        assert expected.max() == pytest.approx(1.0)
        np.testing.assert_allclose(maps, expected, atol=1e-5)


def test_grad_cam_plus_plus_is_finite_for_logits_of_ten_thousand():
    model = _model((11, 13, 2), head="flatten")
    seed = np.random.default_rng(2).uniform(-1, 1, size=(11, 13, 2)).astype("float32")
    logits = model.predict(seed[None], verbose=0)[0]
    target = int(np.argmax(np.abs(logits)))
    dense = model.get_layer("preds")
    dense.set_weights([dense.get_weights()[0] * (1e4 / abs(logits[target]))])
    assert abs(model.predict(seed[None], verbose=0)[0, target]) == pytest.approx(1e4, rel=1e-3)
    cam = visualize_cam_plus_plus(model, -1, target, seed)
    assert np.all(np.isfinite(cam)) and cam.max() == pytest.approx(1.0)
    np.testing.assert_allclose(cam, _grad_cam_plus_plus_reference(model, seed, target), atol=1e-5)


@pytest.mark.parametrize("input_shape, head", CASES[::3], ids=IDS[::3])
@pytest.mark.parametrize("activation", [None, "softmax"], ids=["logits", "softmax-probabilities"])
def test_score_cam_equals_the_papers_formula(input_shape, head, activation):
    model = _model(input_shape, head=head, activation=activation)
    seeds = np.random.default_rng(3).uniform(0, 1, size=(2, *input_shape)).astype("float32")
    maps = visualize_score_cam(model, "preds", [0, 2], seeds, batch_size=3)
    expected = np.stack([_score_cam_reference(model, seed, [0, 2]) for seed in seeds])
    np.testing.assert_allclose(maps, expected, atol=1e-5)
    np.testing.assert_allclose(
        visualize_score_cam(model, "preds", [0, 2], seeds, batch_size=100), maps, atol=1e-6
    )


def test_faster_score_cam_equals_score_cam_on_the_channels_of_largest_variance():
    model = _model((12, 12, 2), filters=8, head="gap")
    seeds = np.random.default_rng(4).uniform(0, 1, size=(2, 12, 12, 2)).astype("float32")
    faster = visualize_score_cam(model, -1, 1, seeds, max_n=3)
    for seed, cam in zip(seeds, faster):
        features = model.get_layer("conv")(seed[None]).numpy()[0]
        top = np.argsort(-features.reshape(-1, 8).var(axis=0))[:3]
        np.testing.assert_allclose(cam, _score_cam_reference(model, seed, 1, channels=top), atol=1e-5)
    every = visualize_score_cam(model, -1, 1, seeds, max_n=8)
    np.testing.assert_allclose(every, visualize_score_cam(model, -1, 1, seeds), atol=1e-6)
    assert not np.allclose(every, faster, atol=1e-3)


def test_guided_grad_cam_is_guided_saliency_times_grad_cam():
    model = _model((12, 12, 3), head="gap")
    seed = np.random.default_rng(5).uniform(0, 1, size=(12, 12, 3)).astype("float32")
    product = visualize_saliency(model, -1, 1, seed, backprop_modifier="guided") * visualize_cam(
        model, -1, 1, seed
    )
    guided = visualize_guided_cam(model, -1, 1, seed)
    np.testing.assert_allclose(guided, _minmax(product), atol=1e-6)
    assert guided.shape == (12, 12) and not np.allclose(guided, visualize_cam(model, -1, 1, seed), atol=1e-2)


CAM_METHODS = {
    "gradcam++": visualize_cam_plus_plus,
    "layercam": visualize_layer_cam,
    "scorecam": visualize_score_cam,
    "guided_gradcam": visualize_guided_cam,
}


def _flat_copy(model, base):
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
    return flat


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
@pytest.mark.parametrize("name", list(CAM_METHODS))
def test_nested_transfer_model_gives_the_maps_of_a_flat_copy(name, functional):
    model, base = _nested(functional)
    flat = _flat_copy(model, base)
    seeds = np.random.default_rng(6).uniform(size=(2, 12, 12, 3)).astype("float32")
    function = CAM_METHODS[name]
    nested_map, flat_map = function(model, "preds", 1, seeds), function(flat, "preds", 1, seeds)
    assert nested_map.shape == (2, 12, 12) and nested_map.max() == pytest.approx(1.0)
    np.testing.assert_allclose(nested_map, flat_map, atol=1e-5)
    inner = function(model, -1, 1, seeds, penultimate_layer_idx="base/pool")
    np.testing.assert_allclose(inner, function(flat, -1, 1, seeds, penultimate_layer_idx="pool"), atol=1e-5)
    assert not np.allclose(inner, nested_map, atol=1e-3)


@pytest.mark.parametrize("name", list(CAM_METHODS))
def test_a_batch_gives_the_maps_of_single_calls_and_the_model_is_untouched(name):
    model = _model((10, 10, 3), head="flatten")
    seeds = np.random.default_rng(7).uniform(size=(3, 10, 10, 3)).astype("float32")
    before, copy = snapshot(model, seeds), seeds.copy()
    maps = CAM_METHODS[name](model, -1, [0, 1], seeds)
    assert_unchanged(model, before, seeds)
    np.testing.assert_array_equal(seeds, copy)
    for seed, cam in zip(seeds, maps):
        np.testing.assert_allclose(cam, CAM_METHODS[name](model, -1, [0, 1], seed), atol=1e-6)
    assert CAM_METHODS[name](model, -1, 0, seeds[:1], keep_batch_axis=True).shape == (1, 10, 10)
    assert methods.get(name)(model, -1, 0, seeds[0]).shape == (10, 10)
