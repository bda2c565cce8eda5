"""Transfer: class images made from model A by the full feature-visualization path are classified as
their class by model B (other seed and width) far more often than keras-vis's pixel images.

The harness (data, models, scores) is `tests/featurevis_harness.py`, shared with
`benchmarks/bench_featurevis.py`, which prints the full table (3 seeds, 256 steps, MNIST too).
"""

import numpy as np
import pytest

from tests import featurevis_harness as harness


@pytest.fixture(scope="session")
def colour_models():
    """Models A and B trained on the generated colour shapes (the slow part: ~30-60 s on 2 cores)."""
    return harness.trained_models()


@pytest.mark.slow
def test_the_full_path_transfers_at_least_8_of_10_classes_and_2_more_than_pixels(colour_models):
    assert colour_models["A_accuracy"] > 0.9 and colour_models["B_accuracy"] > 0.9
    settings = {k: harness.SETTINGS[k] for k in ["pixel", "fft+decorrelate+robust"]}
    found = harness.transfer(colour_models, settings, seeds=(0,), steps=128)
    pixel, full = found["pixel"][0], found["fft+decorrelate+robust"][0]
    assert full["transfer"] >= 8 and full["transfer"] >= pixel["transfer"] + 2, found
    assert full["p_B"] > pixel["p_B"] + 0.2 and full["p_A"] > 0.8, found
    images = harness.class_images(colour_models["A"], settings["fft+decorrelate+robust"], 0, 2)
    assert images.shape == (10, 32, 32, 3) and 0 <= images.min() and images.max() <= 1
    assert np.ptp(images) > 0.2
