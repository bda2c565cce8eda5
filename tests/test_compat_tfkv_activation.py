"""`vis.compat.tf_keras_vis.activation_maximization` side by side with tf-keras-vis 0.8.7.

The regularizers and input modifiers are pure functions: equal to 0.8.7's on
fixed tensors (random draws shared). `ActivationMaximization` gives 0.8.7's
result from the same seed (the same Keras optimizer update on vis's
gradients), for one and several inputs, float32 and mixed_float16, calls the
callbacks alike, raises the same exception types and honours
`TF_KERAS_VIS_MAX_STEPS`. tf-keras-vis's own `tests` package is never imported.
"""

import importlib
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import assert_unchanged, snapshot

tfkv_am = pytest.importorskip("tf_keras_vis.activation_maximization")
from tf_keras_vis.activation_maximization import input_modifiers as tfkv_modifiers  # noqa: E402
from tf_keras_vis.activation_maximization import regularizers as tfkv_regularizers  # noqa: E402
from tf_keras_vis.utils import scores as tfkv_scores  # noqa: E402

from vis import optimizer_loop  # noqa: E402
from vis.compat.tf_keras_vis import activation_maximization as am  # noqa: E402
from vis.compat.tf_keras_vis.activation_maximization import (  # noqa: E402
    _steps,
    callbacks,
    input_modifiers,
    regularizers,
)
from vis.compat.tf_keras_vis.utils import scores  # noqa: E402


def _conv_model(sequential=False):
    layers = [
        keras.layers.Conv2D(4, 3, activation="relu", name="conv_1"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, name="dense_1"),
        keras.layers.Activation("softmax", dtype="float32", name="output_1"),
    ]
    if sequential:
        return keras.Sequential([keras.Input((8, 8, 3), name="input_1"), *layers])
    x = inputs = keras.Input((8, 8, 3), name="input_1")
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def _two_input_model():
    a, b = keras.Input((8, 8, 3), name="input_1"), keras.Input((6, 6, 3), name="input_2")
    x = keras.layers.Concatenate()(
        [keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 3)(t)) for t in (a, b)]
    )
    return keras.Model([a, b], keras.layers.Dense(2, activation="softmax", dtype="float32")(x))


@pytest.fixture(scope="module")
def conv_model():
    keras.utils.set_random_seed(3)
    return _conv_model()


@pytest.fixture(scope="module")
def two_input_model():
    keras.utils.set_random_seed(4)
    return _two_input_model()


@pytest.fixture(scope="module")
def seed():
    return np.random.RandomState(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")


def _modifier_pair(compat_cls, tfkv_cls, **kwargs):
    ours, theirs = compat_cls(**kwargs), tfkv_cls(**kwargs)
    if hasattr(theirs, "random_generator"):
        ours.random_generator, theirs.random_generator = np.random.default_rng(7), np.random.default_rng(7)
    return ours, theirs


def _both(model, score_index, seed_input, **kwargs):
    """(vis.compat result, tf-keras-vis result) of the same call; Jitter draws seeded alike."""
    np.random.seed(11)
    ours = am.ActivationMaximization(model)(
        scores.CategoricalScore(score_index), seed_input=seed_input, **kwargs
    )
    np.random.seed(11)
    theirs = tfkv_am.ActivationMaximization(model)(
        tfkv_scores.CategoricalScore(score_index), seed_input=seed_input, **kwargs
    )
    return ours, theirs


# Pure functions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("TotalVariation2D", {"weight": 2.5}),
        ("Norm", {"weight": 0.3, "p": 1}),
        ("Norm", {"p": 2}),
        ("Norm", {"p": 3}),
    ],
)
def test_regularizers_equal_tfkv(seed, name, kwargs):
    ours, theirs = getattr(regularizers, name)(**kwargs), getattr(tfkv_regularizers, name)(**kwargs)
    expected = theirs(tf.constant(seed)).numpy()
    assert expected.shape == (2,) and ours.name == theirs.name
    np.testing.assert_allclose(np.asarray(ours(tf.constant(seed))), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ours(seed)), expected, rtol=1e-5)  # numpy in, same numbers


def test_total_variation_needs_images():
    with pytest.raises(ValueError, match=r"Received: an input of shape \(2, 8\)"):
        regularizers.TotalVariation2D()(np.zeros((2, 8), "float32"))
    with pytest.raises(ValueError):
        tfkv_regularizers.TotalVariation2D()(tf.zeros((2, 8)))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("Rotate2D", {"degree": 20.0}),
        ("Rotate", {"axes": (1, 2), "degree": 30.0}),
        ("Scale", {"low": 1.2, "high": 1.4}),
        ("Scale", {"low": 0.6, "high": 0.8}),
    ],
)
def test_input_modifiers_equal_tfkv(seed, name, kwargs):
    ours, theirs = _modifier_pair(getattr(input_modifiers, name), getattr(tfkv_modifiers, name), **kwargs)
    for _ in range(2):  # The generators advance alike.
        expected = theirs(tf.constant(seed))
        result = ours(tf.constant(seed))
        assert result.shape == seed.shape and result.dtype == np.float32
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-3)
    assert not np.allclose(expected, seed)


def test_jitter_equal_tfkv_and_is_a_vis_modifier(seed):
    np.random.seed(5)
    expected = tfkv_modifiers.Jitter(jitter=3)(seed).numpy()
    np.random.seed(5)
    modifier = input_modifiers.Jitter(jitter=3)
    np.testing.assert_array_equal(modifier(seed).numpy(), expected)
    np.random.seed(5)
    np.testing.assert_array_equal(np.asarray(modifier.pre(seed)), expected)  # vis's hook
    np.testing.assert_array_equal(modifier.post(seed), seed)
    from vis import input_modifiers as vis_modifiers

    assert vis_modifiers.get(modifier) is modifier and not vis_modifiers.runs_in_graph(modifier)


def test_modifier_errors_match_tfkv():
    for ours, theirs in (
        (input_modifiers.Jitter(), tfkv_modifiers.Jitter()),
        (input_modifiers.Rotate2D(), tfkv_modifiers.Rotate2D()),
    ):
        with pytest.raises(ValueError):
            theirs(np.zeros((2, 3), "float32"))
        with pytest.raises(ValueError, match="Received: seed_input with shape"):
            ours(np.zeros((2, 3), "float32"))
    for kwargs, error in (({"axes": (1,)}, ValueError), ({"axes": (1.0, 2)}, TypeError)):
        with pytest.raises(error):
            tfkv_modifiers.Rotate(**kwargs)
        with pytest.raises(error, match="Received: axes="):
            input_modifiers.Rotate(**kwargs)


# ActivationMaximization side by side ----------------------------------------------------------------


def _run(model, seed_input, ours_kwargs, theirs_kwargs, index=1):
    np.random.seed(11)
    ours = am.ActivationMaximization(model)(
        scores.CategoricalScore(index), seed_input=seed_input, **ours_kwargs
    )
    np.random.seed(11)
    theirs = tfkv_am.ActivationMaximization(model)(
        tfkv_scores.CategoricalScore(index), seed_input=seed_input, **theirs_kwargs
    )
    return ours, theirs


def test_same_result_as_tfkv_with_modifiers_and_regularizers(conv_model, seed):
    before = snapshot(conv_model, seed)
    kwargs = []
    for module_mods, module_regs in ((input_modifiers, regularizers), (tfkv_modifiers, tfkv_regularizers)):
        rotate = module_mods.Rotate2D(degree=5)
        rotate.random_generator = np.random.default_rng(3)
        kwargs.append(
            {
                "steps": 6,
                "input_range": (0.0, 1.0),
                "optimizer": keras.optimizers.RMSprop(0.02, 0.999),
                "input_modifiers": [module_mods.Jitter(jitter=2), rotate],
                "regularizers": [module_regs.TotalVariation2D(weight=1.0), module_regs.Norm(weight=0.3, p=1)],
            }
        )
    small = seed / 255.0
    ours, theirs = _run(conv_model, small, *kwargs)
    assert type(ours) is type(theirs) and tf.is_tensor(ours)  # 0.8.7 returns a tensor, batch axis kept
    assert ours.shape == theirs.shape == seed.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-4)
    assert 0 <= ours.numpy().min() and ours.numpy().max() <= 1  # clipped to input_range
    assert np.abs(ours.numpy() - small).max() > 0.05  # it moved
    probability = conv_model.predict(ours.numpy(), verbose=0)[:, 1]
    assert (probability > conv_model.predict(small, verbose=0)[:, 1]).all()
    assert_unchanged(conv_model, before, seed)


@pytest.mark.parametrize("shape", [(1, 16, 16, 3), (2, 7, 9, 2), (1, 1, 5, 1)])
def test_in_graph_rotation_equals_scipy(shape):
    """The step's rotation (TensorFlow) is `scipy.ndimage.rotate`'s, reflected edges included."""
    from scipy.ndimage import rotate

    x = np.random.default_rng(1).uniform(0, 255, shape).astype("float32")
    modifier = input_modifiers.Rotate2D(degree=180.0)
    for _ in range(6):
        params = _steps.draw(modifier, "rotate", x)
        angle = np.degrees(np.arctan2(params[0, 1], params[0, 0]))
        expected = rotate(x, angle, axes=(1, 2), reshape=False, order=1, mode="reflect", prefilter=False)
        np.testing.assert_allclose(_steps.rotate(tf.constant(x), tf.constant(params)), expected, atol=1e-3)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_default_optimizer_compiled_in_chunks_equals_tfkv(seed, monkeypatch, policy):
    """0.8.7's defaults (its optimizer, loss-scaled for float16; `Jitter` and seeded `Rotate2D` in the
    compiled step): eager, then compiled one step per call, then several steps per call, all equal
    0.8.7's run."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(3)
        model = _conv_model()
    finally:
        keras.mixed_precision.set_global_policy(before)
    monkeypatch.setattr(_steps, "COMPILE_BUDGET_S", 0.0)  # Compiles at the second step.
    counts = []

    class Counted:  # Records the steps of each compiled call.
        def __init__(self, function):
            self.function = function

        def __call__(self, count, *args):
            counts.append(int(count))
            return self.function(count, *args)

        def experimental_get_tracing_count(self):
            return self.function.experimental_get_tracing_count()

    for chunk in (0.0, 1e9):
        monkeypatch.setattr(optimizer_loop, "CHUNK_SECONDS", chunk)
        kwargs = []
        for module in (input_modifiers, tfkv_modifiers):
            rotate = module.Rotate2D(degree=20)
            rotate.random_generator = np.random.default_rng(5)
            kwargs.append(
                {"steps": 5, "input_range": (0.0, 1.0), "input_modifiers": [module.Jitter(2), rotate]}
            )
        ours, theirs = _run(model, seed / 255.0, *kwargs)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-4)
        assert np.abs(ours.numpy() - seed / 255.0).max() > 0.05
        if chunk == 0.0:
            update = _step_program(model)
            monkeypatch.setattr(update, "compiled", Counted(update.compiled))
    assert counts == [1, 4]  # A measured step, then the rest in one call (bounded by `CHUNK_SECONDS`).


def test_score_rises_on_defaults_as_in_tfkv(conv_model, seed):
    """Default modifiers and regularizers (unseeded rotations): the class score rises in both, alike."""

    def log_probability(x):
        return np.log(conv_model.predict(np.asarray(x), verbose=0)[:, 1] + 1e-30).mean()

    start = log_probability(seed)
    ours, theirs = _run(conv_model, seed, {"steps": 15}, {"steps": 15}, index=1)
    ours_gain, theirs_gain = log_probability(ours) - start, log_probability(theirs) - start
    assert ours_gain > 5 and theirs_gain > 5
    assert 0.5 < ours_gain / theirs_gain < 2


def test_mixed_precision_same_result_as_tfkv(seed):
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(3)
        model = _conv_model()
    finally:
        keras.mixed_precision.set_global_policy(policy)
    ours, theirs = _run(
        model,
        seed[:1] / 255.0,
        {"steps": 4, "input_modifiers": [], "regularizers": []},
        {"steps": 4, "input_modifiers": [], "regularizers": []},
    )
    assert ours.dtype == theirs.dtype == tf.float32 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-3, atol=1e-2)  # float16 forward
    # It moved, by little: the loss-scale optimizer divides the gradient by 2**15, as in 0.8.7 on Keras 3.
    assert np.abs(ours.numpy() - seed[:1] / 255.0).max() > 1e-3


def test_two_inputs_per_input_dicts_as_tfkv(two_input_model):
    rng = np.random.RandomState(1)
    seeds = [
        rng.uniform(0, 1, (1, 8, 8, 3)).astype("float32"),
        rng.uniform(0, 1, (1, 6, 6, 3)).astype("float32"),
    ]
    kwargs = [
        {
            "steps": 5,
            "input_range": [(0.0, 1.0), (None, None)],
            "input_modifiers": {"input_1": [module.Jitter(jitter=1)]},
            "regularizers": {"input_2": [regs.Norm(weight=0.5, p=2)]},
            "activation_modifiers": {"input_2": lambda x: x * 2.0},
        }
        for module, regs in ((input_modifiers, regularizers), (tfkv_modifiers, tfkv_regularizers))
    ]
    ours, theirs = _run(two_input_model, seeds, *kwargs, index=0)
    assert isinstance(ours, list) and len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
    assert ours[0].numpy().max() <= 1.0 and ours[1].numpy().max() > 1.0  # one clipped, one free


class _Recorder(callbacks.Callback):
    def __init__(self):
        self.events = []

    def on_begin(self, **kwargs):
        self.events.append(("begin", sorted(kwargs), kwargs["steps"]))

    def __call__(self, i, values, grads, scores, model_outputs, **kwargs):
        regs = [(n, np.asarray(v)) for n, v in kwargs["regularizations"]]
        self.events.append(
            (
                "step",
                i,
                [np.asarray(v) for v in values],
                [np.asarray(g) for g in grads],
                [np.asarray(s) for s in scores],
                [np.asarray(o) for o in model_outputs],
                regs,
                [np.asarray(o) for o in kwargs["overall_score"]],
            )
        )

    def on_end(self):
        self.events.append(("end",))


def test_callbacks_called_alike(conv_model, seed):
    recorders = [_Recorder(), _Recorder()]
    kwargs = [
        {"steps": 3, "input_modifiers": [], "callbacks": [r], "input_range": (0.0, 1.0)} for r in recorders
    ]
    _run(conv_model, seed / 255.0, *kwargs, index=[0, 1])  # one class per sample
    ours, theirs = (r.events for r in recorders)
    assert (
        [e[:2] for e in ours]
        == [e[:2] for e in theirs]
        == [("begin", theirs[0][1]), ("step", 0), ("step", 1), ("step", 2), ("end",)]
    )
    assert ours[0] == theirs[0] and ours[0][2] == 3
    for a, b in zip(ours[1:-1], theirs[1:-1]):
        for got, want in zip(a[2:6], b[2:6]):  # values, grads, scores, model outputs
            assert len(got) == len(want)
            for x, y in zip(got, want):
                np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-4)
        assert [n for n, _ in a[6]] == [n for n, _ in b[6]] == ["TotalVariation2D", "Norm"]
        for (_, x), (_, y) in zip(a[6], b[6]):
            np.testing.assert_allclose(x, y, rtol=1e-4)
        for x, y in zip(a[7], b[7]):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


def test_callback_on_end_runs_when_a_step_raises(conv_model, seed):
    recorder = _Recorder()

    def broken(grads):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        am.ActivationMaximization(conv_model)(
            scores.CategoricalScore(0), seed_input=seed, steps=2, gradient_modifier=broken, callbacks=recorder
        )
    assert [e[0] for e in recorder.events] == ["begin", "end"]


def test_max_steps_cap_and_zero_steps(conv_model, seed, monkeypatch):
    monkeypatch.setenv("TF_KERAS_VIS_MAX_STEPS", "2")
    recorder = _Recorder()
    am.ActivationMaximization(conv_model)(
        scores.CategoricalScore(0), seed_input=seed, steps=50, callbacks=[recorder]
    )
    assert [e[:2] for e in recorder.events[1:-1]] == [("step", 0), ("step", 1)]
    assert recorder.events[0][2] == 50  # on_begin sees the steps asked for, as in 0.8.7
    monkeypatch.setenv("TF_KERAS_VIS_MAX_STEPS", "0")  # 0.8.7 raises UnboundLocalError here
    result = am.ActivationMaximization(conv_model)(
        scores.CategoricalScore(0), seed_input=seed * 2, input_range=(0, 300)
    )
    np.testing.assert_allclose(result.numpy(), np.clip(seed * 2, 0, 300))


def test_sequential_and_reloaded_models_give_the_functional_result(conv_model, seed, tmp_path):
    sequential = _conv_model(sequential=True)
    sequential.set_weights(conv_model.get_weights())
    path = str(tmp_path / "model.keras")
    conv_model.save(path)
    reloaded = keras.models.load_model(path)
    call = {"seed_input": seed, "steps": 3, "input_modifiers": [], "regularizers": [regularizers.Norm(p=2)]}
    expected = am.ActivationMaximization(conv_model)(scores.CategoricalScore(1), **call).numpy()
    for model in (sequential, reloaded):
        result = am.ActivationMaximization(model)(scores.CategoricalScore(1), **call)
        np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"input_range": (0, 1, 2)}, ValueError),
        ({"input_range": (0, 1.0)}, TypeError),
        ({"input_modifiers": {"nope": []}}, ValueError),
        ({"regularizers": {"nope": []}}, ValueError),
        ({"activation_modifiers": {"nope": None}}, ValueError),
        ({"regularizers": [[], []]}, ValueError),
    ],
)
def test_bad_input_raises_what_tfkv_raises(conv_model, kwargs, error):
    with pytest.raises(error):
        tfkv_am.ActivationMaximization(conv_model)(tfkv_scores.CategoricalScore(0), steps=1, **kwargs)
    with pytest.raises(error, match="Received"):
        am.ActivationMaximization(conv_model)(scores.CategoricalScore(0), steps=1, **kwargs)


def test_score_count_seed_count_and_training_errors(conv_model):
    two_seeds = [np.zeros((8, 8, 3)), np.zeros((8, 8, 3))]  # 0.8.7 silently drops the second one
    with pytest.raises(ValueError, match="1 inputs, but the number of seed inputs you passed is 2"):
        am.ActivationMaximization(conv_model)(scores.CategoricalScore(0), steps=1, seed_input=two_seeds)
    for call in (am.ActivationMaximization(conv_model), tfkv_am.ActivationMaximization(conv_model)):
        with pytest.raises(ValueError):
            call([scores.CategoricalScore(0), scores.CategoricalScore(1)], steps=1)
    with pytest.raises(ValueError, match="training"):
        am.ActivationMaximization(conv_model)(scores.CategoricalScore(0), steps=1, training=True)


# Deprecations ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["losses", "callbacks", "input_modifiers", "regularizers"])
def test_deprecated_modules_warn_on_import(name):
    module = f"vis.compat.tf_keras_vis.utils.{name}"
    sys.modules.pop(module, None)
    with pytest.warns(DeprecationWarning, match=f"utils.{name}` module is deprecated"):
        importlib.import_module(module)


def test_deprecated_aliases_and_classes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from vis.compat.tf_keras_vis.utils import callbacks as old_callbacks
        from vis.compat.tf_keras_vis.utils import input_modifiers as old_modifiers
        from vis.compat.tf_keras_vis.utils import losses as old_losses
    assert old_losses.CategoricalLoss is scores.CategoricalScore and old_losses.Loss is scores.Score
    assert (
        old_callbacks.Print is callbacks.PrintLogger
        and old_callbacks.GifGenerator is callbacks.GifGenerator2D
    )
    assert old_modifiers.Rotate2D is input_modifiers.Rotate2D
    with pytest.warns(DeprecationWarning, match="Use `Progress` instead"):
        callbacks.PrintLogger(interval=5)


def test_legacy_regularizers_equal_tfkv_and_warn(conv_model, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from tf_keras_vis.utils import regularizers as tfkv_legacy

        from vis.compat.tf_keras_vis.utils import regularizers as legacy
    inputs = [tf.constant(seed), tf.constant(seed[:, :6, :5])]
    for name, kwargs in (
        ("TotalVariation2D", {"weight": 3.0}),
        ("TotalVariation", {}),
        ("Norm", {"p": 1}),
        ("L2Norm", {}),
    ):
        with pytest.warns(DeprecationWarning, match=f"deprecated class {name}"):
            ours = getattr(legacy, name)(**kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            theirs = getattr(tfkv_legacy, name)(**kwargs)
        np.testing.assert_allclose(np.asarray(ours(inputs)), theirs(inputs).numpy(), rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = [legacy.TotalVariation2D(weight=1.0), legacy.Norm(weight=0.3, p=1)]
        mixed = [legacy.Norm(), regularizers.Norm()]
    with pytest.warns(DeprecationWarning, match="utils.regularizers.Regularizer` is deprecated"):
        result = am.ActivationMaximization(conv_model)(
            scores.CategoricalScore(0), seed_input=seed, steps=2, input_modifiers=[], regularizers=old
        )
    assert result.shape == seed.shape
    with pytest.raises(ValueError, match="cannot be mixed"):
        am.ActivationMaximization(conv_model)(scores.CategoricalScore(0), steps=1, regularizers=mixed)


def test_progress_and_gif_callbacks(conv_model, seed, tmp_path, capsys):
    path = str(tmp_path / "run")
    am.ActivationMaximization(conv_model)(
        scores.CategoricalScore(0),
        seed_input=seed,
        steps=3,
        callbacks=[callbacks.Progress(), callbacks.GifGenerator2D(path)],
    )
    from PIL import Image

    with Image.open(path + ".gif") as gif:
        assert gif.n_frames == 3 and gif.size == (8, 8)
    assert "3/3" in capsys.readouterr().out


def test_readme_example_runs_with_the_import_changed(monkeypatch):
    """tf-keras-vis's README example (imports changed) on a tiny VGG-like model instead of VGG16()."""
    from vis.compat.tf_keras_vis.activation_maximization import ActivationMaximization
    from vis.compat.tf_keras_vis.activation_maximization.callbacks import Progress
    from vis.compat.tf_keras_vis.activation_maximization.input_modifiers import Jitter, Rotate2D
    from vis.compat.tf_keras_vis.activation_maximization.regularizers import Norm, TotalVariation2D
    from vis.compat.tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer, ReplaceToLinear
    from vis.compat.tf_keras_vis.utils.scores import CategoricalScore

    monkeypatch.setenv("TF_KERAS_VIS_MAX_STEPS", "3")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="block5_conv3")(inputs)
    x = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, x)
    FILTER_INDEX = 2
    activation_maximization = ActivationMaximization(
        model, model_modifier=[ExtractIntermediateLayer("block5_conv3"), ReplaceToLinear()], clone=False
    )
    activations = activation_maximization(
        CategoricalScore(FILTER_INDEX),
        steps=200,
        input_modifiers=[Jitter(jitter=16), Rotate2D(degree=1)],
        regularizers=[TotalVariation2D(weight=1.0), Norm(weight=0.3, p=1)],
        optimizer=tf.keras.optimizers.RMSprop(1.0, 0.999),
        callbacks=[Progress()],
    )
    assert activations.shape == (1, 16, 16, 3)
    assert 0 <= float(tf.reduce_min(activations)) and float(tf.reduce_max(activations)) <= 255


def _step_program(model, loss="Norm"):
    """The compiled steps (`_steps.Steps.update`) of the model's act-max program."""
    from vis import engine

    programs = engine._cache_of(engine._owner(model.inputs)).values()
    (program,) = [p for p in programs if loss in p.loss_names and _steps._KEY in p.__dict__]
    (steps,) = program.__dict__[_steps._KEY].values()
    return steps.update


def test_tensor_seed_short_runs_eager_long_runs_compiled(seed, monkeypatch):
    """A tensor seed (tf-keras-vis #93, #102) without the batch axis. On a fresh model a run stays
    eager while the rest of it would cost less than a compile (as cheap as 0.8.7's tape); beyond
    that it compiles (no fallback warning), and later runs use the compiled program."""

    model = _conv_model()
    call = am.ActivationMaximization(model)
    kwargs = {"seed_input": tf.constant(seed[0] / 255.0), "input_range": (0.0, 1.0)}
    monkeypatch.setattr(_steps, "COMPILE_BUDGET_S", 1e9)
    result = call(scores.CategoricalScore(0), steps=3, **kwargs)
    assert tf.is_tensor(result) and result.shape == (1, 8, 8, 3)
    step = _step_program(model)
    assert not step.ready and step.calls == 3
    monkeypatch.setattr(_steps, "COMPILE_BUDGET_S", 0.0)  # any eager rest costs more than a compile
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        call(scores.CategoricalScore(1), steps=3, **kwargs)
    assert step.ready and step.calls == 4  # compiled from step 2
    monkeypatch.setattr(_steps, "COMPILE_BUDGET_S", 1e9)
    call(scores.CategoricalScore(0), steps=2, **kwargs)
    assert step.calls == 4  # compiled now: never eager again


def test_a_loop_of_short_runs_compiles_once_their_eager_steps_cost_a_compile(seed, monkeypatch):
    """Short runs on one model stay eager only until their eager steps add up to a compile: a loop of
    20-step calls must not stay eager (and slower than 0.8.7) forever. A fake clock makes each
    step cost 0.1 s against a 0.5 s budget: runs 1 and 2 (0.4 s) stay eager, run 3 compiles."""
    import types

    ticks = iter(range(10**6))
    monkeypatch.setattr(_steps, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks) * 0.1))
    monkeypatch.setattr(_steps, "COMPILE_BUDGET_S", 0.5)
    model = _conv_model()
    call = am.ActivationMaximization(model)
    kwargs = {"seed_input": seed[0] / 255.0, "input_range": (0.0, 1.0), "steps": 2}
    call(scores.CategoricalScore(0), **kwargs)
    step = _step_program(model)
    call(scores.CategoricalScore(1), **kwargs)
    assert not step.ready and step.calls == 4
    call(scores.CategoricalScore(0), **kwargs)
    assert step.ready and step.calls == 5  # step 2 of run 3 compiled


def test_user_score_and_regularizer_functions_run_as_written(conv_model, seed):
    """A lambda score and a Regularizer subclass in TensorFlow ops give 0.8.7's result."""

    class Mean(regularizers.Regularizer):
        def __call__(self, x):
            return tf.reduce_mean(tf.square(x), axis=[1, 2, 3]) * 0.1

    class TheirMean(tfkv_regularizers.Regularizer):
        def __call__(self, x):
            return tf.reduce_mean(tf.square(x), axis=[1, 2, 3]) * 0.1

    small, results = seed / 255.0, []
    for visualizer, regularizer in (
        (am.ActivationMaximization, Mean("m")),
        (tfkv_am.ActivationMaximization, TheirMean("m")),
    ):
        results.append(
            visualizer(conv_model)(
                lambda output: output[:, 1],
                seed_input=small,
                steps=3,
                input_range=(0.0, 1.0),
                input_modifiers=[],
                regularizers=[regularizer],
                optimizer=keras.optimizers.RMSprop(0.02, 0.999),
            ).numpy()
        )
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-5)
    assert np.abs(results[0] - small).max() > 0.01


def test_two_outputs_unbounded_range_and_activation_modifier_as_tfkv(seed):
    keras.utils.set_random_seed(6)
    inputs = keras.Input((8, 8, 3), name="input_1")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 3, activation="relu")(inputs))
    model = keras.Model(inputs, [keras.layers.Dense(2)(x), keras.layers.Dense(1, activation="sigmoid")(x)])
    results, recorders = [], [_Recorder(), _Recorder()]
    for visualizer, score_module, recorder in (
        (am.ActivationMaximization, scores, recorders[0]),
        (tfkv_am.ActivationMaximization, tfkv_scores, recorders[1]),
    ):
        score = [score_module.CategoricalScore(1), score_module.BinaryScore(False)]
        results.append(
            visualizer(model)(
                score,
                seed_input=seed / 255.0,
                steps=3,
                input_range=None,
                input_modifiers=[],
                regularizers=[],
                activation_modifiers=lambda x: x * 10.0,
                callbacks=recorder,
                optimizer=keras.optimizers.RMSprop(0.05, 0.999),
            ).numpy()
        )
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-4)
    assert np.abs(results[0] - seed * 10.0 / 255.0).max() > 0.1  # it moved, then was scaled
    ours, theirs = recorders[0].events[3], recorders[1].events[3]
    assert len(ours[4]) == len(theirs[4]) == 2  # one score per output
    for x, y in zip(ours[4] + ours[5], theirs[4] + theirs[5]):  # scores and model outputs
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


def test_a_sequential_saved_by_another_process_gives_the_functional_result(seed, tmp_path):
    from tests.models import saved_by_another_process
    from vis.compat.tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    path = saved_by_another_process(
        tmp_path / "m.keras",
        "keras.Input((8, 8, 3)), layers.Conv2D(4, 3, activation='relu'), layers.GlobalAveragePooling2D(),"
        " layers.Dense(2), layers.Activation('softmax')",
    )
    reloaded = keras.models.load_model(path)
    functional = _conv_model()
    functional.set_weights(reloaded.get_weights())
    before = snapshot(reloaded, seed)
    call = {"seed_input": seed, "steps": 3, "input_modifiers": [], "regularizers": [regularizers.Norm(p=2)]}
    expected = am.ActivationMaximization(functional)(scores.CategoricalScore(1), **call).numpy()
    got = am.ActivationMaximization(reloaded, model_modifier=ReplaceToLinear())(
        scores.CategoricalScore(1), **call
    )
    linear = am.ActivationMaximization(functional, model_modifier=ReplaceToLinear())(
        scores.CategoricalScore(1), **call
    )
    np.testing.assert_allclose(got.numpy(), linear.numpy(), rtol=1e-5, atol=1e-4)
    assert not np.allclose(linear.numpy(), expected, atol=1e-3)  # the modifier did change the score
    assert_unchanged(reloaded, before, seed)


def test_negative_steps_are_named(conv_model):
    with pytest.raises(ValueError, match="Received: steps=-3"):
        am.ActivationMaximization(conv_model)(scores.CategoricalScore(0), steps=-3)


def test_a_call_made_during_another_on_the_same_model_leaves_it_unchanged(conv_model, seed):
    """A callback calling the visualiser again, and threads: each call gets the serial result."""
    visualizer = am.ActivationMaximization(conv_model)

    def run(x, **kwargs):
        return visualizer(scores.CategoricalScore(1), seed_input=x, input_modifiers=[], steps=12, **kwargs)

    alone = [run(seed[i : i + 1]) for i in range(2)]

    class Reenter(callbacks.Callback):
        inner = None

        def __call__(self, i, *args, **kwargs):
            if i == 3:
                self.inner = run(seed[1:2])

    reenter = Reenter()
    outer = run(seed[0:1], callbacks=[reenter])
    np.testing.assert_allclose(outer, alone[0], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(reenter.inner, alone[1], rtol=1e-5, atol=1e-4)

    import threading

    barrier, results = threading.Barrier(4), {}

    def work(k):
        barrier.wait()
        results[k] = run(seed[k % 2 : k % 2 + 1])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for k in range(4):
        np.testing.assert_allclose(results[k], alone[k % 2], rtol=1e-5, atol=1e-4)
