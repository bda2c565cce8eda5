"""Optimizer: keras-vis step semantics, closed-form RMSProp steps, compiled and step-by-step loops."""

import keras
import numpy as np
import pytest

from tests.conftest import assert_unchanged, snapshot
from tests.models import dense_model, small_cnn
from vis import engine
from vis.callbacks import OptimizerCallback
from vis.input_modifiers import InputModifier, Jitter, Rotate
from vis.losses import ActivationMaximization, Loss
from vis.optimizer import Optimizer
from vis.regularizers import LPNorm, TotalVariation
from vis.utils import utils

EPS = keras.config.epsilon()
W = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, 1.0]], "float32")


class Recorder(OptimizerCallback):
    def __init__(self):
        self.wrt, self.overall = [], []

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        self.wrt.append(wrt_value.copy())
        self.overall.append(overall_loss)


@pytest.fixture(scope="module")
def cnn():
    return small_cnn((16, 16, 1), classes=3)


def _loss_value(model, loss, x):
    return float(engine.compute(model.inputs, [(loss, 1)], x).overall_loss[0])


LOSSES = {
    "activation": lambda m: ActivationMaximization(m.get_layer("preds"), 2),
    "activation-conv": lambda m: ActivationMaximization(m.get_layer("conv"), [0, 3]),
    "lp6": lambda m: LPNorm(m.inputs[0]),
    "lp1": lambda m: LPNorm(m.inputs[0], p=1),
    "lp-inf": lambda m: LPNorm(m.inputs[0], p=float("inf")),
    "tv": lambda m: TotalVariation(m.inputs[0]),
    "tv-beta1.5": lambda m: TotalVariation(m.inputs[0], beta=1.5),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_minimize_lowers_every_loss(cnn, name):
    loss = LOSSES[name](cnn)
    seed = np.random.default_rng(1).uniform(0, 255, (1, 16, 16, 1)).astype("float32")
    _, _, last = Optimizer(cnn.inputs[0], [(loss, 1)]).minimize(seed, max_iter=20, verbose=False)
    before, after = _loss_value(cnn, loss, seed), _loss_value(cnn, loss, last)
    # L-inf moves one pixel per step, so it falls slowly; the others fall by a lot.
    assert after < before - (0.01 if name == "lp-inf" else 0.1) * abs(before)


def test_rmsprop_steps_match_keras_vis_in_closed_form():
    # loss = -(x @ W)[:, 0], so the gradient is -W[:, 0] at every step.
    model = dense_model(W)
    opt = Optimizer(model.inputs[0], [(ActivationMaximization(model.layers[0], 0), 1)])
    seed = np.array([0.5, -1.0, 2.0], "float32")
    recorder = Recorder()
    image, grads, wrt = opt.minimize(seed, max_iter=3, callbacks=[recorder], verbose=False)
    g = -W[:, 0] / (np.sqrt(np.mean(W[:, 0] ** 2)) + EPS)  # norm_grads: divided by the RMS
    x, cache, expected = seed.astype("float64"), np.zeros(3), []
    for _ in range(3):
        expected.append(x.copy())
        cache = 0.95 * cache + 0.05 * g**2
        x = x - g / np.sqrt(cache + EPS)
    np.testing.assert_allclose(np.concatenate(recorder.wrt), expected, rtol=1e-5)
    np.testing.assert_allclose(grads[0], g, rtol=1e-5)
    np.testing.assert_allclose(wrt[0], expected[-1], rtol=1e-5)
    # The loss falls at every step, so the best input is the last updated one.
    np.testing.assert_allclose(image, utils.deprocess_input(x.astype("float32")), rtol=1e-5)
    np.testing.assert_allclose(recorder.overall, [-(e @ W[:, 0]) for e in expected], rtol=1e-5)


def test_without_norm_grads_the_raw_gradient_is_reported():
    model = dense_model(W)
    opt = Optimizer(model, [(ActivationMaximization(model.layers[0], 1), 2.0)], norm_grads=False)
    _, grads, _ = opt.minimize(np.zeros(3, "float32"), max_iter=1, verbose=False)
    np.testing.assert_allclose(grads[0], -2.0 * W[:, 1], rtol=1e-6)


def test_keeps_the_input_with_the_lowest_loss():
    model = dense_model(W)
    # negate turns descent into ascent: the loss rises, so the first updated input stays the best.
    opt = Optimizer(model.inputs[0], [(ActivationMaximization(model.layers[0], 0), 1)])
    recorder = Recorder()
    seed = np.array([0.5, -1.0, 2.0], "float32")
    image, _, _ = opt.minimize(seed, max_iter=4, grad_modifier="negate", callbacks=[recorder], verbose=False)
    assert np.all(np.diff(recorder.overall) > 0)
    np.testing.assert_allclose(image, utils.deprocess_input(recorder.wrt[1][0]), rtol=1e-5)


def test_attributes_and_wrt_tensor(cnn):
    image = cnn.inputs[0]
    losses = [
        (ActivationMaximization(cnn.get_layer("preds"), 0), 1),
        (LPNorm(image), 0),
        (TotalVariation(image), None),
    ]
    opt = Optimizer(image, losses, input_range=(0.0, 1.0))
    assert opt.loss_names == ["ActivationMax Loss"]  # zero and None weights are skipped
    assert opt.input_tensor is image and opt.input_range == (0.0, 1.0)
    assert opt.wrt_tensor_is_input_tensor and opt.wrt_tensor is not None
    assert opt.wrt_tensor != opt.input_tensor and not (opt.wrt_tensor == opt.input_tensor)
    assert Optimizer(cnn, losses, wrt_tensor=image).wrt_tensor_is_input_tensor
    conv = cnn.get_layer("conv").output
    other = Optimizer(image, losses, wrt_tensor=conv)
    assert not other.wrt_tensor_is_input_tensor and other.wrt_tensor is conv
    seed = np.random.default_rng(0).uniform(0, 255, (16, 16, 1)).astype("float32")
    img, grads, wrt = other.minimize(seed, max_iter=3, verbose=False)
    assert grads.shape == wrt.shape == (1, 14, 14, 4)
    # The input is not updated when the gradient is w.r.t. another tensor.
    np.testing.assert_allclose(img, utils.deprocess_input(seed), rtol=1e-5)


def test_compiled_and_step_by_step_loops_agree(cnn):
    image = cnn.inputs[0]
    losses = [(ActivationMaximization(cnn.get_layer("preds"), 1), 1), (TotalVariation(image), 1)]
    opt = Optimizer(image, losses)
    results = []
    for callbacks in ([], [Recorder()]):
        np.random.seed(5)
        results.append(
            opt.minimize(
                max_iter=10, input_modifiers=[Jitter(2), Rotate(5)], callbacks=callbacks, verbose=False
            )
        )
    for fused, stepwise in zip(*results):
        np.testing.assert_allclose(fused, stepwise, rtol=1e-4, atol=1e-4)


def test_numpy_modifiers_run_on_the_host_in_keras_vis_order(cnn):
    calls = []

    class Flip(InputModifier):  # keras-vis style: numpy in, numpy out
        def __init__(self, tag):
            self.tag = tag

        def pre(self, inp):
            calls.append(("pre", self.tag, type(inp)))
            return np.flip(inp, axis=2)

        def post(self, inp):
            calls.append(("post", self.tag, type(inp)))
            return inp

    opt = Optimizer(cnn.inputs[0], [(ActivationMaximization(cnn.get_layer("preds"), 1), 1)])
    opt.minimize(max_iter=2, input_modifiers=[Flip("a"), Flip("b")], verbose=False)
    assert [(c[0], c[1]) for c in calls] == [("pre", "a"), ("pre", "b"), ("post", "b"), ("post", "a")] * 2
    assert all(c[2] is np.ndarray for c in calls)


def test_batch_seed_gives_one_result_per_sample(cnn):
    opt = Optimizer(cnn.inputs[0], [(ActivationMaximization(cnn.get_layer("preds"), 0), 1)])
    seeds = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 1)).astype("float32")
    images, grads, wrt = opt.minimize(seeds, max_iter=3, verbose=False)
    assert images.shape == (3, 16, 16, 1) and grads.shape == (3, 16, 16, 1)
    single, _, _ = opt.minimize(seeds[1], max_iter=3, verbose=False)
    np.testing.assert_allclose(images[1], single, rtol=1e-4, atol=1e-3)


def test_random_seed_is_noise_around_the_middle_of_input_range(cnn):
    recorder = Recorder()
    opt = Optimizer(
        cnn.inputs[0], [(ActivationMaximization(cnn.get_layer("preds"), 0), 1)], input_range=(0, 100)
    )
    opt.minimize(max_iter=1, callbacks=[recorder], verbose=False)
    start = recorder.wrt[0]
    assert start.shape == (1, 16, 16, 1)
    assert start.mean() == pytest.approx(50, abs=1e-3) and start.std() == pytest.approx(5, rel=1e-3)


def test_caller_state_is_unchanged(cnn):
    probe = np.random.default_rng(2).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    before = (*snapshot(cnn), cnn.predict(probe, verbose=0))
    seed = probe[0].copy()
    callbacks, modifiers = [Recorder()], [Jitter(1)]
    opt = Optimizer(cnn.inputs[0], [(ActivationMaximization(cnn.get_layer("preds"), 0), 1)])
    opt.minimize(seed, max_iter=3, input_modifiers=modifiers, callbacks=callbacks, verbose=True)
    np.testing.assert_array_equal(seed, probe[0])
    assert len(callbacks) == 1 and len(modifiers) == 1
    assert_unchanged(cnn, before, probe)


def test_sequential_and_apply_modifications_readme_pattern():
    model = small_cnn((12, 12, 1), classes=2)
    model.layers[-1].activation = keras.activations.softmax
    model = utils.apply_modifications(model)
    model.layers[-1].activation = keras.activations.linear
    model = utils.apply_modifications(model)
    losses = [
        (ActivationMaximization(model.layers[-1], 1), 1),
        (LPNorm(model.input), 10),
        (TotalVariation(model.input), 10),
    ]
    img, _, _ = Optimizer(model.input, losses).minimize(max_iter=5, verbose=False)
    assert img.shape == (12, 12, 1) and 0 <= img.min() and img.max() <= 255


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"max_iter": 0}, ValueError, "Received: max_iter=0"),
        ({"max_iter": 2.5}, ValueError, "Received: max_iter=2.5"),
        ({"grad_modifier": "nope"}, ValueError, "nope"),
        ({"input_modifiers": [object()]}, TypeError, "pre"),
        ({"seed_input": np.zeros((5, 5))}, ValueError, "seed_input"),
    ],
)
def test_minimize_argument_errors(cnn, kwargs, error, match):
    opt = Optimizer(cnn.inputs[0], [(ActivationMaximization(cnn.get_layer("preds"), 0), 1)])
    with pytest.raises(error, match=match):
        opt.minimize(verbose=False, **kwargs)


def test_constructor_errors(cnn):
    am = ActivationMaximization(cnn.get_layer("preds"), 0)
    for bad in [(1, 1), (2, 1), (0,), "ab", (0, float("nan"))]:
        with pytest.raises(ValueError, match="Received: input_range="):
            Optimizer(cnn.inputs[0], [(am, 1)], input_range=bad)
    with pytest.raises(ValueError, match="non-zero weight"):
        Optimizer(cnn.inputs[0], [(am, 0)])
    with pytest.raises(TypeError, match="pairs"):
        Optimizer(cnn.inputs[0], [am])
    with pytest.raises(ValueError, match="p"):
        LPNorm(cnn.inputs[0], p=0.5)


def test_scalar_custom_loss_keras_vis_style(cnn):
    class SquaredOutput(Loss):
        name = "squared"

        def build_loss(self):
            return keras.ops.sum(keras.ops.square(cnn.get_layer("preds").output))

    opt = Optimizer(cnn.inputs[0], [(SquaredOutput(), 1)])
    seed = np.random.default_rng(3).uniform(0, 255, (16, 16, 1)).astype("float32")
    _, _, last = opt.minimize(seed, max_iter=10, verbose=False)
    assert np.sum(cnn.predict(last, verbose=0) ** 2) < np.sum(cnn.predict(seed[None], verbose=0) ** 2)
