"""The registry of map methods: names resolve to the public functions with their fixed keywords."""

import numpy as np
import pytest

from tests.models import small_cnn
from vis.backend import set_random_seed
from vis.visualization import (
    methods,
    visualize_cam,
    visualize_cam_plus_plus,
    visualize_guided_cam,
    visualize_integrated_gradients,
    visualize_layer_cam,
    visualize_saliency,
    visualize_score_cam,
)

SEED = np.random.default_rng(0).uniform(size=(28, 28, 3)).astype("float32")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("saliency", lambda m: visualize_saliency(m, -1, 1, SEED)),
        ("guided", lambda m: visualize_saliency(m, -1, 1, SEED, backprop_modifier="guided")),
        ("rectified", lambda m: visualize_saliency(m, -1, 1, SEED, backprop_modifier="rectified")),
        ("gradcam", lambda m: visualize_cam(m, -1, 1, SEED)),
        ("smoothgrad", lambda m: visualize_saliency(m, -1, 1, SEED, smooth_samples=20)),
        ("ig", lambda m: visualize_integrated_gradients(m, -1, 1, SEED)),
        ("gradcam++", lambda m: visualize_cam_plus_plus(m, -1, 1, SEED)),
        ("layercam", lambda m: visualize_layer_cam(m, -1, 1, SEED)),
        ("scorecam", lambda m: visualize_score_cam(m, -1, 1, SEED)),
        ("guided_gradcam", lambda m: visualize_guided_cam(m, -1, 1, SEED)),
    ],
)
def test_a_name_runs_its_function_with_its_keywords(name, expected):
    model = small_cnn()
    set_random_seed(0)
    by_name = methods.get(name)(model, -1, 1, SEED)
    set_random_seed(0)
    np.testing.assert_array_equal(by_name, expected(model))
    assert methods.get(name).kind == {"scorecam": "forward"}.get(name, "cam" if "cam" in name else "gradient")


def test_guided_and_rectified_differ_from_plain_saliency():
    model = small_cnn()
    maps = {name: methods.get(name)(model, -1, 1, SEED) for name in ("saliency", "guided", "rectified")}
    assert not np.allclose(maps["saliency"], maps["guided"])
    assert not np.allclose(maps["guided"], maps["rectified"])


def test_a_callable_is_wrapped_and_user_keywords_win():
    def edges(model, layer_idx, filter_indices, seed_input, scale=1.0):
        return np.abs(np.diff(seed_input[..., 0], axis=0, append=0)) * scale

    wrapped = methods.get(edges)
    assert wrapped.name == "edges"
    np.testing.assert_array_equal(wrapped(None, -1, 0, SEED, scale=2.0), edges(None, -1, 0, SEED) * 2)
    model = small_cnn()
    plain = methods.get("guided")(model, -1, 1, SEED, backprop_modifier=None)
    np.testing.assert_array_equal(plain, visualize_saliency(model, -1, 1, SEED))


def test_unknown_names_and_types():
    with pytest.raises(ValueError, match=r"Unknown method: 'gradkam'.*'gradcam'.*Received: method='gradkam'"):
        methods.get("gradkam")
    with pytest.raises(TypeError, match=r"Received: method=3"):
        methods.get(3)
