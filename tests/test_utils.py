"""Tests for vis.utils.utils (and the image helpers it re-exports): values, not just shapes."""

import os
import shutil
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from vis.utils import data_format, images, utils

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


# --- small helpers ---------------------------------------------------------------------------


def test_reverse_enumerate_keeps_indexes():
    assert list(utils.reverse_enumerate(["a", "b", "c"])) == [(2, "c"), (1, "b"), (0, "a")]
    assert list(utils.reverse_enumerate([])) == []


def test_listify_follows_keras_vis():
    value = [1, 2]
    assert utils.listify(value) is value
    assert utils.listify((1, 2)) == [1, 2]
    assert utils.listify(3) == [3]
    assert utils.listify("ab") == ["ab"]
    assert utils.listify(None) == [None]


def test_add_defaults_to_kwargs_user_value_wins_and_inputs_untouched():
    defaults = {"max_iter": 200, "verbose": False}
    merged = utils.add_defaults_to_kwargs(defaults, verbose=True, lr=0.1)
    assert merged == {"max_iter": 200, "verbose": True, "lr": 0.1}
    assert defaults == {"max_iter": 200, "verbose": False}


def _double(x):
    return 2 * x


def test_get_identifier_name_callable_and_errors():
    module_globals = {"__name__": __name__, "double": _double, "np": np, "_hidden": _double}
    assert utils.get_identifier("double", module_globals, "grad modifier") is _double
    func = lambda x: x  # noqa: E731
    assert utils.get_identifier(func, module_globals, "grad modifier") is func
    with pytest.raises(ValueError, match=r"Unknown grad modifier: 'nope'.*Valid names: double\."):
        utils.get_identifier("nope", module_globals, "grad modifier")
    with pytest.raises(ValueError, match="Unknown"):
        utils.get_identifier("_hidden", module_globals, "grad modifier")
    with pytest.raises(ValueError, match="Received: identifier=3"):
        utils.get_identifier(3, module_globals, "grad modifier")


def test_random_array_exact_mean_std_and_seeded():
    np.random.seed(7)
    first = utils.random_array((4, 5, 3), mean=10.0, std=2.0)
    np.random.seed(7)
    second = utils.random_array((4, 5, 3), mean=10.0, std=2.0)
    assert first.shape == (4, 5, 3)
    np.testing.assert_allclose(first.mean(), 10.0, atol=1e-9)
    np.testing.assert_allclose(first.std(), 2.0, rtol=1e-5)
    np.testing.assert_array_equal(first, second)
    default = utils.random_array((1000,))
    np.testing.assert_allclose([default.mean(), default.std()], [128.0, 20.0], rtol=1e-5)


def _named_model():
    inp = keras.Input((3,), name="inp")
    hidden = keras.layers.Dense(2, name="hidden")(inp)
    out = keras.layers.Dense(2, name="visualized_layer")(hidden)
    return keras.Model(inp, out)


def test_find_layer_idx_found_and_error_names_close_matches_only():
    model = _named_model()
    assert utils.find_layer_idx(model, "visualized_layer") == 2
    assert model.layers[utils.find_layer_idx(model, "hidden")].name == "hidden"
    with pytest.raises(ValueError, match="Close matches: 'hidden'.*Received: layer_name='hiden'") as info:
        utils.find_layer_idx(model, "hiden")
    assert "'visualized_layer'" not in str(info.value)
    with pytest.raises(ValueError, match="No layer named 'missing'.*Received: layer_name='missing'"):
        utils.find_layer_idx(model, "missing")


# --- image helpers ---------------------------------------------------------------------------


def test_image_helpers_are_reexported():
    names = ("deprocess_input", "stitch_images", "load_img", "draw_text", "bgr2rgb", "normalize")
    for name in names:
        assert getattr(utils, name) is getattr(images, name)
    for name in ("get_img_shape", "slicer"):
        assert getattr(utils, name) is getattr(data_format, name)


def _deprocess_reference(x, low, high):
    x = x.astype("float64")
    x = (x - x.mean()) / (x.std() + keras.config.epsilon()) * 0.1 + 0.5
    return (high - low) * np.clip(x, 0, 1) + low


@pytest.mark.parametrize("input_range", [(0, 255), (-1.0, 1.0), (10, 20)])
def test_deprocess_input_matches_numpy_and_leaves_input(input_range):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 40.0, size=(6, 5, 3)).astype("float32")
    before = x.copy()
    result = utils.deprocess_input(x, input_range=input_range)
    np.testing.assert_array_equal(x, before)
    assert result.dtype == np.float32 and result.shape == x.shape
    np.testing.assert_allclose(result, _deprocess_reference(before, *input_range), rtol=1e-5, atol=1e-4)
    assert result.min() >= input_range[0] and result.max() <= input_range[1]


def test_deprocess_input_int_input_and_bad_range():
    x = np.arange(12, dtype="int64").reshape(3, 4)
    result = utils.deprocess_input(x)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, _deprocess_reference(x, 0, 255), rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match=r"Received: input_range=\(5, 1\)"):
        utils.deprocess_input(x, input_range=(5, 1))
    with pytest.raises(ValueError, match="input_range"):
        utils.deprocess_input(x, input_range=(0, 1, 2))


def test_stitch_images_exact_layout():
    a = np.full((2, 3, 1), 1, dtype="uint8")
    b = np.full((2, 3, 1), 2, dtype="uint8")
    c = np.full((2, 3, 1), 3, dtype="uint8")
    out = utils.stitch_images([a, b, c], margin=1, cols=2)
    expected = np.array(
        [
            [1, 1, 1, 0, 2, 2, 2],
            [1, 1, 1, 0, 2, 2, 2],
            [0, 0, 0, 0, 0, 0, 0],
            [3, 3, 3, 0, 0, 0, 0],
            [3, 3, 3, 0, 0, 0, 0],
        ],
        dtype="uint8",
    )[..., np.newaxis]
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_stitch_images_defaults_dtype_and_errors():
    imgs = [np.full((4, 4, 3), i + 1, dtype="float32") for i in range(7)]
    out = utils.stitch_images(imgs)
    assert out.shape == (2 * 4 + 5, 5 * 4 + 4 * 5, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[9:13, 9:13], imgs[6])
    np.testing.assert_array_equal(out[:4, 4:9], 0)
    single = utils.stitch_images([np.ones((2, 2), dtype="uint8")], margin=0)
    np.testing.assert_array_equal(single, np.ones((2, 2)))
    assert utils.stitch_images([]) is None
    with pytest.raises(ValueError, match=r"images\[1\]\.shape"):
        utils.stitch_images([imgs[0], np.zeros((3, 4, 3))])
    with pytest.raises(ValueError, match="Received: margin=-1"):
        utils.stitch_images(imgs, margin=-1)
    with pytest.raises(ValueError, match="Received: cols=0"):
        utils.stitch_images(imgs, cols=0)


def test_bgr2rgb_reverses_channels_without_aliasing():
    img = np.array([[[1, 2, 3], [4, 5, 6]]], dtype="uint8")
    out = utils.bgr2rgb(img)
    np.testing.assert_array_equal(out, [[[3, 2, 1], [6, 5, 4]]])
    out[0, 0, 0] = 99
    assert img[0, 0, 2] == 3


def test_normalize_values_constant_and_range():
    x = np.array([[2.0, 4.0], [6.0, 10.0]], dtype="float32")
    np.testing.assert_allclose(utils.normalize(x), [[0.0, 0.25], [0.5, 1.0]])
    np.testing.assert_allclose(utils.normalize(x, -1.0, 1.0), [[-1.0, -0.5], [0.0, 1.0]])
    assert utils.normalize(x).dtype == np.float32
    constant = utils.normalize(np.full((3, 3), 5.0))
    assert not np.isnan(constant).any()
    np.testing.assert_array_equal(constant, np.zeros((3, 3)))
    np.testing.assert_array_equal(utils.normalize(np.full(4, 7), 0.5, 2.0), np.full(4, 0.5))
    with pytest.raises(ValueError, match="Received: min_value=1.0, max_value=0.0"):
        utils.normalize(x, 1.0, 0.0)


# --- data-format helpers ---------------------------------------------------------------------


def test_slicer_both_data_formats():
    original = keras.config.image_data_format()
    try:
        keras.config.set_image_data_format("channels_first")
        assert utils.slicer[:, 3, :, :] == (slice(None), 3, slice(None), slice(None))
        keras.config.set_image_data_format("channels_last")
        assert utils.slicer[:, 3, :, :] == (slice(None), slice(None), slice(None), 3)
        assert utils.slicer[:, 3, ...] == (slice(None), Ellipsis, 3)
        assert utils.slicer[0] == (0,)
        x = np.arange(2 * 4 * 5 * 3).reshape(2, 4, 5, 3)
        np.testing.assert_array_equal(x[utils.slicer[:, 1, :, :]], x[..., 1])
        np.testing.assert_array_equal(x[utils.slicer[:, 2, ...]], x[..., 2])
    finally:
        keras.config.set_image_data_format(original)


def test_get_img_shape_both_formats_and_input_types():
    original = keras.config.image_data_format()
    try:
        keras.config.set_image_data_format("channels_last")
        assert utils.get_img_shape(np.zeros((2, 8, 6, 3))) == (2, 3, 8, 6)
        assert utils.get_img_shape(tf.zeros((1, 5, 4, 7, 2))) == (1, 2, 5, 4, 7)
        assert utils.get_img_shape(keras.Input((8, 6, 3))) == (None, 3, 8, 6)
        keras.config.set_image_data_format("channels_first")
        assert utils.get_img_shape(np.zeros((2, 3, 8, 6))) == (2, 3, 8, 6)
        assert utils.get_img_shape(keras.Input((3, 8, 6))) == (None, 3, 8, 6)
    finally:
        keras.config.set_image_data_format(original)
    with pytest.raises(ValueError, match="img.shape"):
        utils.get_img_shape(np.zeros(3))
    with pytest.raises(TypeError, match="img"):
        utils.get_img_shape([1, 2, 3])


# --- load_img / draw_text --------------------------------------------------------------------


def _pattern():
    rows, cols = np.mgrid[0:6, 0:8]
    return np.stack([rows * 40, cols * 30, np.full_like(rows, 200)], axis=-1).astype("uint8")


def test_load_img_rgb_grayscale_and_resize(tmp_path):
    rgb = _pattern()
    path = tmp_path / "img.png"
    Image.fromarray(rgb).save(path)
    loaded = utils.load_img(str(path))
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, rgb)
    np.testing.assert_array_equal(utils.load_img(path), rgb)  # path-like works too
    gray = utils.load_img(str(path), grayscale=True)
    np.testing.assert_array_equal(gray, np.asarray(Image.fromarray(rgb).convert("L")))
    assert gray.shape == (6, 8)
    resized = utils.load_img(str(path), target_size=(3, 4))
    assert resized.shape == (3, 4, 3)
    expected = np.asarray(Image.fromarray(rgb).resize((4, 3), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(resized, expected)


def test_load_img_rgba_becomes_rgb(tmp_path):
    rgba = np.dstack([_pattern(), np.full((6, 8), 255, dtype="uint8")])
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    np.testing.assert_array_equal(utils.load_img(str(path)), rgba[..., :3])


def test_load_img_errors_name_path(tmp_path):
    missing = str(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        utils.load_img(missing)
    bogus = tmp_path / "bogus.png"
    bogus.write_text("not an image")
    with pytest.raises(ValueError, match="bogus.png"):
        utils.load_img(str(bogus))
    Image.fromarray(_pattern()).save(tmp_path / "ok.png")
    with pytest.raises(ValueError, match=r"Received: target_size=\(0, 4\)"):
        utils.load_img(str(tmp_path / "ok.png"), target_size=(0, 4))


def test_load_img_from_url_reads_response(monkeypatch, tmp_path):
    path = tmp_path / "remote.png"
    Image.fromarray(_pattern()).save(path)
    seen = []

    def fake_urlopen(url, timeout=None):
        seen.append(url)
        return open(path, "rb")

    monkeypatch.setattr(images.urllib.request, "urlopen", fake_urlopen)
    loaded = utils.load_img("https://example.com/cat.png", target_size=(6, 8))
    assert seen == ["https://example.com/cat.png"]
    np.testing.assert_array_equal(loaded, _pattern())


def test_draw_text_changes_pixels_and_leaves_input():
    img = np.full((40, 120, 3), 255, dtype="uint8")
    before = img.copy()
    out = utils.draw_text(img, "Step 1", font="no-such-font.ttf", color=(255, 0, 0))
    np.testing.assert_array_equal(img, before)
    assert out.shape == img.shape and out.dtype == np.uint8
    changed = np.any(out != img, axis=-1)
    assert changed.sum() > 10
    rows, cols = np.nonzero(changed)
    assert rows.min() >= 10 and cols.min() >= 10  # drawn at the default position (10, 10)
    assert np.all(out[changed][:, 0] == 255)  # only red text: R stays at 255
    moved = utils.draw_text(img, "Step 1", position=(60, 20), font="no-such-font.ttf")
    assert np.nonzero(np.any(moved != img, axis=-1))[1].min() >= 60


def test_draw_text_grayscale_list_text_and_bad_dtype():
    gray = np.full((30, 80), 255, dtype="uint8")
    out = utils.draw_text(gray, ["tabby"], font="no-such-font.ttf")
    assert out.shape == gray.shape and (out < 255).any()
    single = utils.draw_text(gray[..., np.newaxis], "x", font="no-such-font.ttf")
    assert single.shape == (30, 80, 1)
    with pytest.raises(TypeError, match="dtype=float32"):
        utils.draw_text(np.zeros((10, 10, 3), dtype="float32"), "x")


# --- lookup_imagenet_labels ------------------------------------------------------------------


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """A KERAS_HOME whose models/ cache holds a 3-class index; downloading is forbidden."""
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    shutil.copy(
        os.path.join(FIXTURES, "imagenet_class_index_small.json"), home / "models" / utils.CLASS_INDEX_FNAME
    )
    monkeypatch.setenv("KERAS_HOME", str(home))

    def no_download(*args, **kwargs):
        raise AssertionError("lookup_imagenet_labels must use the cached file")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    return home


def test_lookup_imagenet_labels_from_keras_cache(keras_home):
    assert utils.lookup_imagenet_labels(281) == ["tabby"]
    assert utils.lookup_imagenet_labels(np.int64(0)) == ["tench"]
    assert utils.lookup_imagenet_labels([0, 281, 1]) == ["tench", "tabby", "goldfish"]
    assert utils.lookup_imagenet_labels(np.array([1, 0])) == ["goldfish", "tench"]
    with pytest.raises(ValueError, match="Received: indices=5"):
        utils.lookup_imagenet_labels(5)


def test_lookup_imagenet_labels_downloads_like_decode_predictions(tmp_path, monkeypatch):
    home = tmp_path / "empty_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    calls = []

    def fake_get_file(fname, origin, **kwargs):
        calls.append((fname, origin, kwargs))
        return os.path.join(FIXTURES, "imagenet_class_index_small.json")

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    assert utils.lookup_imagenet_labels([281]) == ["tabby"]
    assert calls == [
        (
            "imagenet_class_index.json",
            "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
            {
                "cache_subdir": "models",
                "file_hash": "c2c37ea517e94d9795004a39431a14cb",
                "cache_dir": str(home),
            },
        )
    ]


# --- apply_modifications ---------------------------------------------------------------------


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _head_sequential():
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [
            keras.Input((4,), name="features"),
            keras.layers.Dense(5, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="preds"),
        ],
        name="seq_head",
    )


def _head_functional():
    keras.utils.set_random_seed(4)
    inp = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(5, activation="relu", name="hidden")(inp)
    out = keras.layers.Dense(3, activation="softmax", name="preds")(hidden)
    return keras.Model(inp, out, name="func_head")


def _numpy_logits(weights, x):
    w1, b1, w2, b2 = weights
    return np.maximum(x @ w1 + b1, 0) @ w2 + b2


@pytest.fixture
def no_files(monkeypatch, tmp_path):
    """Makes any temp-file creation or model save/load fail, and checks the temp dir stays empty."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def forbidden(*args, **kwargs):
        raise AssertionError("apply_modifications must not write files")

    for name in ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryDirectory", "_get_candidate_names"):
        monkeypatch.setattr(tempfile, name, forbidden)
    monkeypatch.setattr(keras.Model, "save", forbidden)
    monkeypatch.setattr(keras.models, "load_model", forbidden)
    yield
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("build", [_head_sequential, _head_functional])
def test_apply_modifications_softmax_to_linear(build, no_files):
    model = build()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    weights_before = [w.copy() for w in model.get_weights()]
    probs_before = model.predict(x, verbose=0)

    model.layers[-1].activation = keras.activations.linear
    result = utils.apply_modifications(model)

    logits = _numpy_logits(weights_before, x)
    np.testing.assert_allclose(result.predict(x, verbose=0), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probs_before, _softmax(logits), rtol=1e-5, atol=1e-6)
    # The original graph still applies softmax and its weights are unchanged.
    np.testing.assert_allclose(model.predict(x, verbose=0), probs_before, rtol=1e-6, atol=1e-7)
    for before, after in zip(weights_before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    # The result is a new model of the same kind, with the same layer order
    # (indices found before the call stay valid), and its own layers and weights.
    assert result is not model and type(result) is type(model)
    assert [layer.name for layer in result.layers] == [layer.name for layer in model.layers]
    assert result.name == model.name
    assert tuple(result.input.shape) == (None, 4)
    assert tuple(result.output.shape) == (None, 3) or result.output.shape[0] is None
    assert result.compiled and result.get_compile_config()["loss"] == "categorical_crossentropy"
    assert [layer.name for layer in result.layers if layer.weights] == ["hidden", "preds"]
    assert not {id(layer) for layer in result.layers} & {id(layer) for layer in model.layers}
    result.set_weights([np.zeros_like(w) for w in result.get_weights()])
    for before, after in zip(weights_before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_apply_modifications_nested_shared_and_multi_input(no_files):
    inner = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(3, activation="softmax", name="inner_out")], name="inner"
    )
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    shared = keras.layers.Dense(3, name="shared")
    model = keras.Model([a, b], inner(keras.layers.Add(name="add")([shared(a), shared(b)])))
    xa, xb = np.random.default_rng(2).normal(size=(2, 4, 3)).astype("float32")
    probs = model.predict([xa, xb], verbose=0)
    inner.layers[-1].activation = keras.activations.linear
    result = utils.apply_modifications(model)
    logits = result.predict([xa, xb], verbose=0)
    np.testing.assert_allclose(_softmax(logits), probs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(logits, probs)
    assert [layer.name for layer in result.layers[:2]] == ["a", "b"]
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), probs, rtol=1e-6)


def _times_three(x):
    return x * 3.0


def test_apply_modifications_keeps_compile_and_custom_objects(no_files):
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    model = _head_functional()
    head = keras.layers.Dense(2, activation=_times_three, name="custom_act")(
        Scale(3.0, name="scale")(model.output)
    )
    model = keras.Model(model.input, head)
    model.compile(optimizer="adam", loss="mse")
    x = np.ones((2, 4), dtype="float32")
    with pytest.raises(TypeError, match="custom_objects"):
        utils.apply_modifications(model)
    result = utils.apply_modifications(model, custom_objects={"_times_three": _times_three})
    np.testing.assert_allclose(result.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert result.get_layer("scale").factor == 3.0
    assert result.compiled and result.get_compile_config()["loss"] == "mse"


def test_apply_modifications_rejects_bad_arguments():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="Received: model of type Sub"):
        utils.apply_modifications(Sub())
    with pytest.raises(TypeError, match="Received: custom_objects=3"):
        utils.apply_modifications(_head_functional(), custom_objects=3)
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="must be built"):
        utils.apply_modifications(unbuilt)


def _softmax_head_model(kind):
    """features -> Dense 'hidden' (relu) -> Dense 'logits' -> a softmax written as `kind`.

    Returns the model and the layer the keras-vis pattern sets `.activation` on.
    """
    keras.utils.set_random_seed(6)
    hidden = keras.layers.Dense(5, activation="relu", name="hidden")
    if kind == "Activation-layer":
        head = [keras.layers.Dense(3, name="logits"), keras.layers.Activation("softmax", name="preds")]
    elif kind == "Softmax-layer":
        head = [keras.layers.Dense(3, name="logits"), keras.layers.Softmax(name="preds")]
    elif kind == "nested-Dense-softmax":
        logits = keras.layers.Dense(3, activation="softmax", name="logits")
        head = [keras.Sequential([keras.Input((5,)), logits], name="head")]
    else:  # A Functional head ending in a Softmax layer, nested in a Functional model.
        inner_input = keras.Input((5,))
        inner_logits = keras.layers.Dense(3, name="logits")(inner_input)
        head = [keras.Model(inner_input, keras.layers.Softmax(name="preds")(inner_logits), name="head")]
    if kind == "nested-Functional-Softmax-layer":
        inp = keras.Input((4,), name="features")
        model = keras.Model(inp, head[0](hidden(inp)), name="classifier")
    else:
        model = keras.Sequential([keras.Input((4,), name="features"), hidden, *head], name="classifier")
    last = model.layers[-1]
    return model, (last.layers[-1] if isinstance(last, keras.Model) else last)


SOFTMAX_HEADS = [
    "Activation-layer",
    "Softmax-layer",
    "nested-Dense-softmax",
    "nested-Functional-Softmax-layer",
]


def _layer_anywhere(model, name):
    for layer in model.layers:
        if layer.name == name:
            return layer
        if isinstance(layer, keras.Model):
            found = _layer_anywhere(layer, name)
            if found is not None:
                return found
    return None


@pytest.mark.parametrize("kind", SOFTMAX_HEADS)
def test_apply_modifications_linear_head_for_every_softmax_form(kind, no_files):
    model, head = _softmax_head_model(kind)
    x = np.random.default_rng(3).normal(size=(5, 4)).astype("float32")
    w1, b1 = _layer_anywhere(model, "hidden").get_weights()
    w2, b2 = _layer_anywhere(model, "logits").get_weights()
    logits = _numpy_logits([w1, b1, w2, b2], x)
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(probs, _softmax(logits), rtol=1e-5, atol=1e-6)
    weights_before = [w.copy() for w in model.get_weights()]
    head_type = type(head)

    head.activation = keras.activations.linear  # The keras-vis seed pattern.
    result = utils.apply_modifications(model)

    np.testing.assert_allclose(result.predict(x, verbose=0), logits, rtol=1e-5, atol=1e-5)
    assert [layer.name for layer in result.layers] == [layer.name for layer in model.layers]
    assert type(result) is type(model)
    # The original still applies softmax, with the same layers and weights.
    np.testing.assert_allclose(model.predict(x, verbose=0), probs, rtol=1e-6, atol=1e-7)
    for before, after in zip(weights_before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert type(head) is head_type
    assert not {id(layer) for layer in _all_layers(result)} & {id(layer) for layer in _all_layers(model)}


def _all_layers(model):
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(_all_layers(layer))
    return found


def test_apply_modifications_softmax_layer_becomes_a_same_named_linear_activation(no_files):
    model, head = _softmax_head_model("Softmax-layer")
    untouched, _ = _softmax_head_model("Softmax-layer")
    head.activation = keras.activations.linear
    replaced = utils.apply_modifications(model).get_layer("preds")
    assert type(replaced) is keras.layers.Activation and replaced.activation is keras.activations.linear
    # A Softmax layer whose `activation` was not set is re-created as a Softmax.
    assert type(utils.apply_modifications(untouched).get_layer("preds")) is keras.layers.Softmax


@pytest.mark.parametrize(
    "make",
    [lambda: keras.layers.ReLU(), lambda: keras.layers.LeakyReLU(0.2), lambda: keras.layers.ELU(),
     lambda: keras.layers.PReLU()],
    ids=["ReLU", "LeakyReLU", "ELU", "PReLU"],
)
def test_apply_modifications_other_activation_layers_made_linear(make, no_files):
    keras.utils.set_random_seed(8)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(5, name="hidden"), make(), keras.layers.Dense(2, name="out")]
    )
    x = np.random.default_rng(4).normal(size=(6, 4)).astype("float32")
    before = model.predict(x, verbose=0)
    w1, b1, w2, b2 = (*model.get_layer("hidden").get_weights(), *model.get_layer("out").get_weights())
    model.layers[1].activation = keras.activations.linear
    result = utils.apply_modifications(model)
    np.testing.assert_allclose(result.predict(x, verbose=0), (x @ w1 + b1) @ w2 + b2, rtol=1e-5, atol=1e-5)
    assert not np.allclose(before, (x @ w1 + b1) @ w2 + b2, atol=1e-3)  # The activation mattered.
    np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-6)


def test_apply_modifications_keeps_a_layer_shared_with_a_nested_model_shared(no_files):
    shared = keras.layers.Dense(4, name="shared")
    inner_input = keras.Input((4,))
    inner = keras.Model(inner_input, keras.layers.Softmax(name="sm")(shared(inner_input)), name="inner")
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Add(name="add")([inner(inp), shared(inp)]))
    x = np.random.default_rng(5).normal(size=(3, 4)).astype("float32")
    inner.get_layer("sm").activation = keras.activations.linear
    result = utils.apply_modifications(model)
    assert result.get_layer("inner").get_layer("shared") is result.get_layer("shared")
    w, b = shared.get_weights()
    np.testing.assert_allclose(result.predict(x, verbose=0), 2 * (x @ w + b), rtol=1e-5, atol=1e-5)
