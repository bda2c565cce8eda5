"""Backprop modifiers: guided and rectified ReLU gradients against numpy, the user's model untouched.

The two-layer model is x -> h = relu(x @ W1) -> o = h @ W2, bias-free, with constant
weights. For the output unit o_0 the upstream gradient reaching the ReLU is W2[:, 0], so

    plain     = (W2[:, 0] * (pre > 0)) @ W1.T
    guided    = (W2[:, 0] * (pre > 0) * (W2[:, 0] > 0)) @ W1.T
    rectified = (W2[:, 0] * (W2[:, 0] > 0)) @ W1.T

with pre = x @ W1: guided passes the upstream gradient only where the ReLU is active and
the gradient positive, rectified ('relu', 'deconv') wherever the gradient is positive.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from tests.conftest import assert_unchanged, snapshot
from vis import backprop_modifiers, engine
from vis.backend import modify_model_backprop
from vis.losses import ActivationMaximization
from vis.visualization import visualize_saliency

W1 = np.array([[1.0, -1.0], [-1.0, 2.0]], "float32")
W2 = np.array([[1.0], [-1.0]], "float32")
# pre = x @ W1: [1, -1], [-1, 2], [-1, 1], [0, -1] (a ReLU exactly at 0), [1, 1] (both active).
X = np.array([[1, 0], [0, 1], [-1, 0], [-1, -1], [3, 2]], "float32")

NAMES = ["guided", "rectified", "relu", "deconv"]
RULE = {None: "plain", "guided": "guided", **{name: "rectified" for name in ("rectified", "relu", "deconv")}}
VALID_NAMES = "Valid names: 'guided', 'rectified', 'relu', 'deconv'"


def _expected(rule, x, w1, w2, unit=0):
    """The gradient of o_unit w.r.t. x, per sample, under a ReLU gradient rule."""
    pre = x.astype("float64") @ w1
    upstream = np.broadcast_to(w2[:, unit], pre.shape)
    if rule == "plain":
        passed = upstream * (pre > 0)
    elif rule == "guided":
        passed = upstream * (pre > 0) * (upstream > 0)
    else:
        passed = upstream * (upstream > 0)
    return passed @ w1.T


def _build(kind, w1=W1, w2=W2, activation="relu"):
    """x -> Dense 'h' -> ReLU -> Dense 'o' with the ReLU written one of four ways, bias-free."""
    n_in, n_hidden, n_out = w1.shape[0], w1.shape[1], w2.shape[1]
    if kind == "dense-activation-argument":
        model = keras.Sequential(
            [
                keras.Input((n_in,)),
                layers.Dense(n_hidden, activation=activation, use_bias=False, name="h"),
                layers.Dense(n_out, use_bias=False, name="o"),
            ]
        )
    elif kind == "nested-model":
        inner = keras.Sequential(
            [keras.Input((n_in,)), layers.Dense(n_hidden, activation=activation, use_bias=False, name="h")],
            name="inner",
        )
        model = keras.Sequential([keras.Input((n_in,)), inner, layers.Dense(n_out, use_bias=False, name="o")])
        model.get_layer("inner").get_layer("h").set_weights([w1])
        model.get_layer("o").set_weights([w2])
        return model
    else:
        if kind == "Activation-layer":
            relu = layers.Activation(activation, name="act")
        else:
            relu = layers.ReLU(name="act")
        inp = keras.Input((n_in,))
        hidden = relu(layers.Dense(n_hidden, use_bias=False, name="h")(inp))
        model = keras.Model(inp, layers.Dense(n_out, use_bias=False, name="o")(hidden))
    model.get_layer("h").set_weights([w1])
    model.get_layer("o").set_weights([w2])
    return model


KINDS = ["dense-activation-argument", "Activation-layer", "ReLU-layer", "nested-model"]


def _grads(model, x, modifier, unit=0):
    losses = [(ActivationMaximization(model.get_layer("o"), unit), -1)]
    modifier = backprop_modifiers.get(modifier)
    return engine.compute(model.inputs, losses, x, backprop_modifier=modifier).grads


def _tape_grads(model, x, unit=0):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(model(x, training=False)[:, unit])
    return tape.gradient(total, x).numpy()


def _minmax(a):
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else np.zeros_like(a)


def test_the_inputs_tell_the_three_rules_apart():
    plain, guided, rectified = (_expected(rule, X, W1, W2) for rule in ("plain", "guided", "rectified"))
    np.testing.assert_array_equal(plain, [[1, -1], [1, -2], [1, -2], [0, 0], [2, -3]])
    np.testing.assert_array_equal(guided, [[1, -1], [0, 0], [0, 0], [0, 0], [1, -1]])
    np.testing.assert_array_equal(rectified, [[1, -1]] * 5)


@pytest.mark.parametrize("name", [None, *NAMES])
@pytest.mark.parametrize("kind", KINDS)
def test_engine_gradient_follows_the_rule(kind, name):
    model = _build(kind)
    np.testing.assert_allclose(_grads(model, X, name), _expected(RULE[name], X, W1, W2), atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_one_sample_at_a_time_equals_the_batch(kind):
    model = _build(kind)
    for x, expected in zip(X, _expected("guided", X, W1, W2)):
        np.testing.assert_allclose(_grads(model, x[None], "guided")[0], expected, atol=1e-6)


@pytest.mark.parametrize("name", [None, *NAMES])
def test_saliency_with_modifier_matches_the_formula(name):
    rng = np.random.default_rng(7)
    w1 = rng.normal(size=(6, 5)).astype("float32")
    w2 = rng.normal(size=(5, 3)).astype("float32")
    w2[:, 1] = [1.0, -0.8, 0.5, -1.2, 0.7]  # Upstream gradients of both signs.
    model = _build("dense-activation-argument", w1, w2)
    seeds = rng.normal(size=(4, 6)).astype("float32")
    maps = visualize_saliency(model, "o", 1, seeds, backprop_modifier=name)
    expected = _expected(RULE[name], seeds, w1, w2, unit=1)
    assert maps.shape == (4, 6)
    for saliency, grads in zip(maps, expected):
        np.testing.assert_allclose(saliency, _minmax(np.abs(grads)), atol=1e-6)
    # The weights are such that every rule gives a different map.
    for rule in {"plain", "guided", "rectified"} - {RULE[name]}:
        assert not np.allclose(expected, _expected(rule, seeds, w1, w2, unit=1))


def _other_activation_model(hidden):
    inp = keras.Input((2,))
    x = layers.Dense(2, use_bias=False, name="h", activation=hidden if isinstance(hidden, str) else None)(inp)
    if not isinstance(hidden, str):
        x = hidden(x)
    model = keras.Model(inp, layers.Dense(1, use_bias=False, name="o")(x))
    model.get_layer("h").set_weights([W1])
    model.get_layer("o").set_weights([W2])
    return model


OTHER_ACTIVATIONS = {
    "elu": lambda: "elu",
    "linear": lambda: "linear",
    "softmax": lambda: "softmax",
    "leaky_relu": lambda: "leaky_relu",
    "Activation-elu": lambda: layers.Activation("elu"),
    "Activation-softmax": lambda: layers.Activation("softmax"),
    "ELU-layer": lambda: layers.ELU(),
    "Softmax-layer": lambda: layers.Softmax(),
    "LeakyReLU-layer": lambda: layers.LeakyReLU(0.1),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("hidden", list(OTHER_ACTIVATIONS), ids=list(OTHER_ACTIVATIONS))
def test_other_activations_keep_their_gradient(hidden, name):
    model = _other_activation_model(OTHER_ACTIVATIONS[hidden]())
    x = np.concatenate([X, np.random.default_rng(0).normal(size=(6, 2)).astype("float32")])
    plain = _grads(model, x, None)
    assert np.abs(plain).max() > 0.1
    np.testing.assert_allclose(_grads(model, x, name), plain, rtol=1e-6, atol=1e-7)
    modified = modify_model_backprop(model, name)
    np.testing.assert_allclose(_tape_grads(modified, x), plain, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "relu", [layers.ReLU(negative_slope=0.1), layers.ReLU(threshold=0.5)], ids=["negative_slope", "threshold"]
)
def test_leaky_or_thresholded_relu_layer_is_left_alone_with_a_warning(relu):
    # Leaky and thresholded ReLUs are not rectifiers with a zero negative part: they keep their gradient.
    model = _other_activation_model(relu)
    plain = _grads(model, X, None)
    assert not np.allclose(plain, _expected("guided", X, W1, W2))  # So a modification would show.
    for name in NAMES:
        with pytest.warns(UserWarning, match=rf"backprop_modifier='{RULE[name]}' changed nothing.*ReLU"):
            np.testing.assert_allclose(_grads(model, X, name), plain, atol=1e-7)


# pre = x @ W1 with values above 6, where a ReLU6 is saturated (gradient 0), below 0 and between.
X6 = np.array([[4, 0], [0, 4], [-1, 0], [8, 1], [1, 5], [3, 3]], "float32")


def _expected_relu6(rule, x):
    pre = x.astype("float64") @ W1
    upstream = np.broadcast_to(W2[:, 0], pre.shape)
    active = (pre > 0) & (pre < 6)
    passed = {"plain": upstream * active, "guided": upstream * active * (upstream > 0)}.get(
        rule, upstream * (upstream > 0)
    )
    return passed @ W1.T


RELU6 = {
    "activation-argument": lambda: "relu6",
    "Activation-layer": lambda: layers.Activation("relu6"),
    "ReLU-max_value-layer": lambda: layers.ReLU(max_value=6.0),
}


@pytest.mark.parametrize("name", [None, *NAMES])
@pytest.mark.parametrize("kind", list(RELU6), ids=list(RELU6))
def test_relu6_is_a_rectifier_guided_inside_its_active_range(kind, name):
    # MobileNet's ReLU6: guided passes positive gradients where 0 < x < 6, rectified wherever positive.
    model = _other_activation_model(RELU6[kind]())
    expected = _expected_relu6(RULE[name], X6)
    assert len({tuple(_expected_relu6(r, X6).ravel()) for r in ("plain", "guided", "rectified")}) == 3
    np.testing.assert_allclose(_grads(model, X6, name), expected, atol=1e-6)


def _all_layers(model):
    """The model's layers and those of its nested models."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(_all_layers(layer))
    return found


def _deep_state(model):
    """Activations and trainable flags of every layer, nested ones included (weights: `snapshot`)."""
    every = _all_layers(model)
    return [getattr(layer, "activation", None) for layer in every], [layer.trainable for layer in every]


@pytest.mark.parametrize("kind", KINDS)
def test_modify_model_backprop_predicts_the_same_with_the_modified_gradient(kind):
    model = _build(kind)
    probe = np.concatenate([X, -X])
    before = (*snapshot(model), model.predict(probe, verbose=0))
    deep_before = _deep_state(model)
    original_predictions = model(X).numpy()
    for name in NAMES:
        modified = modify_model_backprop(model, name)
        assert isinstance(modified, keras.Model) and modified is not model
        np.testing.assert_allclose(modified(X).numpy(), original_predictions, atol=1e-6)
        np.testing.assert_allclose(modified.predict(probe, verbose=0), before[3], atol=1e-6)
        np.testing.assert_allclose(_tape_grads(modified, X), _expected(RULE[name], X, W1, W2), atol=1e-6)
        assert modify_model_backprop(model, name) is modified
        assert_unchanged(model, before, probe)
        assert _deep_state(model) == deep_before
    # The aliases give the rectified copy; guided is another one.
    assert modify_model_backprop(model, "relu") is modify_model_backprop(model, "deconv")
    assert modify_model_backprop(model, "relu") is modify_model_backprop(model, "rectified")
    assert modify_model_backprop(model, "guided") is not modify_model_backprop(model, "rectified")
    # The user's model still has the plain gradient, through the engine and through a tape.
    np.testing.assert_allclose(_tape_grads(model, X), _expected("plain", X, W1, W2), atol=1e-6)
    np.testing.assert_allclose(_grads(model, X, None), _expected("plain", X, W1, W2), atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_every_modifier_leaves_the_model_unchanged(kind):
    model = _build(kind)
    probe = np.concatenate([X, 2 * X])
    before = (*snapshot(model), model.predict(probe, verbose=0))
    deep_before = _deep_state(model)
    for name in [None, *NAMES]:
        _grads(model, X, name)
        visualize_saliency(model, "o", 0, X, backprop_modifier=name)
        if name is not None:
            modify_model_backprop(model, name)
        assert_unchanged(model, before, probe)
        assert _deep_state(model) == deep_before
    has_relu = any(isinstance(layer, layers.ReLU) for layer in _all_layers(model))
    assert keras.activations.relu in deep_before[0] or has_relu


def test_unknown_name_lists_the_valid_ones():
    model = _build("dense-activation-argument")
    for call in (
        lambda: backprop_modifiers.get("sharpen"),
        lambda: modify_model_backprop(model, "sharpen"),
        lambda: visualize_saliency(model, "o", 0, X, backprop_modifier="sharpen"),
        lambda: _grads(model, X, "sharpen"),
    ):
        with pytest.raises(ValueError, match=f"Unknown backprop_modifier: 'sharpen'. {VALID_NAMES}"):
            call()


@pytest.mark.parametrize("bad", [3, 1.5, ["guided"], b"guided"], ids=["int", "float", "list", "bytes"])
def test_wrong_type_is_a_type_error(bad):
    model = _build("dense-activation-argument")
    with pytest.raises(TypeError, match="backprop_modifier"):
        backprop_modifiers.get(bad)
    with pytest.raises(TypeError, match="backprop_modifier"):
        modify_model_backprop(model, bad)
    with pytest.raises(TypeError, match="backprop_modifier"):
        visualize_saliency(model, "o", 0, X, backprop_modifier=bad)


def test_none_is_no_modifier_but_modify_model_backprop_needs_one():
    assert backprop_modifiers.get(None) is None
    with pytest.raises(ValueError, match="must not be None"):
        modify_model_backprop(_build("ReLU-layer"), None)


def _linear_copy(model):
    """A `model -> model` callable: a copy of the model with every activation made linear."""

    def clone(layer):
        config = layer.get_config()
        if "activation" in config:
            config["activation"] = "linear"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def test_callable_is_called_and_its_model_used():
    model = _build("dense-activation-argument")
    calls = []

    def modifier(given):
        calls.append(given)
        return _linear_copy(given)

    assert backprop_modifiers.get(modifier) is modifier
    modified = modify_model_backprop(model, modifier)
    assert calls == [model] and modified is not model
    np.testing.assert_allclose(_tape_grads(modified, X), np.tile(W1 @ W2[:, 0], (len(X), 1)), atol=1e-6)

    saliency = visualize_saliency(model, "o", 0, X[0], backprop_modifier=modifier)
    assert len(calls) == 2 and calls[1] is model
    np.testing.assert_allclose(saliency, _minmax(np.abs(W1 @ W2[:, 0])), atol=1e-6)
    # The plain map differs: at x = [1, 0] the second hidden ReLU of the user's model is inactive.
    assert not np.allclose(visualize_saliency(model, "o", 0, X[0]), saliency)


def test_callable_returning_something_else_is_a_type_error():
    with pytest.raises(TypeError, match="must return a Keras model"):
        visualize_saliency(_build("ReLU-layer"), "o", 0, X, backprop_modifier=lambda model: None)


def test_modified_single_input_model_takes_a_tensor_like_the_original():
    model = _build("dense-activation-argument")
    modified = modify_model_backprop(model, "guided")
    assert not isinstance(modified.input, list)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        modified(X)
