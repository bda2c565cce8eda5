"""Bad input: every case of docs/errors.md, and the user's model untouched after any exception.

`CASES` is the table of docs/errors.md, row for row (a test checks the two
agree). Each case calls a public function with one bad argument and expects
the documented error type and a message that names the argument and echoes
the value (Keras style, "Received: filter_indices=12"); afterwards the
model's weights, activations, trainable flags and predictions and the
caller's seed array are as before.
"""

import os
import re
import tempfile

import keras
import numpy as np
import pytest
from keras import layers

from tests.conftest import assert_unchanged, snapshot
from tests.models import small_cnn
from vis import cli, engine, metrics
from vis.losses import ActivationMaximization, PerSample
from vis.utils import utils
from vis.visualization import (
    overlay,
    visualize_activation,
    visualize_cam,
    visualize_cam_plus_plus,
    visualize_integrated_gradients,
    visualize_saliency,
    visualize_score_cam,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (12, 12, 3)
SEED = np.random.default_rng(0).random(SHAPE).astype("float32")


class NoMethods:
    """An object passed where a callback is expected."""


def _argmax_model():
    keras.utils.set_random_seed(0)
    inp = keras.Input(SHAPE)
    logits = layers.Dense(4, name="logits")(layers.Flatten()(inp))
    picked = layers.Lambda(
        lambda t: keras.ops.cast(keras.ops.argmax(t, axis=-1), "float32")[:, None], name="argmax_head"
    )(logits)
    return keras.Model(inp, layers.Dense(2, name="out")(picked))


def _saliency(**changes):
    args = {"layer_idx": -1, "filter_indices": 0, "seed_input": SEED, **changes}
    return lambda m: visualize_saliency(m, **args)


def _cam(**changes):
    args = {"layer_idx": -1, "filter_indices": 0, "seed_input": SEED, **changes}
    return lambda m: visualize_cam(m, **args)


def _deletion(**changes):
    args = {"layer_idx": -1, "filter_indices": 0, "seed_input": SEED, "maps": SEED[..., 0], **changes}
    return lambda m: metrics.deletion(m, **args)


def _ig(**changes):
    args = {"layer_idx": -1, "filter_indices": 0, "seed_input": SEED, **changes}
    return lambda m: visualize_integrated_gradients(m, **args)


def _score_cam(**changes):
    args = {"layer_idx": -1, "filter_indices": 0, "seed_input": SEED, **changes}
    return lambda m: visualize_score_cam(m, **args)


def _activation(**changes):
    args = {"layer_idx": -1, "filter_indices": 0, "max_iter": 3, **changes}
    return lambda m: visualize_activation(m, **args)


# (id, call on the model, error type, pattern the message must match)
TOKENS = np.arange(12) % 7  # Token ids for `_token_model`.

CASES = [
    ("seed-rank", _saliency(seed_input=SEED[0]), ValueError, r"Received: seed_input with shape \(12, 3\)"),
    (
        "seed-size",
        _saliency(seed_input=SEED[:10]),
        ValueError,
        r"Received: seed_input with shape \(10, 12, 3\)",
    ),
    ("seed-nan", _saliency(seed_input=np.where(SEED > 0.5, np.nan, SEED)), ValueError, r"NaN.*seed_input"),
    ("seed-inf", _saliency(seed_input=np.where(SEED > 0.5, np.inf, SEED)), ValueError, r"inf.*seed_input"),
    ("seed-type", _saliency(seed_input="cat.png"), TypeError, r"seed_input"),
    ("filter-negative", _saliency(filter_indices=-1), ValueError, r"Received: filter_indices=-1"),
    ("filter-range", _saliency(filter_indices=12), ValueError, r"\[0, 4\).*Received: filter_indices=12"),
    ("filter-type", _saliency(filter_indices=1.5), TypeError, r"Received: filter_indices=1.5"),
    ("filter-bool", _saliency(filter_indices=True), TypeError, r"Received: filter_indices=True"),
    ("layer-range", _saliency(layer_idx=9), ValueError, r"4 layers.*Received: layer_idx=9"),
    (
        "layer-name",
        _saliency(layer_idx="nope"),
        ValueError,
        r"No layer named 'nope' in model '\w+' or its nested models\. Received: layer_idx='nope'",
    ),
    ("layer-type", _saliency(layer_idx=1.0), TypeError, r"Received: layer_idx=1.0"),
    (
        "model-type",
        lambda m: visualize_saliency("model.keras", -1, 0, SEED),
        TypeError,
        r"model='model.keras'",
    ),
    (
        "penultimate-not-spatial",
        _cam(penultimate_layer_idx="flatten"),
        ValueError,
        r"spatial axes.*Received: penultimate_layer_idx='flatten'",
    ),
    (
        "penultimate-after-layer",
        _cam(layer_idx="conv", penultimate_layer_idx="pool"),
        ValueError,
        r"comes after.*Received: penultimate_layer_idx='pool'",
    ),
    ("penultimate-unknown", _cam(penultimate_layer_idx="nope"), ValueError, r"penultimate_layer_idx='nope'"),
    (
        "input-range-reversed",
        _activation(input_range=(1.0, 0.0)),
        ValueError,
        r"min < max.*Received: input_range=\(1.0, 0.0\)",
    ),
    ("max-iter", _activation(max_iter=0), ValueError, r"Received: max_iter=0"),
    ("backprop-modifier", _saliency(backprop_modifier="guidedd"), ValueError, r"backprop_modifier='guidedd'"),
    (
        "grad-modifier",
        _saliency(grad_modifier="abs"),
        ValueError,
        r"'absolute'.*Received: grad_modifier='abs'",
    ),
    ("input-modifier", _activation(input_modifiers=["wobble"]), ValueError, r"input_modifiers='wobble'"),
    ("callback", _activation(callbacks=[NoMethods()]), TypeError, r"on_end.*Received: callbacks containing"),
    (
        "loss-weights",
        _activation(act_max_weight=0, lp_norm_weight=0, tv_weight=0),
        ValueError,
        r"non-zero weight",
    ),
    ("overlay-alpha", lambda m: overlay(SEED, SEED, alpha=2), ValueError, r"Received: alpha=2"),
    (
        "not-differentiable",
        lambda m: visualize_saliency(_argmax_model(), -1, 0, SEED),
        ValueError,
        r"layer 'argmax_head' has no gradient",
    ),
    (
        "layer-close-match",
        _saliency(layer_idx="predz"),
        ValueError,
        r"Close matches: 'preds'.*layer_idx='predz'",
    ),
    (
        "layer-old-name",
        _saliency(layer_idx="fc1000"),
        ValueError,
        r"'fc1000' is a Keras 2 keras.applications name, now 'predictions'.*Received: layer_idx='fc1000'",
    ),
    (
        "seeds-multi-input",
        lambda m: visualize_saliency(_two_input_model(), -1, 0, SEED),
        TypeError,
        r"2 inputs \['image', 'features'\].*Received: seed_input of type ndarray with shape \(12, 12, 3\)",
    ),
    (
        "seeds-multi-names",
        lambda m: visualize_saliency(_two_input_model(), -1, 0, {"image": SEED, "vector": SEED[0, 0]}),
        ValueError,
        r"one seed per input name.*Received: seed_input with keys \['image', 'vector'\]",
    ),
    (
        "seeds-multi-batch",
        lambda m: visualize_saliency(_two_input_model(), -1, 0, [SEED, np.ones((2, 3), "float32")]),
        ValueError,
        r"same number of samples. Received: batch sizes \[1, 2\]",
    ),
    (
        "token-ids",
        lambda m: visualize_saliency(_text_model(), -1, 0, np.arange(5)),
        ValueError,
        r"int32.*wrt_tensor=model.get_layer\('embedding'\).output.*Received: wrt_tensor=None",
    ),
    (
        "token-ids-activation",
        lambda m: visualize_activation(_text_model(), -1, 0),
        ValueError,
        r"gradient descent cannot change.*wrt_tensor=model.get_layer\('embedding'\).output",
    ),
    (
        "metrics-maps-shape",
        _deletion(maps=SEED[:5, :5, 0]),
        ValueError,
        r"one map per seed: shape \(1, 12, 12\).*Received: maps with shape \(5, 5\)",
    ),
    ("metrics-maps-nan", _deletion(maps=np.full((12, 12), np.nan)), ValueError, r"NaN or inf.*maps"),
    ("metrics-steps", _deletion(steps=0), ValueError, r"Received: steps=0"),
    ("metrics-steps-pixels", _deletion(steps=145), ValueError, r"144 pixels.*Received: steps=145"),
    ("metrics-baseline", _deletion(baseline="noise"), ValueError, r"'blur'.*Received: baseline='noise'"),
    (
        "metrics-baseline-shape",
        _deletion(baseline=np.zeros((5, 3))),
        ValueError,
        r"broadcastable.*Received: baseline with shape \(5, 3\)",
    ),
    ("metrics-filter", _deletion(filter_indices="label"), ValueError, r"'predicted'.*filter_indices='label'"),
    (
        "metrics-per-sample",
        _deletion(filter_indices=PerSample([0, 1])),
        ValueError,
        r"one class per seed: 1 for these seeds. Received: filter_indices=PerSample\(\[0, 1\]\)",
    ),
    (
        "metrics-multi-input",
        lambda m: metrics.deletion(_two_input_model(), -1, 0, [SEED, SEED[0, 0]], SEED[..., 0]),
        ValueError,
        r"one input of a model.*2 inputs \['image', 'features'\]",
    ),
    (
        "pointing-box-range",
        lambda m: metrics.pointing_game(SEED[..., 0], [0, 2, 13, 5]),
        ValueError,
        r"x_max <= 12.*Received: boxes_or_masks\[0\]=\[0, 2, 13, 5\]",
    ),
    (
        "pointing-shape",
        lambda m: metrics.pointing_game(SEED[None, ..., 0], np.ones((1, 5, 5), bool)),
        ValueError,
        r"Received: boxes_or_masks with shape \(1, 5, 5\)",
    ),
    (
        "pointing-tolerance",
        lambda m: metrics.pointing_game(SEED[..., 0], [0, 0, 4, 4], -1),
        ValueError,
        r"tolerance=-1",
    ),
    (
        "metrics-method",
        lambda m: metrics.randomization_test("gradkam", m, -1, 0, SEED),
        ValueError,
        r"'gradcam'.*Received: method='gradkam'",
    ),
    (
        "randomization-layers",
        lambda m: metrics.randomization_test("saliency", m, -1, 0, SEED, layers="all"),
        ValueError,
        r"'cascading' or 'independent'. Received: layers='all'",
    ),
    (
        "randomization-no-weights",
        lambda m: metrics.randomization_test("saliency", _weightless_model(), "gap", 0, SEED),
        ValueError,
        r"No layer with weights at or below layer 'gap'.*Received: layer_idx='gap'",
    ),
    ("smooth-samples", _saliency(smooth_samples=-1), ValueError, r">= 0.*Received: smooth_samples=-1"),
    ("smooth-samples-type", _saliency(smooth_samples=2.5), TypeError, r"Received: smooth_samples=2.5"),
    (
        "smooth-noise",
        _saliency(smooth_samples=2, smooth_noise=-0.1),
        ValueError,
        r"fraction.*Received: smooth_noise=-0.1",
    ),
    ("batch-size", _saliency(smooth_samples=2, batch_size=0), ValueError, r">= 1.*Received: batch_size=0"),
    ("ig-steps", _ig(steps=0), ValueError, r"`steps` must be an int >= 1. Received: steps=0"),
    (
        "ig-baseline-shape",
        _ig(baseline=SEED[:10]),
        ValueError,
        r"`baseline` must have shape \(12, 12, 3\).*Received: baseline with shape \(10, 12, 3\)",
    ),
    (
        "ig-baseline-batch",
        _ig(seed_input=np.stack([SEED] * 3), baseline=np.stack([SEED] * 2)),
        ValueError,
        r"one baseline per seed.*Received: baseline with shape \(2, 12, 12, 3\)",
    ),
    ("max-n", _score_cam(max_n=0), ValueError, r"`max_n` must be an int >= 1.*Received: max_n=0"),
    ("max-n-channels", _score_cam(max_n=99), ValueError, r"at most the 4 channels.*Received: max_n=99"),
    (
        "score-cam-integer-input",
        lambda m: visualize_score_cam(_token_model(), -1, 0, np.arange(12) % 7),
        ValueError,
        r"cannot be scaled.*visualize_cam.*Received: seed_input for an input of dtype int32",
    ),
    (
        "deletion-blur-integer-input",
        lambda m: metrics.deletion(_token_model(), -1, 0, TOKENS, np.arange(12.0), baseline="blur"),
        ValueError,
        r"blurs pixel values.*padding id.*Received: baseline='blur' for seeds of dtype int",
    ),
    (
        "deletion-fractional-baseline-integer-input",
        lambda m: metrics.insertion(_token_model(), -1, 0, TOKENS, np.arange(12.0), baseline=0.5),
        ValueError,
        r"`baseline` must hold integers too.*Received: baseline=0.5",
    ),
    (
        "engine-also-wrt-type",
        lambda m: _engine_call(m, also_wrt=[np.zeros(3)]),
        TypeError,
        r"`also_wrt` must be a list of Keras tensors.*Received: also_wrt=\[array",
    ),
    (
        "engine-also-wrt-with-wrt-tensor",
        lambda m: _engine_call(m, wrt_tensor=m.layers[1].output, also_wrt=[m.layers[0].output]),
        ValueError,
        r"pass `wrt_tensor=None`.*Received: also_wrt=\[<KerasTensor.*with wrt_tensor=<KerasTensor",
    ),
    (
        "score-cam-modifier",
        _score_cam(backprop_modifier="guided"),
        ValueError,
        r"forward passes only.*Received: backprop_modifier='guided'",
    ),
    (
        "cam-method",
        lambda m: cli.cam_method("gradkam"),
        ValueError,
        r"unknown --method 'gradkam': use one of gradcam, gradcam\+\+.*Received: --method gradkam",
    ),
]


def _two_input_model():
    image, vector = keras.Input(SHAPE, name="image"), keras.Input((3,), name="features")
    x = layers.Concatenate()([layers.Flatten()(image), vector])
    return keras.Model([image, vector], layers.Dense(2)(x))


def _engine_call(model, **kwargs):
    losses = [(ActivationMaximization(model.get_layer("preds"), 0), -1)]
    return engine.compute(model.inputs, losses, SEED[None], **kwargs)


def _weightless_model():
    return keras.Sequential([keras.Input(SHAPE), layers.GlobalAveragePooling2D(name="gap")])


def _text_model():
    tokens = keras.Input((5,), dtype="int32")
    x = layers.GlobalAveragePooling1D()(layers.Embedding(10, 3, name="embedding")(tokens))
    return keras.Model(tokens, layers.Dense(2)(x))


def _token_model():
    tokens = keras.Input((12,), dtype="int32")
    x = layers.Conv1D(4, 3, activation="relu")(layers.Embedding(10, 3)(tokens))
    return keras.Model(tokens, layers.Dense(2)(layers.GlobalAveragePooling1D()(x)))


@pytest.fixture(scope="module")
def model():
    return small_cnn(SHAPE, classes=4)


@pytest.mark.parametrize("case_id, call, error, pattern", CASES, ids=[case[0] for case in CASES])
def test_bad_input_raises_a_clear_error_and_leaves_everything_as_it_was(model, case_id, call, error, pattern):
    probe = SEED[None]
    before, seed_before = snapshot(model, probe), SEED.copy()
    with pytest.raises(error, match=f"(?s){pattern}") as raised:
        call(model)
    assert type(raised.value) in (ValueError, TypeError) or issubclass(type(raised.value), error)
    assert "Traceback" not in str(raised.value) and "in user code" not in str(raised.value)
    assert_unchanged(model, before, probe)
    np.testing.assert_array_equal(SEED, seed_before)


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float64"])
def test_integer_and_float64_images_are_accepted_and_cast(model, dtype):
    pixels = (SEED * 255).astype(dtype)
    expected = visualize_saliency(model, -1, 0, pixels.astype("float32"))
    saliency = visualize_saliency(model, -1, 0, pixels)
    assert saliency.dtype == np.float32
    np.testing.assert_allclose(saliency, expected, atol=1e-6)


def test_the_docs_table_lists_exactly_these_cases():
    with open(os.path.join(ROOT, "docs", "errors.md"), encoding="utf-8") as f:
        rows = [line for line in f if re.match(r"\| `[a-z-]+` \|", line)]
    documented = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        documented[cells[0].strip("`")] = cells[-1]
    assert set(documented) == {case[0] for case in CASES} | {"seed-dtype"}
    for case_id, _, error, _ in CASES:
        assert error.__name__ in documented[case_id], case_id
    assert "accepted" in documented["seed-dtype"]


class BoomError(RuntimeError):
    """An error raised on purpose inside a public function."""


def _raise_after(calls: int):
    count = {"n": 0}

    def hook(*args):
        count["n"] += 1
        if count["n"] >= calls:
            raise BoomError("raised inside")
        return args[0] if args else None

    return hook


class FailingCallback:
    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        if i == 2:
            raise BoomError("callback failed at step 2")

    def on_end(self):
        pass


class FailingModifier:
    def pre(self, x):
        raise BoomError("pre failed")

    def post(self, x):
        return x


SMOOTH_ONE_BY_ONE = {"smooth_samples": 3, "batch_size": 1}

INSIDE = {
    "grad modifier after guided backprop": lambda m: visualize_saliency(
        m, -1, 0, SEED, backprop_modifier="guided", grad_modifier=_raise_after(1)
    ),
    "grad modifier in grad-CAM": lambda m: visualize_cam(m, -1, 0, SEED, grad_modifier=_raise_after(1)),
    "grad modifier in grad-CAM++": lambda m: visualize_cam_plus_plus(
        m, -1, 0, SEED, grad_modifier=_raise_after(1)
    ),
    "grad modifier in guided SmoothGrad, second copy": lambda m: visualize_saliency(
        m, -1, 0, SEED, backprop_modifier="guided", grad_modifier=_raise_after(2), **SMOOTH_ONE_BY_ONE
    ),
    "callback at step 2": lambda m: visualize_activation(m, -1, 0, max_iter=5, callbacks=[FailingCallback()]),
    "input modifier": lambda m: visualize_activation(
        m, -1, 0, max_iter=5, input_modifiers=[FailingModifier()]
    ),
    "backprop modifier model -> model": lambda m: visualize_saliency(
        m, -1, 0, SEED, backprop_modifier=_raise_after(1)
    ),
}


@pytest.mark.parametrize("where", list(INSIDE))
def test_model_untouched_after_an_exception_inside_a_public_function(where):
    model = small_cnn(SHAPE, classes=4)
    model.layers[-1].activation = keras.activations.softmax
    model = utils.apply_modifications(model)
    probe = SEED[None]
    before = snapshot(model, probe)
    with pytest.raises(BoomError):
        INSIDE[where](model)
    assert_unchanged(model, before, probe)
    # And the next call works and equals a call on an untouched copy.
    copy = small_cnn(SHAPE, classes=4)
    copy.layers[-1].activation = keras.activations.softmax
    copy = utils.apply_modifications(copy)
    np.testing.assert_allclose(
        visualize_saliency(model, -1, 0, SEED, backprop_modifier="guided"),
        visualize_saliency(copy, -1, 0, SEED, backprop_modifier="guided"),
        atol=1e-6,
    )


def test_no_file_is_written(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    visualize_saliency(model, -1, 0, SEED, backprop_modifier="guided")
    visualize_cam(model, -1, 0, SEED)
    visualize_activation(model, -1, 0, max_iter=3)
    utils.apply_modifications(model)
    visualize_saliency(model, -1, 0, SEED, smooth_samples=2)
    visualize_integrated_gradients(model, -1, 0, SEED, steps=2)
    visualize_score_cam(model, -1, 0, SEED, max_n=2)
    assert os.listdir(tmp_path) == []


def test_cases_have_unique_ids():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-z-]+", i) for i in ids)


def test_caller_lists_are_not_modified(model):
    filters, modifiers, callbacks = [2, 0], ["jitter"], [FailingCallback()]
    copies = (list(filters), list(modifiers), list(callbacks))
    visualize_saliency(model, -1, filters, SEED)
    visualize_cam(model, -1, filters, SEED)
    visualize_activation(model, -1, filters, max_iter=2, input_modifiers=modifiers, callbacks=callbacks)
    assert (filters, modifiers, callbacks) == copies
