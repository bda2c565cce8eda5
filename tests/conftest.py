"""Test set-up: quiet TensorFlow and avoid a oneDNN crash seen on some CPUs.

A gradient through a 1x1 stride-2 convolution with 8 or 12 input channels can
segfault inside oneDNN on these machines; `TF_ENABLE_ONEDNN_OPTS=0` before
TensorFlow is imported avoids it. Only tests set it; the library never
touches the environment.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from the default data format and a fixed seed."""
    keras.utils.set_random_seed(1337)
    data_format = keras.config.image_data_format()
    yield
    keras.config.set_image_data_format(data_format)


def snapshot(model, probe=None):
    """Returns copies of a model's weights, activations, trainable flags (and predictions on `probe`)."""
    state = (
        [w.copy() for w in model.get_weights()],
        [getattr(layer, "activation", None) for layer in model.layers],
        [layer.trainable for layer in model.layers],
    )
    return state if probe is None else (*state, model.predict(probe, verbose=0))


def assert_unchanged(model, before, probe):
    """Asserts the model's state equals `before` and its predictions on `probe` are unchanged."""
    weights, activations, trainable = snapshot(model)
    assert len(weights) == len(before[0])
    for a, b in zip(weights, before[0]):
        np.testing.assert_array_equal(a, b)
    assert activations == before[1]
    assert trainable == before[2]
    np.testing.assert_array_equal(model.predict(probe, verbose=0), before[3])
