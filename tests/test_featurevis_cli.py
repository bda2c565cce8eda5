"""`vis activation --param fft --decorrelate --transforms robust` on a model saved by another process."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A softmax CNN saved by this process; the `vis` command loads it in its own process."""
    path = tmp_path_factory.mktemp("featurevis_cli") / "model.keras"
    keras.utils.set_random_seed(0)
    layers = keras.layers
    keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            layers.Conv2D(6, 3, activation="relu", name="conv"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(4, activation="softmax", name="out"),
        ]
    ).save(path)
    return str(path)


def _vis(*args):
    return subprocess.run(
        [sys.executable, "-m", "vis", *args], cwd=ROOT, env=ENV, capture_output=True, text=True
    )


@pytest.mark.slow
def test_activation_with_the_feature_options_writes_an_image_that_raises_the_class(model_file, tmp_path):
    out = tmp_path / "out"
    flags = ["--class", "3", "--param", "fft", "--decorrelate", "--transforms", "robust", "--max-iter", "60"]
    done = _vis("activation", model_file, *flags, "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    image = np.load(out / "activation_out_3.npy")
    assert image.shape == (16, 16, 3) and 0.0 <= image.min() and image.max() <= 1.0 and np.ptp(image) > 0.1
    assert (out / "activation_out_3.png").exists()
    model = keras.saving.load_model(model_file)
    logits = keras.Model(model.inputs, model.get_layer("out").output)  # Softmax probabilities here.
    grey = np.full((1, 16, 16, 3), 0.5, "float32")
    assert float(logits(image[None])[0, 3]) > float(logits(grey)[0, 3])


def test_a_bad_param_is_refused_by_the_parser(model_file, tmp_path):
    done = _vis("activation", model_file, "--param", "wavelet", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "--param" in done.stderr and "wavelet" in done.stderr
