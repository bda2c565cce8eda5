"""Transfer-learning models: a ResNet50 base (random weights) nested in a classifier.

The reference is a flat copy of the same classifier: the base's own graph
(`base.input` -> `base.output`, the very same layers and weights) followed by a
fresh pooling layer and a fresh Dense layer holding the head's weights. It shares
no code path with the nested model's inlining, so the nested maps must equal its maps.

Both nested models (Sequential and Functional) share one base, so the flat maps are
computed once. Each map costs one trace of a ResNet50 gradient (about 5 s on 2 cores).
"""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from scipy import ndimage

from tests.conftest import snapshot
from vis import backprop_modifiers, engine
from vis.backend import modify_model_backprop
from vis.losses import ActivationMaximization
from vis.visualization import visualize_cam, visualize_saliency
from vis.visualization.cam import _find_penultimate_layer

pytestmark = pytest.mark.slow

SHAPE = (224, 224, 3)
CLASS = 1
INNER_CONV = "conv5_block3_3_conv"  # The nearest convolution before the head.
BLOCK_OUT = "conv5_block3_out"


class ResNetCase:
    """The base, the two nested classifiers, the flat copy, a seed and the models' states before any call."""

    def __init__(self) -> None:
        keras.utils.set_random_seed(0)
        self.base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=SHAPE)
        self.models = {
            "sequential": keras.Sequential(
                [keras.Input(SHAPE), self.base, layers.GlobalAveragePooling2D(name="gap"),
                 layers.Dense(3, name="preds")]
            )
        }
        inp = keras.Input(SHAPE)
        pooled = layers.GlobalAveragePooling2D(name="gap")(self.base(inp))
        self.models["functional"] = keras.Model(inp, layers.Dense(3, name="preds")(pooled))
        # The flat copy: the base's own graph, then a fresh head given the same weights below.
        pooled = layers.GlobalAveragePooling2D(name="gap")(self.base.output)
        self.flat = keras.Model(self.base.input, layers.Dense(3, name="preds")(pooled))
        weights = self.models["sequential"].get_layer("preds").get_weights()
        weights[0] *= 100.0  # Random ResNet features are small: scale the logits to a useful range.
        for model in (*self.models.values(), self.flat):
            model.get_layer("preds").set_weights(weights)
        rng = np.random.default_rng(5)
        self.seed = rng.uniform(-1, 1, size=SHAPE).astype("float32")
        self.probe = self.seed[None]
        self.before = {}
        for name, model in self.models.items():
            # Eager calls: `model.predict` would build a predict function (3 s for a ResNet50).
            self.before[name] = (*snapshot(model), model(self.probe, training=False).numpy())
        self.base_activations = [getattr(layer, "activation", None) for layer in self.base.layers]
        self.base_trainable = [layer.trainable for layer in self.base.layers]
        self._flat_maps = {}

    def flat_map(self, kind, **kwargs):
        """A map of the flat copy, computed once per kind."""
        if kind not in self._flat_maps:
            function = visualize_cam if kind.startswith("cam") else visualize_saliency
            self._flat_maps[kind] = function(self.flat, -1, CLASS, self.seed, **kwargs)
        return self._flat_maps[kind]


@pytest.fixture(scope="module")
def case():
    return ResNetCase()


@pytest.fixture(params=["sequential", "functional"])
def model(request, case):
    return case.models[request.param]


def test_flat_copy_predicts_like_the_nested_models(case):
    expected = case.flat(case.probe, training=False).numpy()
    assert np.ptp(expected) > 1e-2  # The classes are told apart.
    for name, model in case.models.items():
        np.testing.assert_allclose(case.before[name][3], expected, rtol=1e-4, atol=1e-4)
        assert model.layers[-3] is case.base


def test_cam_finds_the_inner_conv_and_equals_the_flat_copy(case, model):
    assert _find_penultimate_layer(model, -1, None) is case.base.get_layer(INNER_CONV)
    assert _find_penultimate_layer(case.flat, -1, None) is case.base.get_layer(INNER_CONV)
    started = time.perf_counter()
    cam = visualize_cam(model, -1, CLASS, case.seed)
    print(f"\nvisualize_cam on the nested ResNet50: {time.perf_counter() - started:.1f} s")
    assert cam.shape == SHAPE[:2] and cam.dtype == np.float32
    assert cam.max() == pytest.approx(1.0) and cam.min() == 0.0 and np.std(cam) > 0.05
    np.testing.assert_allclose(cam, case.flat_map("cam"), atol=1e-4)


def _cam_of_base_output(case):
    """The grad-CAM map at the base's output in closed form (numpy): the head is pooling -> Dense.

    The gradient of class c w.r.t. feature map k is w[k, c] / (7 * 7) at every position, so the
    map is relu(sum_k w[k, c] A_k), resized like `visualize_cam` does (zoom, order 1) and normalised.
    """
    features = case.base(case.probe, training=False).numpy()[0].astype("float64")
    kernel = case.flat.get_layer("preds").get_weights()[0].astype("float64")
    cam = np.maximum(features @ kernel[:, CLASS], 0.0)
    cam = ndimage.zoom(cam, [t / c for t, c in zip(SHAPE[:2], cam.shape)], order=1)
    return (cam - cam.min()) / (cam.max() - cam.min())


def test_cam_penultimate_by_path_or_object(case, model):
    assert case.base.get_layer(BLOCK_OUT).output is case.base.output
    by_path = visualize_cam(model, -1, CLASS, case.seed, penultimate_layer_idx=f"resnet50/{BLOCK_OUT}")
    block_out = case.base.get_layer(BLOCK_OUT)
    by_object = visualize_cam(model, -1, CLASS, case.seed, penultimate_layer_idx=block_out)
    by_name = visualize_cam(model, -1, CLASS, case.seed, penultimate_layer_idx=BLOCK_OUT)
    np.testing.assert_array_equal(by_path, by_object)
    np.testing.assert_array_equal(by_path, by_name)
    assert by_path.shape == SHAPE[:2] and np.std(by_path) > 0.05
    np.testing.assert_allclose(by_path, _cam_of_base_output(case), atol=1e-4)
    assert not np.allclose(by_path, case.flat_map("cam"), atol=1e-2)  # Another layer, another map.


# The plain saliency is checked on one nested model only: every map costs a ResNet50 trace.
@pytest.mark.parametrize(
    "name, modifier", [("sequential", None), ("sequential", "guided"), ("functional", "guided")]
)
def test_saliency_through_the_nested_base_equals_the_flat_copy(case, name, modifier):
    model = case.models[name]
    saliency = visualize_saliency(model, -1, CLASS, case.seed, backprop_modifier=modifier)
    assert saliency.shape == SHAPE[:2] and saliency.max() == pytest.approx(1.0)
    expected = case.flat_map(f"saliency-{modifier}", backprop_modifier=modifier)
    np.testing.assert_allclose(saliency, expected, atol=1e-4)
    if modifier == "guided":
        assert not np.allclose(saliency, case.flat_map("saliency-None"), atol=1e-2)


def test_modify_model_backprop_is_fast_cached_and_guided(case, model):
    started = time.perf_counter()
    modified = modify_model_backprop(model, "guided")
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = modify_model_backprop(model, "guided")
    second = time.perf_counter() - started
    print(f"\nmodify_model_backprop on the nested ResNet50: {first:.2f} s, then {second * 1e3:.3f} ms")
    assert first < 10.0
    assert again is modified and second < 0.05
    assert not any(isinstance(layer, keras.Model) for layer in modified.layers)  # Inlined.

    x = tf.constant(case.probe)
    with tf.GradientTape() as tape:
        tape.watch(x)
        output = modified(x, training=False)
        total = tf.reduce_sum(output[:, CLASS])
    np.testing.assert_allclose(output.numpy(), case.before[_name(case, model)][3], rtol=1e-4, atol=1e-4)
    guided = backprop_modifiers.get("guided")
    losses = [(ActivationMaximization(model.layers[-1], CLASS), -1)]
    expected = engine.compute(model.inputs, losses, case.probe, backprop_modifier=guided).grads
    np.testing.assert_allclose(tape.gradient(total, x).numpy(), expected, rtol=1e-3, atol=1e-6)


def _name(case, model):
    return next(name for name, candidate in case.models.items() if candidate is model)


def test_models_unchanged_after_everything(case, model):
    weights, activations, trainable, predictions = case.before[_name(case, model)]
    now = snapshot(model)
    assert len(now[0]) == len(weights)
    for after, before in zip(now[0], weights):
        np.testing.assert_array_equal(after, before)
    assert now[1] == activations and now[2] == trainable
    np.testing.assert_array_equal(model(case.probe, training=False).numpy(), predictions)
    assert [getattr(layer, "activation", None) for layer in case.base.layers] == case.base_activations
    assert [layer.trainable for layer in case.base.layers] == case.base_trainable
    assert [layer.name for layer in model.layers][-2:] == ["gap", "preds"]
