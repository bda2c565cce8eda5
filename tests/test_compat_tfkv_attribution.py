"""`vis.compat.tf_keras_vis`'s attribution classes side by side with tf-keras-vis 0.8.7.

On Functional models (where 0.8.7 works, float32 and mixed_float16) every
visualiser's maps equal 0.8.7's for every score and model modifier, with one
and several inputs and outputs; on Sequential, nested and reloaded models
(where 0.8.7 fails) the compat maps equal those of a Functional copy; bad
input raises what 0.8.7 raises; the user's model is never changed.
"""

import importlib
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import assert_unchanged, snapshot

pytest.importorskip("tf_keras_vis")

import vis.compat.tf_keras_vis as compat  # noqa: E402
from vis.compat.tf_keras_vis.utils import test as mocks  # noqa: E402


def both(module: str, name: str):
    """The class or function `name` of tf-keras-vis 0.8.7's module, and of ours."""
    theirs = importlib.import_module(f"tf_keras_vis.{module}")
    ours = importlib.import_module(f"vis.compat.tf_keras_vis.{module}")
    return getattr(theirs, name), getattr(ours, name)


def scores(*specs):
    """Each spec `(kind, arg)` as tf-keras-vis's score and as ours."""
    theirs = importlib.import_module("tf_keras_vis.utils.scores")
    ours = importlib.import_module("vis.compat.tf_keras_vis.utils.scores")

    def make(module, kind, arg):
        if kind == "inactive":
            return module.InactiveScore()
        if kind == "callable":
            return getattr(mocks, arg)
        return getattr(module, kind)(arg)

    return [make(theirs, *s) for s in specs], [make(ours, *s) for s in specs]


VISUALISERS = [
    ("saliency", "Saliency"),
    ("gradcam", "Gradcam"),
    ("gradcam_plus_plus", "GradcamPlusPlus"),
    ("layercam", "Layercam"),
    ("scorecam", "Scorecam"),
]
CAMS = VISUALISERS[1:]


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(3)
    return {
        "conv": mocks.mock_conv_model(),
        "multi_io": mocks.mock_multiple_io_model(),
        "multi_out": mocks.mock_multiple_outputs_model(),
        "sigmoid": mocks.mock_conv_model_with_sigmoid_output(),
    }


@pytest.fixture(scope="module")
def mixed_models():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(4)
        return {"conv": mocks.mock_conv_model(), "multi_io": mocks.mock_multiple_io_model()}
    finally:
        keras.mixed_precision.set_global_policy("float32")


def seeds_for(model, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.random((batch, *t.shape[1:]), dtype="float32") for t in model.inputs]
    return arrays if len(arrays) > 1 else arrays[0]


def assert_maps_equal(a, b, rtol=1e-4, atol=1e-5):
    assert type(a) is type(b) or (isinstance(a, np.ndarray) and isinstance(b, np.ndarray))
    for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape
        assert np.isfinite(y).all()
        np.testing.assert_allclose(y, x, rtol=rtol, atol=atol)


def run_both(module, name, model, score_specs, seed, **kwargs):
    theirs_cls, ours_cls = both(module, name)
    theirs_score, ours_score = scores(*score_specs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs_cls(model)(
            theirs_score if len(theirs_score) > 1 else theirs_score[0], seed, **kwargs
        )
        got = ours_cls(model)(ours_score if len(ours_score) > 1 else ours_score[0], seed, **kwargs)
    return expected, got


@pytest.mark.parametrize("module,name", VISUALISERS)
@pytest.mark.parametrize(
    "model_key,specs",
    [
        ("conv", [("CategoricalScore", [1, 0])]),
        ("conv", [("callable", "score_with_tuple")]),
        ("multi_io", [("CategoricalScore", 1), ("BinaryScore", [True, False])]),
        ("multi_out", [("inactive", None), ("BinaryScore", False)]),
        ("multi_out", [("CategoricalScore", [0]), ("callable", "score_with_tensor")]),
    ],
)
def test_maps_equal_tf_keras_vis(models, module, name, model_key, specs):
    model = models[model_key]
    expected, got = run_both(module, name, model, specs, seeds_for(model))
    assert_maps_equal(expected, got)


@pytest.mark.parametrize("module,name", CAMS)
def test_cams_unexpanded_unnormalised_and_keyword_variants(models, module, name):
    model = models["conv"]
    seed = seeds_for(model, 3)
    kwargs = {"expand_cam": False, "normalize_cam": False, "penultimate_layer": "conv_1"}
    expected, got = run_both(module, name, model, [("CategoricalScore", [1, 0, 1])], seed, **kwargs)
    assert got.shape == (3, 6, 6) and np.ptp(got) > 0
    assert_maps_equal(expected, got)
    modifier = {"activation_modifier": None}
    expected, got = run_both(module, name, model, [("CategoricalScore", 0)], seed, **modifier)
    assert_maps_equal(expected, got)


def test_scorecam_max_n_and_batch_size(models):
    model = models["conv"]
    for kwargs in ({"max_N": 2}, {"batch_size": 5}, {"max_N": 6, "batch_size": 1}):
        expected, got = run_both(
            "scorecam", "Scorecam", model, [("CategoricalScore", 1)], seeds_for(model, 3), **kwargs
        )
        assert_maps_equal(expected, got)
    assert both("scorecam", "ScoreCAM")[1] is both("scorecam", "Scorecam")[1]


def test_saliency_keywords(models):
    model = models["multi_io"]
    specs = [("CategoricalScore", 0), ("inactive", None)]
    for kwargs in ({"keepdims": True}, {"normalize_map": False}, {"gradient_modifier": None}):
        expected, got = run_both("saliency", "Saliency", model, specs, seeds_for(model), **kwargs)
        assert_maps_equal(expected, got)


def test_smoothgrad_without_noise_is_saliency_and_the_step_cap_applies(models, monkeypatch):
    """Noise aside (its draws differ), SmoothGrad equals 0.8.7's: with no noise, the plain gradient."""
    model = models["conv"]
    seed = seeds_for(model)
    kwargs = {"smooth_samples": 4, "smooth_noise": 0.0}
    expected, got = run_both("saliency", "Saliency", model, [("CategoricalScore", 1)], seed, **kwargs)
    assert_maps_equal(expected, got)
    monkeypatch.setenv("TF_KERAS_VIS_MAX_STEPS", "2")
    assert compat.utils.get_num_of_steps_allowed(20) == 2


def test_smoothgrad_statistics_match(models):
    """With noise, the mean map over 40 copies agrees with 0.8.7's (same noise law, other draws)."""
    model = models["conv"]
    seed = seeds_for(model, 1)
    kwargs = {"smooth_samples": 40, "smooth_noise": 0.2, "normalize_map": False}
    expected, got = run_both("saliency", "Saliency", model, [("CategoricalScore", 1)], seed, **kwargs)
    plain = run_both("saliency", "Saliency", model, [("CategoricalScore", 1)], seed, normalize_map=False)[1]
    assert abs(got.mean() / expected.mean() - 1) < 0.15
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.8
    assert np.abs(got - plain).max() > 1e-4  # the noise did something


@pytest.mark.parametrize("module,name", VISUALISERS)
def test_mixed_precision_maps_equal_tf_keras_vis(mixed_models, module, name):
    for key, specs in [
        ("conv", [("CategoricalScore", 1)]),
        ("multi_io", [("CategoricalScore", 0), ("BinaryScore", 1)]),
    ]:
        model = mixed_models[key]
        expected, got = run_both(module, name, model, specs, seeds_for(model))
        assert_maps_equal(expected, got, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("module,name", VISUALISERS)
def test_model_modifiers_match_and_leave_the_model_unchanged(models, module, name):
    theirs_mm = importlib.import_module("tf_keras_vis.utils.model_modifiers")
    ours_mm = importlib.import_module("vis.compat.tf_keras_vis.utils.model_modifiers")
    model = models["conv"]
    seed = seeds_for(model)
    before = snapshot(model, seed)
    theirs_cls, ours_cls = both(module, name)
    theirs_score, ours_score = scores(("CategoricalScore", 1))
    choices = [["ReplaceToLinear"], ["GuidedBackpropagation", "ReplaceToLinear"]]
    for names in choices if module != "scorecam" else choices[:1]:
        theirs = theirs_cls(model, [getattr(theirs_mm, n)() for n in names])(theirs_score[0], seed)
        ours = ours_cls(model, [getattr(ours_mm, n)() for n in names])(ours_score[0], seed)
        assert_maps_equal(theirs, ours)
    assert_unchanged(model, before, seed)


def test_extract_intermediate_layer_matches(models):
    theirs_mm = importlib.import_module("tf_keras_vis.utils.model_modifiers")
    ours_mm = importlib.import_module("vis.compat.tf_keras_vis.utils.model_modifiers")
    theirs_cls, ours_cls = both("saliency", "Saliency")
    theirs_score, ours_score = scores(("CategoricalScore", [2, 4]))
    model, seed = models["conv"], seeds_for(models["conv"])
    theirs = theirs_cls(model, theirs_mm.ExtractIntermediateLayer("conv_1"))(theirs_score[0], seed)
    ours = ours_cls(model, ours_mm.ExtractIntermediateLayer("conv_1"))(ours_score[0], seed)
    assert_maps_equal(theirs, ours)


def test_guided_backprop_changes_the_map(models):
    """The guided map differs from the plain one (so the policy is really applied)."""
    from vis.compat.tf_keras_vis.saliency import Saliency
    from vis.compat.tf_keras_vis.utils.model_modifiers import GuidedBackpropagation
    from vis.compat.tf_keras_vis.utils.scores import CategoricalScore

    model, seed = models["conv"], seeds_for(models["conv"])
    plain = Saliency(model)(CategoricalScore(1), seed)
    guided = Saliency(model, GuidedBackpropagation())(CategoricalScore(1), seed)
    assert np.abs(plain - guided).max() > 1e-3


def _sequential_copy(model):
    """A Sequential with the layers of the one-input, one-output Functional `model`, same weights."""
    copy = keras.Sequential(
        [keras.Input(model.inputs[0].shape[1:])]
        + [keras.layers.deserialize(keras.layers.serialize(layer)) for layer in model.layers[1:]]
    )
    copy.set_weights(model.get_weights())
    return copy


def _saved_by_another_process(model, folder) -> list:
    """`model`'s layers and weights as a Sequential saved (.keras and .h5) by a separate process.

    Users load models another script saved: Keras names layers per process.
    """
    weights = str(folder / "weights.npz")
    np.savez(weights, *model.get_weights())
    code = (
        "import os, sys; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "import keras, numpy as np; from keras import layers\n"
        "m = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(6, 3, activation='relu', name='conv_1'),"
        " layers.GlobalAveragePooling2D(), layers.Dense(2, name='dense_1'), layers.Activation('softmax')])\n"
        "w = np.load(sys.argv[1]); m.set_weights([w[f'arr_{i}'] for i in range(len(w.files))])\n"
        "[m.save(path) for path in sys.argv[2:]]\n"
    )
    paths = [str(folder / "m.keras"), str(folder / "m.h5")]
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
    subprocess.run([sys.executable, "-c", code, weights, *paths], check=True, capture_output=True, env=env)
    return [keras.models.load_model(path) for path in paths]


@pytest.fixture(scope="module")
def sequential_models(models, tmp_path_factory):
    functional = models["conv"]
    keras_file, h5_file = _saved_by_another_process(functional, tmp_path_factory.mktemp("tfkv"))
    return {"sequential": _sequential_copy(functional), "reloaded.keras": keras_file, "reloaded.h5": h5_file}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sequential", "reloaded.keras", "reloaded.h5"])
def test_sequential_and_reloaded_models_give_the_functional_maps(models, sequential_models, kind):
    from vis.compat.tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from vis.compat.tf_keras_vis.utils.scores import CategoricalScore

    functional, model = models["conv"], sequential_models[kind]
    seed = seeds_for(functional)
    before = snapshot(model, seed)
    for module, name in VISUALISERS:
        ours_cls = both(module, name)[1]
        for modifier in (None, ReplaceToLinear()):
            expected = ours_cls(functional, modifier)(CategoricalScore([1, 0]), seed)
            got = ours_cls(model, modifier)(CategoricalScore([1, 0]), seed)
            assert_maps_equal(expected, got)
    from vis.compat.tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer

    saliency = both("saliency", "Saliency")[1]
    expected = saliency(functional, ExtractIntermediateLayer("conv_1"))(CategoricalScore(2), seed)
    assert_maps_equal(
        expected, saliency(model, ExtractIntermediateLayer("conv_1"))(CategoricalScore(2), seed)
    )
    assert_unchanged(model, before, seed)


def test_replace_to_linear_works_where_0_8_7_fails(models):
    theirs_mm = importlib.import_module("tf_keras_vis.utils.model_modifiers")
    ours_mm = importlib.import_module("vis.compat.tf_keras_vis.utils.model_modifiers")
    model = _sequential_copy(models["conv"])
    with pytest.raises(AttributeError, match="output_names"):
        theirs_mm.ReplaceToLinear()(keras.models.clone_model(model))
    saliency = both("saliency", "Saliency")[1](model, ours_mm.ReplaceToLinear())
    assert saliency.model.layers[-1].activation is keras.activations.linear
    assert model.layers[-1].activation is not keras.activations.linear


def test_nested_model_gives_the_flat_models_maps(models):
    """A Functional model around a Sequential base: the penultimate conv is found inside the base."""
    from vis.compat.tf_keras_vis.utils.scores import CategoricalScore

    flat = models["conv"]
    base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(6, 3, activation="relu")])
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inputs))
    outputs = keras.layers.Activation("softmax")(keras.layers.Dense(2)(x))
    nested = keras.Model(inputs, outputs)
    nested.set_weights(flat.get_weights())
    seed = seeds_for(flat)
    for module, name in CAMS:
        cls = both(module, name)[1]
        assert_maps_equal(cls(flat)(CategoricalScore(1), seed), cls(nested)(CategoricalScore(1), seed))
    # A whole model as the last layer of a Sequential: its output layer is found inside it.
    from vis.compat.tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer, ReplaceToLinear

    wrapped = keras.Sequential([keras.Input((8, 8, 3)), nested])
    saliency = both("saliency", "Saliency")[1]
    expected = saliency(flat, ReplaceToLinear())(CategoricalScore(1), seed)
    assert_maps_equal(expected, saliency(wrapped, ReplaceToLinear())(CategoricalScore(1), seed))
    extracted = saliency(wrapped, [ExtractIntermediateLayer(0), ReplaceToLinear()])
    assert_maps_equal(expected, extracted(CategoricalScore(1), seed))
    assert nested.layers[-1].activation is keras.activations.softmax


def test_seeds_as_tensors_and_without_batch_axis(models):
    from vis.compat.tf_keras_vis.gradcam import Gradcam
    from vis.compat.tf_keras_vis.utils.scores import CategoricalScore

    model = models["conv"]
    seed = seeds_for(model, 1)
    reference = Gradcam(model)(CategoricalScore(1), seed)
    assert reference.shape == (1, 8, 8)
    assert_maps_equal(reference, Gradcam(model)(CategoricalScore(1), tf.constant(seed)))
    assert_maps_equal(reference, Gradcam(model)(CategoricalScore(1), seed[0]))
    listed = Gradcam(model)(CategoricalScore(1), [seed])
    assert isinstance(listed, list) and len(listed) == 1
    assert_maps_equal(reference, listed[0])


BAD_CALLS = [
    ("saliency", "Saliency", "conv", [("CategoricalScore", 1)] * 2, {}),  # two scores, one output
    ("gradcam", "Gradcam", "conv", [("CategoricalScore", 5)], {}),  # index out of range
    ("gradcam", "Gradcam", "conv", [("BinaryScore", True)], {}),  # binary score on two units
    ("layercam", "Layercam", "conv", [("CategoricalScore", 1)], {"penultimate_layer": 1.5}),
    ("scorecam", "Scorecam", "conv", [("CategoricalScore", 1)], {"max_N": 7}),
    (
        "gradcam_plus_plus",
        "GradcamPlusPlus",
        "multi_io",
        [("CategoricalScore", 1)],
        {},
    ),  # one score, two outputs
]


@pytest.mark.parametrize("module,name,model_key,specs,kwargs", BAD_CALLS)
def test_bad_calls_raise_what_0_8_7_raises(models, module, name, model_key, specs, kwargs):
    model = models[model_key]
    with pytest.raises(ValueError):
        run_both(module, name, model, specs, seeds_for(model), **kwargs)  # 0.8.7 first
    ours_cls = both(module, name)[1]
    ours_score = scores(*specs)[1]
    with pytest.raises(ValueError, match="Received"):
        ours_cls(model)(ours_score if len(ours_score) > 1 else ours_score[0], seeds_for(model), **kwargs)


def test_bad_seeds_and_arguments(models):
    from vis.compat.tf_keras_vis.saliency import Saliency
    from vis.compat.tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer
    from vis.compat.tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

    theirs_saliency = both("saliency", "Saliency")[0]
    theirs_scores = importlib.import_module("tf_keras_vis.utils.scores")
    model = models["multi_io"]
    one_seed = seeds_for(model)[0]
    with pytest.raises(ValueError):
        theirs_saliency(model)([theirs_scores.CategoricalScore(0), theirs_scores.InactiveScore()], one_seed)
    with pytest.raises(ValueError, match="2 inputs"):
        Saliency(model)([CategoricalScore(0), BinaryScore(1)], one_seed)
    with pytest.raises(ValueError, match="seed_input"):
        Saliency(models["conv"])(CategoricalScore(0), np.zeros((1, 9, 8, 3), "float32"))
    with pytest.raises(ValueError, match="callable"):
        Saliency(models["conv"])("not a score", seeds_for(models["conv"]))
    with pytest.raises(ValueError, match="training"):
        Saliency(models["conv"])(CategoricalScore(0), seeds_for(models["conv"]), training=True)
    for bad in (None, []):
        with pytest.raises(ValueError):
            theirs_scores.CategoricalScore(bad)
        with pytest.raises(ValueError):
            CategoricalScore(bad)
    with pytest.raises(TypeError):
        ExtractIntermediateLayer(1.5)
    seeds = seeds_for(models["multi_out"], 3)
    for bad in ([CategoricalScore([0, 1, 0, 1]), BinaryScore(1)], [CategoricalScore(0), BinaryScore([1, 0])]):
        with pytest.raises(ValueError, match="Received"):
            Saliency(models["multi_out"])(bad, seeds)
    partial = Saliency(models["conv"])(CategoricalScore([1, 0]), seeds_for(models["conv"], 3))
    assert partial[:2].max() > 0 and partial[2].max() == 0  # as 0.8.7: the third seed is not scored


def test_gradcam_plus_plus_never_nan_and_the_paper_switch(monkeypatch):
    """A logit of 120 overflows 0.8.7's float32 exp (NaN); here the map is finite. "paper" gives vis's."""
    from vis.compat.tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from vis.compat.tf_keras_vis.utils.scores import CategoricalScore
    from vis.visualization import visualize_cam_plus_plus

    keras.utils.set_random_seed(5)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(
        inputs, keras.layers.Dense(2, kernel_initializer=keras.initializers.Constant(60.0))(x)
    )
    seed = np.random.default_rng(1).random((1, 8, 8, 3), dtype="float32") + 1.0
    theirs_cls = both("gradcam_plus_plus", "GradcamPlusPlus")[0]
    theirs_score = scores(("CategoricalScore", 1))[0][0]
    assert model.predict(seed, verbose=0)[0, 1] > 88
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(theirs_cls(model)(theirs_score, seed)).any()
    ours = GradcamPlusPlus(model)(CategoricalScore(1), seed)
    assert np.isfinite(ours).all() and ours.max() == pytest.approx(1.0, abs=1e-4)
    monkeypatch.setattr(compat, "definitions", "paper")
    paper = GradcamPlusPlus(model)(CategoricalScore(1), seed)
    native = visualize_cam_plus_plus(model, -1, 1, seed[0], penultimate_layer_idx=1)
    np.testing.assert_allclose(paper[0], native, atol=1e-5)
    monkeypatch.setattr(compat, "definitions", "papers")
    with pytest.raises(ValueError, match="definitions"):
        GradcamPlusPlus(model)(CategoricalScore(1), seed)


def test_scorecam_sigmoid_head_warns_and_the_paper_scores_the_probability(models, monkeypatch):
    from vis.compat.tf_keras_vis.scorecam import Scorecam
    from vis.compat.tf_keras_vis.utils.scores import BinaryScore

    model = models["sigmoid"]
    seed = seeds_for(model, 1)
    with pytest.warns(UserWarning, match="#78"):
        flat = Scorecam(model)(BinaryScore(True), seed, expand_cam=False, normalize_cam=False)
    values = keras.Model(model.inputs, model.get_layer("conv_1").output).predict(seed, verbose=0)
    np.testing.assert_allclose(flat, np.maximum(values.sum(axis=-1), 0), rtol=1e-5)  # every weight is 1
    monkeypatch.setattr(compat, "definitions", "paper")
    paper = Scorecam(model)(BinaryScore(True), seed, expand_cam=False, normalize_cam=False)
    assert np.abs(paper - flat).max() > 1e-3


def test_scorecam_paper_definition_equals_vis_score_cam_on_a_linear_head(models, monkeypatch):
    from vis.compat.tf_keras_vis.scorecam import Scorecam
    from vis.compat.tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from vis.compat.tf_keras_vis.utils.scores import CategoricalScore
    from vis.visualization import visualize_score_cam

    monkeypatch.setattr(compat, "definitions", "paper")
    scorecam = Scorecam(models["conv"], ReplaceToLinear())
    seed = seeds_for(models["conv"], 1)
    ours = scorecam(CategoricalScore(1), seed)
    native = visualize_score_cam(scorecam.model, -1, 1, seed[0], penultimate_layer_idx="conv_1")
    np.testing.assert_allclose(ours[0], native, atol=1e-5)


def test_model_visualization_keeps_0_8_7_score_helpers(models):
    """Visualisers users derive from `ModelVisualization` find 0.8.7's helpers, with 0.8.7's results."""
    theirs_base = importlib.import_module("tf_keras_vis").ModelVisualization

    class Theirs(theirs_base):
        def __call__(self):
            return None

    class Ours(compat.ModelVisualization):
        def __call__(self):
            return None

    model = models["multi_out"]
    outputs = [tf.constant(np.arange(6, dtype="float32").reshape(3, 2)), tf.ones((3, 1))]
    functions = [mocks.score_with_tuple, lambda output: output * 2.0]
    expected = Theirs(model)._calculate_scores(outputs, functions)
    got = Ours(model)._calculate_scores(outputs, functions)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b.numpy(), a.numpy())
    assert Ours(model)._mean_score_value([1.0, 2.0]).shape == (2,)


@pytest.mark.parametrize("mode", ["constant", "nearest"])
def test_the_cam_resize_is_scipy_zoom_of_order_1(mode):
    """0.8.7 resizes with `scipy.ndimage.zoom(order=1)`; compat's matrix form gives its values, edges too.

    Random maps with 1, 2 and 3 spatial axes, enlarged and shrunk, sizes of 1 among them; 8 to 26
    is a size whose last coordinate rounds past the edge, where "constant" gives 0 as scipy does.
    """
    from scipy.ndimage import zoom

    from vis.compat.tf_keras_vis._cam import linear_zoom

    rng = np.random.default_rng(3)
    cases = [((1, 7, 7), (1, 224, 224)), ((6, 8), (6, 26)), ((2, 7, 7), (2, 3, 3)), ((3, 1, 4), (3, 10, 1))]
    for _ in range(40):
        spatial = int(rng.integers(1, 4))
        shape = (2, *(int(n) for n in rng.integers(1, 10, spatial)))
        cases.append((shape, (2, *(int(n) for n in rng.integers(1, 30, spatial)))))
    for shape, target in cases:
        coarse = rng.normal(size=shape).astype("float32")
        factors = tuple(t / s for s, t in zip(shape, target))
        want, got = zoom(coarse, factors, order=1, mode=mode), linear_zoom(coarse, factors, mode)
        assert got.shape == want.shape == target and got.dtype == want.dtype, (shape, target)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{shape} -> {target}")
    assert linear_zoom(np.ones((1, 8), "float32"), (1, 26 / 8), mode)[0, -1] == (mode == "nearest")


def test_the_saliency_channel_max_is_numpy_max():
    """Compat Saliency takes the channel max as an elementwise maximum: the same values as np.max."""
    from vis.compat.tf_keras_vis.saliency import _channel_max

    rng = np.random.default_rng(5)
    for shape in [(2, 9, 9, 3), (1, 5, 1), (3, 4, 20), (2, 7), (2, 3, 4, 5, 2)]:
        grads = rng.normal(size=shape).astype("float32")
        grads.flat[3] = np.nan
        np.testing.assert_array_equal(_channel_max(grads), np.max(grads, axis=-1))
