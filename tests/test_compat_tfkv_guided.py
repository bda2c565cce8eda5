"""`vis.compat.tf_keras_vis`'s `GuidedBackpropagation`: 0.8.7's observable behaviour, in numbers.

As in 0.8.7 the modifier replaces the activation of every ReLU layer with a
guided one, on the copy under `clone=True` (the user's model is untouched) and
on the model given under `clone=False`. On a tiny fixed-weight ReLU network
the guided gradient equals its closed form, on Functional, Sequential, nested
and reloaded (saved by another process, .keras and .h5) models alike.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.conftest import assert_unchanged, snapshot
from vis.compat.tf_keras_vis.saliency import Saliency
from vis.compat.tf_keras_vis.utils.model_modifiers import GuidedBackpropagation, ReplaceToLinear
from vis.compat.tf_keras_vis.utils.scores import CategoricalScore

W1 = np.array([[1.0, 0.5, -1.0], [0.5, 1.0, 0.0], [-0.5, 0.25, 2.0]], "float32")  # inputs x hidden
B1 = np.array([0.0, 0.1, -0.2], "float32")
W2 = np.array([[2.0], [-1.0], [3.0]], "float32")  # hidden x 1 output
X = np.array([[1.0, 2.0, -1.0], [-1.0, 0.5, 1.5]], "float32")
WEIGHTS = [W1, B1, W2, np.zeros(1, "float32")]
LAYERS = "keras.Input((3,)), layers.Dense(3, activation='relu', name='hidden'), layers.Dense(1, name='out')"


def closed_form(guided: bool) -> np.ndarray:
    """d out / d x = W1 @ (w2 * [pre > 0] (* [w2 > 0] when guided)), per sample."""
    active = (X @ W1 + B1) > 0
    upstream = W2[:, 0] * active * ((W2[:, 0] > 0) if guided else 1.0)
    return upstream @ W1.T


def relu_layers(model) -> list:
    found = []
    for layer in model.layers:
        found += relu_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return [layer for layer in found if layer.name == "hidden"]


def build(kind: str) -> keras.Model:
    layers = [keras.layers.Dense(3, activation="relu", name="hidden"), keras.layers.Dense(1, name="out")]
    if kind == "sequential":
        model = keras.Sequential([keras.Input((3,)), *layers])
    elif kind == "functional":
        inputs = keras.Input((3,))
        model = keras.Model(inputs, layers[1](layers[0](inputs)))
    else:  # nested: the ReLU layer inside a Sequential base used as a layer
        base = keras.Sequential([keras.Input((3,)), layers[0]], name="base")
        inputs = keras.Input((3,))
        model = keras.Model(inputs, layers[1](base(inputs)))
    model.set_weights(WEIGHTS)
    return model


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory) -> dict:
    """The network saved (.keras and .h5) by another process, loaded here with the fixed weights."""
    folder = tmp_path_factory.mktemp("guided")
    paths = [str(folder / "m.keras"), str(folder / "m.h5")]
    code = (
        "import os, sys; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "import keras; from keras import layers\n"
        f"m = keras.Sequential([{LAYERS}])\n"
        "[m.save(path) for path in sys.argv[1:]]\n"
    )
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
    subprocess.run([sys.executable, "-c", code, *paths], check=True, capture_output=True, env=env)
    models = {}
    for path in paths:
        models[path[-5:].lstrip(".")] = model = keras.models.load_model(path)
        model.set_weights(WEIGHTS)
    return models


def saliency(visualizer: Saliency) -> np.ndarray:
    return visualizer(CategoricalScore(0), X, keepdims=True, gradient_modifier=None, normalize_map=False)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["functional", "sequential", "nested", "keras", "h5"])
def test_guided_gradient_is_the_closed_form_and_only_the_copy_changes(kind, reloaded):
    model = reloaded[kind] if kind in reloaded else build(kind)
    before = snapshot(model, X)
    assert not np.allclose(closed_form(True), closed_form(False))  # the case tells the two apart
    np.testing.assert_allclose(saliency(Saliency(model)), closed_form(False), rtol=1e-6, atol=1e-6)
    visualizer = Saliency(model, GuidedBackpropagation())
    np.testing.assert_allclose(saliency(visualizer), closed_form(True), rtol=1e-6, atol=1e-6)
    assert visualizer.model is not model
    guided = relu_layers(visualizer.model)
    assert len(guided) == 1 and guided[0].activation is not keras.activations.relu
    assert [layer.activation for layer in relu_layers(model)] == [keras.activations.relu]
    assert_unchanged(model, before, X)


def test_clone_false_changes_the_model_given_as_0_8_7_documents():
    model = build("functional")
    visualizer = Saliency(model, GuidedBackpropagation(), clone=False)
    assert visualizer.model is model
    assert relu_layers(model)[0].activation is not keras.activations.relu
    np.testing.assert_allclose(saliency(Saliency(model)), closed_form(True), rtol=1e-6, atol=1e-6)


def test_targets_other_activations_and_survives_a_rebuild():
    """A target other than ReLU gets 0.8.7's guided gradient; a later softmax swap keeps it."""
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Softmax()(keras.layers.Dense(1, name="out")(hidden)))
    model.set_weights(WEIGHTS)
    rebuilt = Saliency(model, [GuidedBackpropagation(), ReplaceToLinear()])
    np.testing.assert_allclose(saliency(rebuilt), closed_form(True), rtol=1e-6, atol=1e-6)
    # softplus targeted: its forward runs, the gradient is `dy` where `dy > 0` and `x > 0` (0.8.7's rule).
    model = build("functional")
    relu_layers(model)[0].activation = keras.activations.softplus
    target = GuidedBackpropagation([keras.activations.softplus])
    expected = (W2[:, 0] * ((X @ W1 + B1) > 0) * (W2[:, 0] > 0)) @ W1.T
    np.testing.assert_allclose(saliency(Saliency(model, target)), expected, rtol=1e-6, atol=1e-6)


def test_maps_equal_0_8_7s_where_a_relu_layer_is_left_alone():
    """0.8.7 guides only layers whose `activation` is a target: a `ReLU` layer keeps its plain gradient."""
    tfkv = pytest.importorskip("tf_keras_vis")
    from tf_keras_vis.saliency import Saliency as TheirSaliency
    from tf_keras_vis.utils.model_modifiers import GuidedBackpropagation as TheirGuided
    from tf_keras_vis.utils.scores import CategoricalScore as TheirScore

    assert tfkv.__version__ == "0.8.7"
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(1, name="out")(
        keras.layers.ReLU()(keras.layers.Dense(3, name="mix")(hidden))
    )
    model = keras.Model(inputs, outputs)
    model.set_weights([W1, B1, W1.T, -B1, W2, np.zeros(1, "float32")])
    theirs = TheirSaliency(model, TheirGuided())(
        TheirScore(0), X, keepdims=True, gradient_modifier=None, normalize_map=False
    )
    ours = saliency(Saliency(model, GuidedBackpropagation()))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    assert (
        np.abs(ours - saliency(Saliency(model, GuidedBackpropagation([])))).max() > 1e-3
    )  # guided somewhere
