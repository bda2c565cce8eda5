"""Seeds as users pass them: a batch of one, a batch, several inputs (list or dict), token ids.

Every map is checked against a hand-written tape on the model.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from tests.models import small_cnn
from vis.callbacks import OptimizerCallback
from vis.utils.utils import deprocess_input
from vis.visualization import (
    visualize_activation,
    visualize_cam,
    visualize_saliency,
    visualize_saliency_with_losses,
)

RNG = np.random.default_rng(1)


def _normalized(a, axes):
    low, high = a.min(axis=axes, keepdims=True), a.max(axis=axes, keepdims=True)
    return (a - low) / np.where(high > low, high - low, 1.0)


def _tape(model, seeds, unit, output=None):
    tensors = [tf.constant(s) for s in seeds]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        y = (output or model)(tensors if len(tensors) > 1 else tensors[0], training=False)
        score = tf.reduce_sum(y[:, unit])
    return [g.numpy() for g in tape.gradient(score, tensors)]


# -- The batch axis ------------------------------------------------------------------------------------


def test_a_batch_of_one_returns_the_map_without_the_batch_axis():
    model = small_cnn()
    x = RNG.uniform(size=(28, 28, 3)).astype("float32")
    single = visualize_saliency(model, -1, 1, x)
    assert single.shape == (28, 28)
    np.testing.assert_array_equal(visualize_saliency(model, -1, 1, x[None]), single)
    np.testing.assert_array_equal(visualize_cam(model, -1, 1, x[None]), visualize_cam(model, -1, 1, x))
    kept = visualize_saliency(model, -1, 1, x, keep_batch_axis=True)
    assert kept.shape == (1, 28, 28)
    np.testing.assert_array_equal(kept[0], single)
    assert visualize_cam(model, -1, 1, x[None], keep_batch_axis=True).shape == (1, 28, 28)
    three = visualize_saliency(model, -1, 1, np.stack([x, x * 0.5, x]))
    assert three.shape == (3, 28, 28)
    np.testing.assert_allclose(three[2], single, atol=1e-6)
    start = visualize_activation(model, -1, 1, seed_input=x[None], max_iter=3, input_range=(0.0, 1.0))
    assert start.shape == (28, 28, 3)
    kept = visualize_activation(
        model, -1, 1, seed_input=x, max_iter=3, input_range=(0.0, 1.0), keep_batch_axis=True
    )
    assert kept.shape == (1, 28, 28, 3)


def test_a_sequential_fitted_without_input_takes_seeds_of_any_batch_size():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([layers.Conv2D(2, 3, activation="relu"), layers.Flatten(), layers.Dense(3)])
    model.compile("sgd", "mse")
    model.fit(np.zeros((4, 8, 8, 1), "float32"), np.zeros((4, 3), "float32"), batch_size=4, verbose=0)
    assert tuple(model.inputs[0].shape) == (4, 8, 8, 1)
    seeds = RNG.uniform(size=(3, 8, 8, 1)).astype("float32")
    assert visualize_activation(model, -1, 0, max_iter=3, input_range=(0.0, 1.0)).shape == (8, 8, 1)
    assert visualize_activation(model, -1, 0, seed_input=seeds, max_iter=3).shape == (3, 8, 8, 1)
    maps = visualize_saliency(model, -1, 2, seeds, grad_modifier=None, keepdims=True)
    np.testing.assert_allclose(maps, _normalized(_tape(model, [seeds], 2)[0], (1, 2, 3)), atol=1e-5)


# -- Several inputs ------------------------------------------------------------------------------------


def _two_inputs():
    keras.utils.set_random_seed(2)
    image, vector = keras.Input((9, 9, 2), name="image"), keras.Input((5,), name="features")
    x = layers.Conv2D(3, 3, activation="relu", name="conv")(image)
    x = layers.Concatenate()([layers.GlobalAveragePooling2D()(x), layers.Dense(4, activation="tanh")(vector)])
    return keras.Model([image, vector], layers.Dense(3, name="out")(x))


SEEDS = [RNG.uniform(size=(9, 9, 2)).astype("float32"), RNG.uniform(size=(5,)).astype("float32")]


def test_saliency_of_a_two_input_model_gives_one_map_per_input():
    model = _two_inputs()
    grads = _tape(model, [s[None] for s in SEEDS], 1)
    expected = [_normalized(np.abs(grads[0][0]).max(-1), (0, 1)), _normalized(np.abs(grads[1][0]), (0,))]
    listed = visualize_saliency(model, -1, 1, SEEDS)
    assert isinstance(listed, list) and [m.shape for m in listed] == [(9, 9), (5,)]
    for got, want in zip(listed, expected):
        np.testing.assert_allclose(got, want, atol=1e-5)
    named = visualize_saliency(model, -1, 1, {"features": SEEDS[1], "image": SEEDS[0]})
    assert list(named) == ["image", "features"]
    np.testing.assert_allclose(named["features"], expected[1], atol=1e-5)
    only = visualize_saliency(model, -1, 1, SEEDS, wrt_tensor=model.inputs[1])
    np.testing.assert_allclose(only, expected[1], atol=1e-5)
    batch = visualize_saliency(model, -1, 1, [np.stack([s, s]) for s in SEEDS])
    assert [m.shape for m in batch] == [(2, 9, 9), (2, 5)]
    losses = [(keras_loss(model), -1)]
    np.testing.assert_allclose(
        visualize_saliency_with_losses(model.inputs, losses, SEEDS)[0], expected[0], atol=1e-5
    )


def keras_loss(model):
    from vis.losses import ActivationMaximization

    return ActivationMaximization(model.get_layer("out"), 1)


def test_cam_of_a_two_input_model_has_the_image_input_size():
    from scipy import ndimage

    model = _two_inputs()
    cam = visualize_cam(model, -1, 0, SEEDS)
    # Closed form: conv -> global average pooling -> dense, so dS/dA_k is W[k, 0] / 49 everywhere and the
    # map is relu(sum_k W[k, 0] A_k) on the 7x7 grid, resized to the image's 9x9 and normalised.
    conv = keras.Model(model.inputs[0], model.get_layer("conv").output)
    activations = keras.ops.convert_to_numpy(conv(SEEDS[0][None]))[0].astype("float64")
    weights = model.get_layer("out").get_weights()[0][:3, 0]  # the rows fed by the pooled conv features
    expected = _normalized(ndimage.zoom(np.maximum(activations @ weights, 0), 9 / 7, order=1), (0, 1))
    assert cam.shape == (9, 9) and np.ptp(expected) > 0  # a map, not a constant
    np.testing.assert_allclose(cam, expected, atol=1e-5)


class _Record(OptimizerCallback):
    def __init__(self):
        self.losses, self.grads = [], []

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        self.losses.append(dict(named_losses)["ActivationMax Loss"])
        self.grads.append(grads)


def test_activation_maximization_optimizes_every_input():
    model = _two_inputs()
    record = _Record()
    best = visualize_activation(
        model, -1, 2, seed_input=SEEDS, max_iter=20, input_range=(0.0, 1.0), callbacks=[record]
    )
    assert [b.shape for b in best] == [(9, 9, 2), (5,)]
    assert record.losses[-1] < record.losses[0] - 0.1  # The class score rose.
    assert [g.shape for g in record.grads[0]] == [(1, 9, 9, 2), (1, 5)]
    assert np.abs(record.grads[0][1]).max() > 0  # Both inputs get a gradient,
    assert not np.allclose(best[1], deprocess_input(SEEDS[1], (0.0, 1.0)), atol=1e-3)  # and both move.
    named = visualize_activation(
        model,
        -1,
        2,
        seed_input=dict(zip(["image", "features"], SEEDS)),
        max_iter=2,
        input_range=[(0, 255), (0.0, 1.0)],
    )
    assert named["image"].dtype == np.uint8 and named["features"].dtype == np.float32


@pytest.mark.parametrize(
    "seed, error, message",
    [
        (
            SEEDS[0],
            TypeError,
            r"2 inputs \['image', 'features'\].*list of 2 arrays.*Received: seed_input of type",
        ),
        (SEEDS[:1], TypeError, "list of 2 arrays"),
        (
            {"image": SEEDS[0]},
            ValueError,
            r"one seed per input name.*Received: seed_input with keys \['image'\]",
        ),
        ([SEEDS[0], np.stack([SEEDS[1]] * 2)], ValueError, r"same number of samples.*\[1, 2\]"),
        (
            [SEEDS[0], SEEDS[1][:3]],
            ValueError,
            r"seed_input\[1\].*Received: seed_input\[1\] with shape \(3,\)",
        ),
    ],
)
def test_bad_seeds_of_a_two_input_model(seed, error, message):
    with pytest.raises(error, match=message):
        visualize_saliency(_two_inputs(), -1, 0, seed)


# -- Token ids -----------------------------------------------------------------------------------------


def _text_model():
    keras.utils.set_random_seed(4)
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    x = layers.Embedding(20, 4, name="embedding")(tokens)
    x = layers.GlobalAveragePooling1D()(layers.Conv1D(3, 2, activation="relu")(x))
    return keras.Model(tokens, layers.Dense(2, name="out")(x))


def test_a_text_model_says_to_take_the_gradient_at_the_embedding():
    model = _text_model()
    tokens = np.array([3, 7, 1, 0, 12, 5], "int32")
    with pytest.raises(ValueError, match=r"wrt_tensor=model.get_layer\('embedding'\).output"):
        visualize_saliency(model, -1, 1, tokens)
    with pytest.raises(
        ValueError, match=r"cannot\s+change.*wrt_tensor=model.get_layer\('embedding'\).output"
    ):
        visualize_activation(model, -1, 1)
    embedding = model.get_layer("embedding")
    saliency = visualize_saliency(model, -1, 1, tokens, wrt_tensor=embedding.output)
    assert saliency.shape == (6,)
    head = keras.Model(embedding.output, model.outputs[0])  # The model from the embedding on.
    vectors = embedding(tokens[None]).numpy()
    grads = _tape(head, [vectors], 1)[0][0]
    np.testing.assert_allclose(saliency, _normalized(np.abs(grads).max(-1), (0,)), atol=1e-5)
