"""`vis.stream`: whole data sets batch by batch, per-sample targets, bounded memory, several devices."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import vis
from vis import engine
from vis.losses import PerSample
from vis.visualization import visualize_cam, visualize_saliency

SHAPE = (10, 10, 1)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(SHAPE),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3, name="out"),
        ]
    )
    weights = np.random.default_rng(0).normal(size=(4, 3)).astype("float32") * 3
    model.get_layer("out").set_weights([weights, np.zeros(3, "float32")])
    return model


def _images(n, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *SHAPE)).astype("float32")


def _varied(n):
    """Images of very different contrast, so that a random model predicts several classes."""
    rng = np.random.default_rng(5)
    return (rng.normal(size=(n, *SHAPE)) * rng.uniform(0.1, 20, size=(n, 1, 1, 1))).astype("float32")


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


@pytest.mark.parametrize("kind", ["array", "pair", "dataset", "batched-dataset", "iterable"])
def test_every_kind_of_data_gives_the_direct_maps(model, kind):
    x, y = _images(23), np.arange(23) % 3
    data = {
        "array": x,
        "pair": (x, y),
        "dataset": tf.data.Dataset.from_tensor_slices(x),
        "batched-dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(5),
        "iterable": iter([x[:4], x[4:17], x[17:]]),
    }[kind]
    batches = list(vis.stream("saliency", model, -1, 1, data, batch_size=8, verbose=0))
    assert [len(b) for b in batches] == [8, 8, 7]
    np.testing.assert_allclose(np.concatenate(batches), visualize_saliency(model, -1, 1, x), atol=1e-6)


@pytest.mark.parametrize("method, function", [("saliency", visualize_saliency), ("gradcam", visualize_cam)])
def test_label_and_predicted_targets_equal_per_sample_calls(model, method, function):
    x, y = _varied(13), np.array([2, 0, 1, 1, 2, 0, 0, 1, 2, 2, 1, 0, 1])
    by_label = np.concatenate(list(vis.stream(method, model, -1, "label", (x, y), batch_size=5, verbose=0)))
    predicted = np.argmax(model.predict(x, verbose=0), axis=-1)
    assert len(set(predicted)) > 1  # So a wrong per-sample target would show.
    by_prediction = np.concatenate(
        list(vis.stream(method, model, -1, "predicted", x, batch_size=5, verbose=0))
    )
    for i in range(len(x)):
        np.testing.assert_allclose(by_label[i], function(model, -1, int(y[i]), x[i]), atol=1e-6)
        np.testing.assert_allclose(by_prediction[i], function(model, -1, int(predicted[i]), x[i]), atol=1e-6)


def test_a_method_without_per_sample_support_is_called_once_per_class(model):
    calls = []

    def edges(model, layer_idx, filter_indices, seed_input, keep_batch_axis=False):
        calls.append((filter_indices, len(seed_input)))
        return np.abs(np.diff(seed_input[..., 0], axis=1, append=0)) * (1 + filter_indices)

    x, y = _images(6), np.array([0, 2, 0, 1, 2, 0])
    maps = np.concatenate(list(vis.stream(edges, model, -1, "label", (x, y), batch_size=6, verbose=0)))
    assert sorted(calls) == [(0, 3), (1, 1), (2, 2)]
    for i in range(6):
        np.testing.assert_allclose(maps[i], edges(model, -1, int(y[i]), x[i : i + 1])[0])


def test_per_sample_filter_indices_in_one_call(model):
    x = _images(4)
    maps = visualize_saliency(model, -1, PerSample([2, 0, 1, 2]), x)
    for i, c in enumerate([2, 0, 1, 2]):
        np.testing.assert_allclose(maps[i], visualize_saliency(model, -1, c, x[i]), atol=1e-6)
    with pytest.raises(ValueError, match=r"filters for 2 samples.*batch has 4 seeds"):
        visualize_saliency(model, -1, PerSample([1, 2]), x)
    with pytest.raises(ValueError, match=r"\[0, 3\).*Received: filter_indices=5"):
        visualize_saliency(model, -1, PerSample([1, 5, 0, 0]), x)


@pytest.mark.slow
def test_five_thousand_images_into_one_npy_with_bounded_memory_and_one_trace(tmp_path):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input(SHAPE), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(), layers.Dense(3)]
    )
    x = _images(5000, seed=2)
    path = str(tmp_path / "maps.npy")
    vis.stream("saliency", model, -1, 2, x[:64], batch_size=64, verbose=0)  # An iterator: nothing runs yet.
    list(vis.stream("saliency", model, -1, 2, x[:128], batch_size=64, verbose=0))  # Warm-up.
    before = _rss_mb()
    assert vis.stream("saliency", model, -1, 2, x, batch_size=64, out=path, verbose=0) == path
    grown = _rss_mb() - before
    maps = np.load(path, mmap_mode="r")
    assert maps.shape == (5000, 10, 10) and maps.dtype == np.float32
    for index in (0, 63, 64, 2500, 4999):
        np.testing.assert_allclose(maps[index], visualize_saliency(model, -1, 2, x[index]), atol=1e-6)
    programs = list(engine._cache_of(model.inputs[0]._keras_history.operation).values())
    assert [p.compiled.experimental_get_tracing_count() for p in programs] == [1]
    assert grown < 100, f"RSS grew by {grown:.1f} MB"


def test_shards_in_a_folder(model, tmp_path):
    x = _images(10)
    out = tmp_path / "maps"
    vis.stream("gradcam", model, -1, 0, x, batch_size=4, out=str(out), verbose=0)
    shards = sorted(os.listdir(out))
    assert shards == ["maps-00000.npy", "maps-00001.npy", "maps-00002.npy"]
    joined = np.concatenate([np.load(out / name) for name in shards])
    np.testing.assert_allclose(joined, visualize_cam(model, -1, 0, x), atol=1e-6)


def test_progress_bar_reports_images_per_second(model, capsys):
    list(vis.stream("saliency", model, -1, 0, _images(9), batch_size=4, verbose=1))
    assert "images/s" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"batch_size": 0}, ValueError, r"Received: batch_size=0"),
        ({"data": np.zeros((0, *SHAPE), "float32")}, ValueError, r"no samples"),
        (
            {"data": np.zeros((4, 10, 9, 1), "float32")},
            ValueError,
            r"Received: data with shape \(2, 10, 9, 1\)",
        ),
        ({"data": "images/"}, TypeError, r"Received: data of type str"),
        ({"method": "saliencyy"}, ValueError, r"Unknown method: 'saliencyy'"),
        (
            {"filter_indices": "labels"},
            ValueError,
            r"'label' or 'predicted'. Received: filter_indices='labels'",
        ),
        ({"filter_indices": "label"}, ValueError, r"needs labels"),
    ],
)
def test_bad_input(model, kwargs, error, message):
    call = {"method": "saliency", "filter_indices": 0, "data": _images(3), "batch_size": 2, **kwargs}
    with pytest.raises(error, match=message):
        list(
            vis.stream(
                call.pop("method"), model, -1, call.pop("filter_indices"), call.pop("data"), verbose=0, **call
            )
        )


def test_an_empty_dataset_is_an_error(model):
    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0, *SHAPE), "float32"))
    with pytest.raises(ValueError, match="no samples"):
        list(vis.stream("saliency", model, -1, 0, empty, verbose=0))


_MIRRORED = """
import json, os, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np, vis
from keras import layers
from vis.visualization import visualize_cam, visualize_saliency
def build():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((10, 10, 1)), layers.Conv2D(4, 3, activation="relu"),
                             layers.GlobalAveragePooling2D(), layers.Dense(3)])
model = build()
x = np.random.default_rng(3).uniform(size=(7, 10, 10, 1)).astype("float32")
def maps():
    one = visualize_saliency(model, -1, 1, x[0])
    return [visualize_saliency(model, -1, 1, x), visualize_cam(model, -1, 1, x), one]
single = maps()
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    many = maps()
    scoped = build()
parts = vis.stream("gradcam", model, -1, 1, x, batch_size=5, strategy=strategy, verbose=0)
streamed = np.concatenate(list(parts))
scoped.set_weights(model.get_weights())
with strategy.scope():
    in_scope = visualize_saliency(scoped, -1, 1, x)
diffs = [float(np.abs(a - b).max()) for a, b in zip(single, many)]
diffs += [float(np.abs(streamed - single[1]).max()), float(np.abs(in_scope - single[0]).max())]
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "diffs": diffs}))
"""


@pytest.mark.slow
def test_a_two_device_mirrored_strategy_gives_the_single_device_maps():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    done = subprocess.run(
        [sys.executable, "-c", _MIRRORED], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert max(result["diffs"]) < 1e-5, result


def test_predicted_on_a_convolution_is_its_most_active_channel(model):
    from vis.streaming import predicted

    x = _varied(6)
    conv = model.get_layer("conv")
    activations = keras.Model(model.inputs, conv.output)(x).numpy().mean(axis=(1, 2))
    np.testing.assert_array_equal(predicted(model, conv, x), np.argmax(activations, axis=-1))
    maps = np.concatenate(
        list(vis.stream("saliency", model, "conv", "predicted", x, batch_size=4, verbose=0))
    )
    for i, channel in enumerate(np.argmax(activations, axis=-1)):
        np.testing.assert_allclose(maps[i], visualize_saliency(model, "conv", int(channel), x[i]), atol=1e-6)


@pytest.mark.parametrize("method", ["gradcam++", "layercam", "guided_gradcam"])
def test_per_sample_classes_of_the_cam_family_equal_per_sample_calls(model, method):
    from vis.visualization import methods

    x, y = _varied(5), np.array([2, 0, 1, 2, 0])
    function = methods.get(method)
    assert function.per_sample
    joint = function(model, -1, PerSample(y), x)
    for i in range(5):
        np.testing.assert_allclose(joint[i], function(model, -1, int(y[i]), x[i]), atol=1e-6)
