"""Tutorial code for keras-vis 0.2-0.4.1: class/regression wrappers, colorize, vggnet."""

import keras
import matplotlib
import numpy as np
import pytest
from keras import layers
from PIL import Image
from scipy import ndimage

from vis import engine
from vis.regression import RegressionTarget
from vis.utils import utils, vggnet
from vis.visualization import (
    overlay,
    visualize_cam,
    visualize_class_cam,
    visualize_class_saliency,
    visualize_regression_cam,
    visualize_regression_saliency,
    visualize_saliency,
)

RNG = np.random.default_rng(7)
JET = matplotlib.colormaps["jet"]
LUT = JET(np.arange(256), bytes=True)[:, :3].astype(int)


def _decode(image):
    """Jet-table index (0..255) of each pixel: the map value the colour stands for, times 256."""
    distances = ((image.astype(int)[..., None, :] - LUT) ** 2).sum(-1)
    return distances.argmin(-1)


def _tiny_vgg_like(size=32, classes=5):
    """A small functional CNN ending in a linear Dense layer named 'predictions', as vggnet's VGG16."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((size, size, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="block1_conv1")(inp)
    x = layers.MaxPooling2D(name="block1_pool")(x)
    x = layers.Conv2D(6, 3, activation="relu", name="block2_conv1")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inp, layers.Dense(classes, name="predictions")(x), name="vgg16")


def _image_paths(tmp_path, count=5):
    paths = []
    for i in range(count):
        path = tmp_path / f"image_{i}.png"
        Image.fromarray(RNG.integers(0, 256, size=(40 + 7 * i, 50, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize(
    "legacy, modern", [(visualize_class_saliency, visualize_saliency), (visualize_class_cam, visualize_cam)]
)
def test_seed_000_tutorial_runs_and_tiles_are_coloured_modern_maps(tmp_path, legacy, modern):
    from keras.applications.imagenet_utils import preprocess_input
    from keras.preprocessing.image import img_to_array

    model = _tiny_vgg_like()
    layer_name = "predictions"
    layer_idx = [idx for idx, layer in enumerate(model.layers) if layer.name == layer_name][0]
    image_paths = _image_paths(tmp_path)

    heatmaps, seeds, expected = [], [], []
    for path in image_paths:
        seed_img = utils.load_img(path, target_size=(32, 32))
        x = np.expand_dims(img_to_array(seed_img), axis=0)
        x = preprocess_input(x)
        pred_class = np.argmax(model.predict(x, verbose=0))
        with pytest.warns(DeprecationWarning, match=modern.__name__) as record:
            heatmap = legacy(model, layer_idx, [pred_class], seed_img)
        assert record[0].filename == __file__
        heatmaps.append(overlay(seed_img, heatmap))
        seeds.append(seed_img)
        expected.append(utils.colorize(modern(model, layer_idx, [pred_class], seed_img)))
        assert heatmap.dtype == np.uint8 and heatmap.shape == (32, 32, 3)
        np.testing.assert_array_equal(heatmap, expected[-1])

    stitched = utils.stitch_images(heatmaps)
    assert stitched.dtype == np.uint8 and stitched.shape == (32, 5 * 32 + 4 * 5, 3)
    for i, (seed_img, colored) in enumerate(zip(seeds, expected)):
        tile = stitched[:, i * 37 : i * 37 + 32]
        np.testing.assert_array_equal(tile, overlay(seed_img, colored))
        # The blend is rint((seed + heatmap) / 2): the heatmap comes back to within one level.
        recovered = 2 * tile.astype(int) - seed_img.astype(int)
        assert np.abs(recovered - colored.astype(int)).max() <= 1
        if i < 4:
            assert not stitched[:, i * 37 + 32 : i * 37 + 37].any()
    assert len({h.tobytes() for h in expected}) == 5


def test_seed_003_channel_slicing_needs_one_colorize_call():
    model = _tiny_vgg_like()
    kitten = RNG.integers(0, 256, size=(32, 32, 3)).astype("float32")
    grads = utils.colorize(visualize_saliency(model, -1, filter_indices=2, seed_input=kitten))
    smoothe = ndimage.gaussian_filter(grads[:, :, 2], sigma=5)
    assert smoothe.shape == (32, 32) and smoothe.dtype == np.uint8
    np.testing.assert_array_equal(
        grads[:, :, 2], JET(visualize_saliency(model, -1, 2, kitten), bytes=True)[..., 2]
    )


def test_class_wrappers_accept_a_batch_penultimate_layer_and_seed_img():
    model = _tiny_vgg_like()
    seeds = RNG.uniform(0, 255, size=(2, 32, 32, 3))
    with pytest.deprecated_call():
        batch = visualize_class_cam(model, -1, 1, seeds, penultimate_layer_idx="block1_pool")
        single = visualize_class_saliency(model, -1, 1, seed_img=seeds[0])
        with pytest.raises(TypeError, match="Received: seed_input=an array, seed_img=an array"):
            visualize_class_saliency(model, -1, 1, seeds[0], seed_img=seeds[0])
    assert batch.shape == (2, 32, 32, 3)
    modern = visualize_cam(model, -1, 1, seeds, penultimate_layer_idx="block1_pool")
    np.testing.assert_array_equal(batch, utils.colorize(modern))
    np.testing.assert_array_equal(single, utils.colorize(visualize_saliency(model, -1, 1, seeds[0])))


# Regression on y = <W, x> with a known W (4 x 5 image, one channel): the gradient of y is W.
W = np.array(
    [[0.5, -2.0, 1.0, 0.3, -0.6],
     [3.0, 0.9, -0.4, 0.02, 1.2],
     [-1.1, 0.7, -0.8, 1.6, 0.4],
     [0.6, -0.2, 2.2, -1.4, 0.8]], dtype="float32")  # fmt: skip


def _linear_regressor():
    model = keras.Sequential([keras.Input((4, 5, 1)), layers.Flatten(), layers.Dense(1, use_bias=False)])
    model.layers[-1].set_weights([W.reshape(20, 1)])
    return model


def _minmax(a):
    return (a - a.min()) / (a.max() - a.min())


@pytest.mark.parametrize(
    "offset, peak, expected",
    [
        (+1.0, (1, 0), _minmax(W)),  # increase: where the gradient is most positive, argmax W
        (-1.0, (0, 1), _minmax(-W)),  # decrease: where it is most negative, argmin W
        (0.0, (1, 3), _minmax(np.abs(1 / (W + 1e-7)))),  # maintain: where it is closest to 0
        (None, (1, 3), _minmax(np.abs(1 / (W + 1e-7)))),  # maintain, keras-vis's None target
    ],
    ids=["increase", "decrease", "maintain", "maintain-none"],
)
def test_regression_saliency_peaks_on_a_linear_model(offset, peak, expected):
    model = _linear_regressor()
    seed = RNG.uniform(-1, 1, size=(4, 5, 1)).astype("float32")
    pred = float(model.predict(seed[None], verbose=0)[0, 0])
    target = None if offset is None else pred + offset
    with pytest.warns(DeprecationWarning, match="RegressionTarget"):
        heatmap = visualize_regression_saliency(
            model, layer_idx=-1, output_indices=0, targets=target, seed_input=seed
        )
    assert heatmap.shape == (4, 5, 3) and heatmap.dtype == np.uint8
    index = _decode(heatmap)
    assert np.unravel_index(index.argmax(), index.shape) == peak
    assert (index == 255).sum() == 1
    np.testing.assert_allclose(index, np.minimum(expected * 256, 255).astype(int), atol=1)


def test_regression_matches_the_keras_vis_05_modern_calls():
    model = _linear_regressor()
    seed = RNG.uniform(-1, 1, size=(4, 5, 1)).astype("float32")
    pred = float(model.predict(seed[None], verbose=0)[0, 0])
    for offset, modifier in [(2.0, None), (-2.0, "negate"), (0.0, "small_values")]:
        with pytest.deprecated_call():
            legacy = visualize_regression_saliency(model, -1, [0], [pred + offset], seed)
        modern = visualize_saliency(model, -1, 0, seed, grad_modifier=modifier)
        assert np.abs(legacy.astype(int) - utils.colorize(modern).astype(int)).max() <= 8


def test_regression_batch_gets_one_mode_per_sample():
    model = _linear_regressor()
    below = RNG.uniform(-1, 1, size=(4, 5, 1)).astype("float32")
    target = float(model.predict(below[None], verbose=0)[0, 0]) + 1.0
    at_target = (target * W / np.sum(W * W))[..., None]  # <W, x> = target: already there
    with pytest.deprecated_call():
        maps = visualize_regression_saliency(model, -1, 0, target, np.stack([below, at_target]))
    index = _decode(maps)
    assert np.unravel_index(index[0].argmax(), (4, 5)) == (1, 0)  # below the target: increase
    assert np.unravel_index(index[1].argmax(), (4, 5)) == (1, 3)  # at the target: maintain


def test_regression_cam_on_an_identity_conv():
    inp = keras.Input((4, 5, 1))
    features = layers.Conv2D(1, 1, use_bias=False, name="identity")(inp)
    out = layers.Dense(1, use_bias=False)(layers.Flatten()(features))
    model = keras.Model(inp, out)
    model.get_layer("identity").set_weights([np.ones((1, 1, 1, 1), "float32")])
    model.layers[-1].set_weights([W.reshape(20, 1)])  # mean(W) > 0
    seed = RNG.uniform(-1, 1, size=(4, 5, 1)).astype("float32")
    pred = float(model.predict(seed[None], verbose=0)[0, 0])
    # One channel A = x: the CAM is relu(c * x), with c of the sign of (target - y) * mean(W).
    with pytest.deprecated_call():
        up = _decode(visualize_regression_cam(model, -1, 0, pred + 1, seed))
        down = _decode(visualize_regression_cam(model, -1, 0, pred - 1, seed))
        same = _decode(visualize_regression_cam(model, -1, 0, None, seed))  # weights |1 / W| > 0
    assert up.argmax() == seed.argmax() and down.argmax() == seed.argmin() and same.argmax() == seed.argmax()
    np.testing.assert_allclose(up, np.minimum(_minmax(np.maximum(seed[..., 0], 0)) * 256, 255), atol=1)


def test_regression_target_loss_values_and_runtime_targets():
    model = _linear_regressor()
    seeds = RNG.uniform(-1, 1, size=(3, 4, 5, 1)).astype("float32")
    y = model.predict(seeds, verbose=0)[:, 0]
    first = RegressionTarget(model.layers[-1], 0, 2.5)
    second = RegressionTarget(model.layers[-1], [0], [-1.0])
    for loss, target in [(first, 2.5), (second, -1.0)]:
        result = engine.compute(model.inputs, [(loss, 1)], seeds)
        np.testing.assert_allclose(result.named_losses[0][1], 0.5 * (y - target) ** 2, rtol=1e-5)
        grads = result.grads.reshape(3, 20)
        np.testing.assert_allclose(grads, (y - target)[:, None] * W.reshape(1, 20), rtol=1e-4, atol=1e-5)
    assert first.cache_key() == second.cache_key()
    assert engine.get_program(model.inputs, [first]) is engine.get_program(model.inputs, [second])
    assert first.at_target(np.array([[2.5], [2.56], [2.54]])).tolist() == [True, False, True]


@pytest.mark.parametrize(
    "indices, targets, error, match",
    [
        ([0, 0], [1.0, 2.0], ValueError, "must not repeat"),
        ([0], [1.0, 2.0], ValueError, "one value per output index"),
        (3, 1.0, ValueError, r"Received: output_indices=3"),
        (0, "up", TypeError, r"Received: targets='up'"),
        (0, float("nan"), ValueError, "finite"),
    ],
)
def test_regression_target_rejects_bad_arguments(indices, targets, error, match):
    with pytest.raises(error, match=match):
        RegressionTarget(_linear_regressor().layers[-1], indices, targets)


def test_regression_target_needs_a_two_dimensional_output():
    conv = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"\(batch, outputs\).*Received: layer="):
        RegressionTarget(conv.layers[0], 0, 1.0)
    with pytest.raises(ValueError, match="threshold=-1"):
        RegressionTarget(_linear_regressor().layers[-1], 0, 1.0, threshold=-1)


def test_colorize_matches_matplotlib_jet_and_keras_vis_041():
    values = np.array([[0.0, 0.25, 0.5], [0.75, 0.999, 1.0]])
    image = utils.colorize(values)
    assert image.shape == (2, 3, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, np.uint8(JET(values)[..., :3] * 255))  # keras-vis 0.4.1's formula
    np.testing.assert_array_equal(image[0, 0], [0, 0, 127])
    np.testing.assert_array_equal(image[0, 2], [124, 255, 121])
    np.testing.assert_array_equal(image[1, 2], [127, 0, 0])
    batch = utils.colorize(np.stack([values, values[::-1]]).astype("float32"))
    assert batch.shape == (2, 2, 3, 3)
    np.testing.assert_array_equal(batch[1], utils.colorize(values[::-1]))
    gray = utils.colorize(values, cmap="gray")
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    np.testing.assert_array_equal(
        utils.colorize(values, matplotlib.colormaps["viridis"]), utils.colorize(values, "viridis")
    )


@pytest.mark.parametrize(
    "heatmap, cmap, match",
    [
        (np.array([[0.0, 1.5]]), "jet", r"\[0, 1\].*max=1\.5"),
        (np.array([[-0.1, 0.5]]), "jet", r"min=-0\.1"),
        (np.array([[np.nan, 0.5]]), "jet", "NaN count=1"),
        (np.float32(0.5), "jet", r"Received: heatmap=.*shape \(\)"),
        (np.array([["a"]]), "jet", "numeric"),
        (np.zeros((2, 2)), "not_a_map", r"Received: cmap='not_a_map'"),
        (np.zeros((2, 2)), 3, r"Received: cmap=3"),
    ],
)
def test_colorize_rejects_bad_arguments(heatmap, cmap, match):
    with pytest.raises(ValueError, match=match):
        utils.colorize(heatmap, cmap)


def test_vggnet_builds_with_a_linear_predictions_layer():
    notop = vggnet.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert notop.name == "vgg16" and tuple(notop.output.shape) == (None, 1, 1, 512)
    model = vggnet.VGG16(weights=None, include_top=True, input_shape=(32, 32, 3), classes=10)
    assert model.layers[-1].name == "predictions" and model.layers[-1].activation is keras.activations.linear
    fc2 = keras.Model(model.inputs, model.get_layer("fc2").output)
    x = RNG.uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    kernel, bias = model.layers[-1].get_weights()
    expected = fc2.predict(x, verbose=0) @ kernel + bias  # logits, no softmax
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)


def test_vggnet_passes_imagenet_weights_through(monkeypatch):
    calls = []
    monkeypatch.setattr(keras.applications, "VGG16", lambda **kwargs: calls.append(kwargs) or "model")
    assert vggnet.VGG16(weights="imagenet", include_top=True) == "model"
    expected = dict(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None)
    assert calls == [dict(expected, classes=1000, classifier_activation=None)]
    vggnet.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3), pooling="avg")
    assert calls[1]["pooling"] == "avg" and calls[1]["weights"] is None


def test_regression_target_importable_from_the_old_path():
    from vis import losses, regression

    assert losses.RegressionTarget is regression.RegressionTarget
