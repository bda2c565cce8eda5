"""Feature visualization's pieces in closed form: Fourier parametrisation, colour, transforms."""

import numpy as np
import pytest
import tensorflow as tf

from vis.featurevis import color, param, transforms
from vis.featurevis.render import Renderer


@pytest.mark.parametrize("shape", [(8, 10, 3), (7, 9, 1), (12, 2)])
def test_the_fourier_parameters_of_a_known_image_give_it_back(shape):
    image = np.random.default_rng(0).uniform(-1, 1, (2, *shape)).astype("float32")
    fourier = param.Fourier(shape)
    params = fourier.encode(image)
    assert params.shape == (2, *fourier.param_shape)
    np.testing.assert_allclose(np.asarray(fourier.decode(tf.constant(params))), image, atol=2e-5)


def test_the_scaling_gives_a_1_over_f_spectrum():
    size = (16, 16)
    scale = param.spectrum_scale(size, decay_power=1.0)
    # DC is floored at 1/16; (row 0, column 4) has f = 4/16; (row 3, column 4) f = 5/16.
    np.testing.assert_allclose(scale[0, 0], 16 * 16, rtol=1e-6)
    np.testing.assert_allclose(scale[0, 4], 16 / (4 / 16), rtol=1e-6)
    np.testing.assert_allclose(scale[3, 4], 16 / (5 / 16), rtol=1e-6)
    np.testing.assert_allclose(param.spectrum_scale(size, 2.0)[0, 4], 16 / (4 / 16) ** 2, rtol=1e-6)
    # One unit at frequency (0, 4) decodes to a cosine of amplitude 2 * scale / (16 * 16).
    params = np.zeros((1, 1, 16, 9, 2), "float32")
    params[0, 0, 0, 4, 0] = 1.0
    image = np.asarray(param.Fourier((16, 16, 1)).decode(tf.constant(params)))[0, :, :, 0]
    expected = 2 * scale[0, 4] / 256 * np.cos(2 * np.pi * 4 * np.arange(16) / 16)
    np.testing.assert_allclose(image, np.tile(expected, (16, 1)), atol=1e-5)


def test_random_fourier_images_have_a_falling_power_spectrum():
    np.random.seed(0)
    fourier = param.Fourier((32, 32, 1))
    images = np.asarray(fourier.decode(tf.constant(fourier.random(64))))[..., 0]
    power = np.mean(np.abs(np.fft.rfft2(images)) ** 2, axis=0)
    freqs = param.frequencies((32, 32))
    low, high = power[(freqs > 0.05) & (freqs < 0.1)].mean(), power[(freqs > 0.3) & (freqs < 0.4)].mean()
    expected = np.mean(1 / freqs[(freqs > 0.05) & (freqs < 0.1)] ** 2) / np.mean(
        1 / freqs[(freqs > 0.3) & (freqs < 0.4)] ** 2
    )
    assert low / high == pytest.approx(expected, rel=0.25)  # Power falls as 1/f^2 (amplitude 1/f).


def test_decorrelation_is_lucids_normalised_matrix_and_invertible():
    columns = np.linalg.norm(color.IMAGENET_COLOR_SQRT, axis=0)
    np.testing.assert_allclose(color.COLOR_MIX, color.IMAGENET_COLOR_SQRT / columns.max(), rtol=1e-6)
    rgb = np.random.default_rng(1).normal(size=(4, 5, 3))
    back = np.asarray(color.to_rgb(tf.constant(color.from_rgb(rgb), tf.float32)))
    np.testing.assert_allclose(back, rgb, atol=1e-5)
    images = np.random.default_rng(2).uniform(10, 250, (3, 4, 3))
    np.testing.assert_allclose(
        np.asarray(color.squash(color.unsquash(images, (0, 255)), (0, 255))), images, rtol=1e-4
    )


@pytest.mark.parametrize(
    "options",
    [
        {"image_param": "fft", "decorrelate": True},
        {"image_param": "pixel", "decorrelate": True},
        {"image_param": "fft", "decorrelate": False},
    ],
)
def test_a_renderer_reproduces_the_image_it_encodes(options):
    image = np.random.default_rng(3).uniform(0.05, 0.95, (1, 6, 8, 3)).astype("float32")
    renderer = Renderer((6, 8, 3), (0.0, 1.0), **options)
    np.testing.assert_allclose(renderer.render(renderer.encode(image)), image, atol=1e-4)


ZERO = [transforms.Pad(0), transforms.Jitter(0), transforms.Scale((1.0,)), transforms.Rotate(0)]
SOME = [transforms.Pad(2), transforms.Jitter(2), transforms.Scale((0.8, 1.2)), transforms.Rotate(20)]


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("shape", [(2, 9, 11, 3), (2, 13, 2)])
def test_each_transform_is_the_identity_at_zero_strength_and_lets_the_gradient_through(index, shape):
    images = tf.constant(np.random.default_rng(4).uniform(0, 1, shape), tf.float32)
    seed = tf.constant([3, 4], tf.int64)
    out = transforms.apply([ZERO[index]], images, seed, 0.5)
    np.testing.assert_allclose(np.asarray(out), np.asarray(images), atol=1e-6)
    weights = tf.constant(np.random.default_rng(5).normal(size=shape), tf.float32)
    with tf.GradientTape() as tape:  # The test's own reference gradient (vis opens no tape here).
        tape.watch(images)
        total = tf.reduce_sum(transforms.apply([SOME[index]], images, seed, 0.0) * weights)
    grads = np.asarray(tape.gradient(total, images))
    # The map is linear (fill 0): the gradient g must satisfy <g, v> = <T v, w> for any v. TensorFlow's
    # gradient of an image transform warps back by the inverse map: exact for whole-pixel shifts,
    # close otherwise (interpolation, and the area change of a zoom).
    pairs = []
    for k in range(6):
        v = np.random.default_rng(10 + k).normal(size=shape).astype("float32")
        moved = transforms.apply([SOME[index]], tf.constant(v), seed, 0.0)
        pairs.append((np.sum(grads * v), float(tf.reduce_sum(moved * weights))))
    pairs = np.array(pairs)
    assert np.corrcoef(pairs.T)[0, 1] > 0.9
    if isinstance(SOME[index], transforms.Jitter):
        np.testing.assert_allclose(pairs[:, 0], pairs[:, 1], rtol=1e-4, atol=1e-3)


def test_transforms_are_freshly_sampled_per_seed_and_a_robust_list_is_scaled_to_the_size():
    images = tf.constant(np.random.default_rng(6).uniform(0, 1, (1, 32, 32, 3)), tf.float32)
    listed = transforms.get("robust", (32, 32))
    a = transforms.apply(listed, images, tf.constant([0, 1], tf.int64), 0.5)
    b = transforms.apply(listed, images, tf.constant([0, 2], tf.int64), 0.5)
    assert np.abs(np.asarray(a) - np.asarray(b)).mean() > 0.01
    assert [type(t).__name__ for t in listed] == ["Pad", "Jitter", "Scale", "Rotate", "Jitter"]
    assert listed[0].width == 2 and transforms.get(None, (32, 32)) == []
    with pytest.raises(TypeError, match="transforms="):
        transforms.get("strong", (32, 32))
