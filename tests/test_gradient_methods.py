"""SmoothGrad and Integrated Gradients: closed forms, numpy references, completeness, determinism."""

import keras
import numpy as np
import pytest
from keras import layers

from tests.conftest import assert_unchanged, snapshot
from tests.models import dense_model, small_cnn
from vis.backend import set_random_seed
from vis.visualization import integrated_gradients, visualize_integrated_gradients, visualize_saliency

RNG = np.random.default_rng(11)


def _minmax(a, axes=None):
    low, high = a.min(axis=axes, keepdims=True), a.max(axis=axes, keepdims=True)
    return np.where(high > low, (a - low) / np.where(high > low, high - low, 1), 0)


def _relu_mlp(w1, b1, w2):
    """x -> relu(x W1 + b1) W2 (bias-free head), fixed weights."""
    model = keras.Sequential(
        [
            keras.Input((w1.shape[0],)),
            layers.Dense(w1.shape[1], activation="relu", name="hidden"),
            layers.Dense(w2.shape[1], use_bias=False, name="out"),
        ]
    )
    model.get_layer("hidden").set_weights([w1, b1])
    model.get_layer("out").set_weights([w2])
    return model


def _guided_gradient(x, w1, b1, w2, c):
    """Guided backprop of class c through one ReLU: pass where the incoming gradient and the input are > 0."""
    incoming = w2[:, c]
    pre = x.astype("float64") @ w1 + b1
    return w1 @ (incoming * (incoming > 0) * (pre > 0))


def _plain_gradient(x, w1, b1, w2, c):
    return w1 @ (w2[:, c] * (x.astype("float64") @ w1 + b1 > 0))


def _noisy_copies(seeds, samples, noise, seed):
    """The documented noise: a default_rng seeded by one draw of numpy's global generator, then one
    float32 standard normal draw per copy, seed by seed, in order, times noise * (max - min)."""
    keras.utils.set_random_seed(seed)
    generator = np.random.default_rng(np.random.randint(2**31))
    copies = []
    for x in seeds:
        sigma = np.float32(noise * (float(x.max()) - float(x.min())))
        draws = [generator.standard_normal(x.shape, dtype="float32") * sigma for _ in range(samples)]
        copies.append(np.stack([x + draw for draw in draws]))
    return np.stack(copies)


@pytest.mark.parametrize("noise", [0.0, 0.2, 5.0])
def test_smoothgrad_of_bias_free_linear_model_is_abs_weight(noise):
    w = RNG.normal(size=(8, 3)).astype("float32")
    seeds = RNG.normal(size=(2, 8)).astype("float32")
    maps = visualize_saliency(
        dense_model(w), -1, 1, seeds, smooth_samples=6, smooth_noise=noise, keepdims=True
    )
    np.testing.assert_allclose(maps, np.stack([_minmax(np.abs(w[:, 1]))] * 2), atol=1e-6)


def test_smoothgrad_with_zero_noise_equals_plain_saliency():
    model = small_cnn(input_shape=(12, 12, 3))
    seeds = RNG.uniform(size=(2, 12, 12, 3)).astype("float32")
    for modifier in (None, "guided"):
        plain = visualize_saliency(model, -1, 2, seeds, backprop_modifier=modifier)
        smooth = visualize_saliency(
            model, -1, 2, seeds, backprop_modifier=modifier, smooth_samples=3, smooth_noise=0.0
        )
        np.testing.assert_allclose(smooth, plain, atol=1e-6)


@pytest.mark.parametrize(
    "backprop_modifier, grad_modifier, gradient, modify",
    [
        ("guided", "absolute", _guided_gradient, np.abs),
        (None, "relu", _plain_gradient, lambda g: np.maximum(g, 0)),
        (None, None, _plain_gradient, lambda g: g),
    ],
    ids=["guided", "relu-grad-modifier", "signed"],
)
def test_smoothgrad_equals_the_mean_of_the_maps_of_the_same_noisy_copies(
    backprop_modifier, grad_modifier, gradient, modify
):
    w1, b1 = RNG.normal(size=(10, 16)).astype("float32"), RNG.normal(size=16).astype("float32") * 0.5
    w2 = RNG.normal(size=(16, 3)).astype("float32")
    model = _relu_mlp(w1, b1, w2)
    seeds, samples, noise = RNG.normal(size=(2, 10)).astype("float32"), 7, 0.3
    copies = _noisy_copies(seeds, samples, noise, seed=5)
    mean = np.stack([np.mean([modify(gradient(c, w1, b1, w2, 2)) for c in one], axis=0) for one in copies])
    expected = _minmax(mean, axes=1)
    for batch_size in (None, 3, 100):  # Copies cross seeds within a batch: the noise must not depend on it.
        set_random_seed(5)
        maps = visualize_saliency(
            model,
            -1,
            2,
            seeds,
            backprop_modifier=backprop_modifier,
            grad_modifier=grad_modifier,
            keepdims=True,
            smooth_samples=samples,
            smooth_noise=noise,
            batch_size=batch_size,
        )
        np.testing.assert_allclose(maps, expected, atol=1e-5)
    one_copy_map = _minmax(modify(gradient(copies[0, 0], w1, b1, w2, 2)))
    assert not np.allclose(expected[0], one_copy_map, atol=1e-3)  # The noise really changes the map.


def test_smoothgrad_same_seed_same_map_other_seed_other_map():
    model = small_cnn(input_shape=(12, 12, 3))
    x = RNG.uniform(size=(12, 12, 3)).astype("float32")
    maps = []
    for seed in (3, 3, 4):
        set_random_seed(seed)
        maps.append(visualize_saliency(model, -1, 0, x, smooth_samples=5))
    np.testing.assert_array_equal(maps[0], maps[1])
    assert not np.allclose(maps[0], maps[2])
    assert maps[0].shape == (12, 12) and maps[0].max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "baseline", [None, 0.5, "array", "per-seed"], ids=["zeros", "scalar", "array", "per-seed"]
)
def test_integrated_gradients_of_linear_model_is_input_minus_baseline_times_weight(baseline):
    w = RNG.normal(size=(6, 3)).astype("float32")
    seeds = RNG.normal(size=(3, 6)).astype("float32")
    given = {"array": RNG.normal(size=6), "per-seed": RNG.normal(size=(3, 6))}.get(baseline, baseline)
    start = np.zeros(6) if given is None else np.broadcast_to(given, seeds.shape)
    expected = (seeds - start) * (w[:, 0] + w[:, 2])
    raw = integrated_gradients(dense_model(w), -1, [0, 2], seeds, baseline=given, steps=3)
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-6)
    drawn = visualize_integrated_gradients(
        dense_model(w), -1, [0, 2], seeds, baseline=given, steps=3, keepdims=True
    )
    np.testing.assert_allclose(drawn, _minmax(np.abs(expected), axes=1), atol=1e-6)


@pytest.mark.parametrize("power, steps", [(2, 1), (2, 3), (3, 4)])
def test_integrated_gradients_follow_the_midpoint_rule(power, steps):
    # S = sum_i w_i x_i^p from a zero baseline: IG_i = p w_i x_i^p mean_j(alpha_j^(p-1)) with
    # alpha_j = (j + 1/2) / n, which is w_i x_i^2 exactly for p = 2 and w_i x_i^3 (1 - 1 / (4 n^2)) for p = 3.
    w = RNG.normal(size=(5, 1)).astype("float32")
    model = keras.Sequential(
        [keras.Input((5,)), layers.Lambda(lambda t: t**power), layers.Dense(1, use_bias=False, name="out")]
    )
    model.get_layer("out").set_weights([w])
    x = RNG.uniform(0.5, 2.0, size=5).astype("float32")
    factor = 1.0 if power == 2 else 1.0 - 1.0 / (4 * steps**2)
    raw = integrated_gradients(model, -1, 0, x, steps=steps)
    np.testing.assert_allclose(raw, w[:, 0] * x.astype("float64") ** power * factor, rtol=1e-5)
    if power == 2:  # From baselines b, one per seed: (x - b) * 2 w (b + (x - b) / 2) = w (x^2 - b^2).
        seeds, baselines = RNG.uniform(0.5, 2.0, size=(2, 5)), RNG.uniform(-1.0, 1.0, size=(2, 5))
        raw = integrated_gradients(model, -1, 0, seeds, baseline=baselines, steps=steps)
        np.testing.assert_allclose(raw, w[:, 0] * (seeds**2 - baselines**2), rtol=1e-4, atol=1e-6)


def _smooth_cnn():
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((10, 10, 2)),
            layers.Conv2D(6, 3, activation="tanh"),
            layers.MaxPooling2D(),
            layers.Conv2D(4, 3, activation="softplus"),
            layers.Flatten(),
            layers.Dense(3, name="preds"),
        ]
    )
    kernel, bias = model.get_layer("preds").get_weights()
    model.get_layer("preds").set_weights([kernel * 5.0, bias])  # Scores of a few units, not hundredths.
    return model


def test_integrated_gradients_completeness_within_one_percent():
    model = _smooth_cnn()
    seeds = np.random.default_rng(2).uniform(0, 2, size=(3, 10, 10, 2)).astype("float32")
    baseline = np.full((10, 10, 2), 0.25, "float32")
    raw = integrated_gradients(model, "preds", 1, seeds, baseline=baseline, steps=50, batch_size=16)
    scores = model.predict(seeds, verbose=0)[:, 1] - model.predict(baseline[None], verbose=0)[0, 1]
    assert np.all(np.abs(scores) > 0.1)
    np.testing.assert_allclose(raw.sum(axis=(1, 2, 3)), scores, rtol=0.01)
    one_step = integrated_gradients(model, "preds", 1, seeds, baseline=baseline, steps=1)
    assert not np.allclose(one_step.sum(axis=(1, 2, 3)), scores, rtol=0.01)  # The quadrature matters.
    np.testing.assert_allclose(
        integrated_gradients(model, "preds", 1, seeds, baseline=baseline, steps=50), raw, atol=1e-5
    )


def test_the_baseline_gets_zero_attribution():
    model = _smooth_cnn()
    baseline = RNG.uniform(size=(10, 10, 2)).astype("float32")
    np.testing.assert_array_equal(integrated_gradients(model, -1, 0, baseline, baseline=baseline), 0.0)
    assert np.all(visualize_integrated_gradients(model, -1, 0, baseline, baseline=baseline) == 0.0)


NEW_FUNCTIONS = {
    "smoothgrad": lambda m, x: visualize_saliency(m, -1, [0, 1], x, smooth_samples=3, batch_size=2),
    "guided-smoothgrad": lambda m, x: visualize_saliency(
        m, -1, 0, x, backprop_modifier="guided", smooth_samples=2
    ),
    "integrated-gradients": lambda m, x: visualize_integrated_gradients(m, -1, [0, 1], x, steps=4),
    "raw-integrated-gradients": lambda m, x: integrated_gradients(m, -1, 0, x, baseline=x * 0.5, steps=4),
}


@pytest.mark.parametrize("name", list(NEW_FUNCTIONS))
def test_model_seed_and_lists_are_untouched(name):
    model = small_cnn(input_shape=(12, 12, 3))
    probe = RNG.uniform(size=(2, 12, 12, 3)).astype("float32")
    before, seed = snapshot(model, probe), probe.copy()
    NEW_FUNCTIONS[name](model, probe)
    assert_unchanged(model, before, probe)
    np.testing.assert_array_equal(seed, probe)
