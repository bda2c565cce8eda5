"""The engine's plan: graphs bound by identity, nested layers reached through the outer model, inference mode.

Closed forms on tiny fixed-weight models: what the plan computes is checked
against the gradient a hand-written tape gives on the model itself.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from vis import engine
from vis.engine.plan import Plan
from vis.losses import ActivationMaximization
from vis.visualization import visualize_activation, visualize_cam, visualize_saliency

RNG = np.random.default_rng(0)
W1 = RNG.normal(size=(3, 4)).astype("float32")
W2 = RNG.normal(size=(4, 2)).astype("float32")


def _square_then_nested(kind: str) -> keras.Model:
    """x -> x**2 (outer preprocessing) -> nested base [hidden = . @ W1] -> out = hidden @ W2."""
    if kind == "sequential":
        base = keras.Sequential(
            [keras.Input((3,)), layers.Dense(4, use_bias=False, name="hidden")], name="base"
        )
    else:
        inner = keras.Input((3,))
        base = keras.Model(inner, layers.Dense(4, use_bias=False, name="hidden")(inner), name="base")
    base.get_layer("hidden").set_weights([W1])
    inp = keras.Input((3,))
    squared = layers.Lambda(lambda t: t * t, name="square")(inp)
    out = layers.Dense(2, use_bias=False, name="out")(base(squared))
    model = keras.Model(inp, out)
    model.get_layer("out").set_weights([W2])
    return model


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("spec", ["hidden", "base/hidden"])
def test_a_nested_layer_is_computed_through_the_outer_preprocessing(kind, spec):
    # d hidden_k / dx = 2 x * W1[:, k]: the outer x**2 must not be skipped (it would give W1[:, k]).
    model = _square_then_nested(kind)
    x = RNG.uniform(0.5, 2.0, size=(5, 3)).astype("float32")
    layer = model.get_layer("base").get_layer("hidden")
    result = engine.compute(model.inputs, [(ActivationMaximization(layer, 2), -1)], x)
    np.testing.assert_allclose(result.grads, 2 * x * W1[:, 2], rtol=1e-5)
    maps = visualize_saliency(model, spec, 2, x, grad_modifier=None)
    expected = 2 * x * W1[:, 2]
    low, high = expected.min(axis=1, keepdims=True), expected.max(axis=1, keepdims=True)
    np.testing.assert_allclose(maps, (expected - low) / (high - low), atol=1e-5)


def test_activation_maximization_of_a_nested_layer_raises_it():
    model = _square_then_nested("functional")
    seed = RNG.uniform(0.5, 1.0, size=(3,)).astype("float32")
    best = visualize_activation(
        model,
        "hidden",
        1,
        seed_input=seed,
        max_iter=20,
        input_range=(0.0, 2.0),
        lp_norm_weight=0,
        tv_weight=0,
    )
    hidden = lambda v: float((np.asarray(v, "float64") ** 2) @ W1[:, 1])  # noqa: E731
    assert hidden(best) > hidden(seed)


def test_a_shared_layer_is_not_confused_between_its_calls():
    # One Dense used on two branches: `layer.output` is its first call; the second call (on -x) differs.
    dense = layers.Dense(1, use_bias=False, name="shared")
    inp = keras.Input((2,))
    first = dense(inp)
    second = dense(layers.Lambda(lambda t: -2.0 * t, name="neg")(inp))
    model = keras.Model(inp, layers.Add(name="sum")([first, layers.Lambda(lambda t: t * t)(second)]))
    dense.set_weights([np.array([[1.0], [3.0]], "float32")])
    x = np.array([[1.0, 2.0]], "float32")
    through_first = engine.compute(model.inputs, [(ActivationMaximization(dense, 0), -1)], x).grads
    np.testing.assert_allclose(through_first, [[1.0, 3.0]])
    output = engine.compute(model.inputs, [(ActivationMaximization(model.layers[-1], 0), -1)], x).grads
    # sum = w.x + (w.(-2x))**2 = w.x + 4 (w.x)**2 -> grad = w (1 + 8 w.x) = w * 57.
    np.testing.assert_allclose(output, [[57.0, 171.0]], rtol=1e-5)


def _augmented(custom: bool) -> keras.Model:
    keras.utils.set_random_seed(3)

    class Augment(layers.Layer):  # Calls its sublayers without a training flag, as user code does.
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.flip = layers.RandomFlip("horizontal")
            self.turn = layers.RandomRotation(0.3)

        def call(self, inputs):
            return self.turn(self.flip(inputs))

    augment = (
        Augment()
        if custom
        else keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.3)], name="augment")
    )
    inp = keras.Input((10, 10, 1))
    x = layers.Conv2D(3, 3, activation="relu", name="conv")(augment(inp))
    out = layers.Dense(2, name="out")(layers.Flatten()(x))
    return keras.Model(inp, out)


@pytest.mark.parametrize("custom", [False, True], ids=["nested-sequential", "custom-layer"])
def test_augmentation_layers_run_in_inference_mode(custom):
    model = _augmented(custom)
    x = RNG.uniform(size=(2, 10, 10, 1)).astype("float32")
    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        score = model(t, training=False)[:, 1]
    reference = tape.gradient(score, t).numpy()
    losses = [(ActivationMaximization(model.get_layer("out"), 1), -1)]
    for _ in range(3):
        np.testing.assert_allclose(engine.compute(model.inputs, losses, x).grads, reference, atol=1e-6)
    maps = [visualize_cam(model, "out", 1, x) for _ in range(2)]
    np.testing.assert_array_equal(maps[0], maps[1])


def test_layer_state_and_losses_are_not_changed_by_a_run():
    inp = keras.Input((4,))
    x = layers.Dense(3, activity_regularizer="l2", name="reg")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inp, layers.Dense(2, name="out")(x))
    before = [v.numpy().copy() for v in model.variables]
    for _ in range(3):
        engine.compute(
            model.inputs,
            [(ActivationMaximization(model.get_layer("out"), 0), -1)],
            RNG.normal(size=(8, 4)).astype("float32"),
        )
    for value, variable in zip(before, model.variables):
        np.testing.assert_array_equal(value, variable.numpy())
    assert model.get_layer("reg").losses == []


def test_the_plan_keeps_only_the_calls_the_outputs_need():
    model = _square_then_nested("functional")
    hidden = model.get_layer("base").get_layer("hidden")
    plan = Plan(model.inputs, [hidden.output])
    called = [getattr(step.function, "name", "") for step in plan.steps]
    assert called == ["square", "hidden"]  # The outer head "out" is not run.
    assert [r for r in plan.records] == []


def test_a_loss_on_a_layer_of_another_model_is_refused():
    model = _square_then_nested("functional")
    other = keras.Sequential([keras.Input((7,)), layers.Dense(2, name="elsewhere")])
    with pytest.raises(ValueError, match="none of the given input tensors"):
        engine.compute(
            model.inputs, [(ActivationMaximization(other.layers[0], 0), -1)], np.ones((1, 3), "float32")
        )
