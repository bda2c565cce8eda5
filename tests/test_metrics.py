"""vis.metrics: constructed answers on a planted-signal model, hand-computed curves, the pointing game
built by hand, the randomisation test's controls, the cost in forward calls, and the user's model untouched.

The planted-signal model has fixed weights: class 0 reads only the pixels of the 6x6 region R0 (rows and
columns 2 to 7), class 1 only those of R1 (rows and columns 9 to 14). Its convolutions are 3x3 then 1x1,
and the Dense head reads only the positions whose 3x3 receptive field lies inside the region, so the
class score depends on exactly the region's pixels and on no other.
"""

import keras
import numpy as np
import pytest
from keras import layers
from scipy import ndimage, stats

from tests.conftest import assert_unchanged, snapshot
from tests.models import dense_model
from vis import metrics
from vis.engine import program as engine_program
from vis.evaluation import edge_map
from vis.losses import PerSample
from vis.visualization import methods, visualize_saliency

SIZE = 16
R0, R1 = (slice(2, 8), slice(2, 8)), (slice(9, 15), slice(9, 15))
SEEDS = np.random.default_rng(0).uniform(size=(6, SIZE, SIZE, 1)).astype("float32")


def _region_mask(region) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype="float32")
    mask[region] = 1.0
    return mask


def _planted_model() -> keras.Model:
    rng = np.random.default_rng(7)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1"),
            layers.Conv2D(4, 1, activation="relu", name="conv2"),
            layers.Flatten(name="flatten"),
            layers.Dense(2, name="dense"),
        ]
    )
    model.get_layer("conv1").set_weights([rng.uniform(0.0, 0.5, (3, 3, 1, 6)), np.zeros(6)])
    model.get_layer("conv2").set_weights([rng.normal(0.3, 0.5, (1, 1, 6, 4)), np.full(4, -0.1)])
    head = np.zeros((SIZE, SIZE, 4, 2))
    head[3:7, 3:7, :, 0] = rng.uniform(0.5, 1.0, (4, 4, 4))  # Receptive fields inside R0.
    head[10:14, 10:14, :, 1] = rng.uniform(0.5, 1.0, (4, 4, 4))  # Inside R1.
    model.get_layer("dense").set_weights([head.reshape(-1, 2), np.zeros(2)])
    return model


@pytest.fixture(scope="module")
def planted():
    return _planted_model()


def test_the_planted_model_reads_only_its_region(planted):
    changed = SEEDS.copy()
    outside = np.ones((SIZE, SIZE), dtype=bool)
    outside[R0] = False
    changed[:, outside] = 0.0
    before, after = planted.predict(SEEDS, verbose=0), planted.predict(changed, verbose=0)
    np.testing.assert_allclose(after[:, 0], before[:, 0], rtol=1e-5)
    assert np.all(np.abs(after[:, 1] - before[:, 1]) > 0.1)


def test_the_true_region_beats_a_random_map_and_the_inverted_mask(planted):
    true = np.broadcast_to(_region_mask(R0), (len(SEEDS), SIZE, SIZE))
    maps = {
        "true": true,
        "random": np.random.default_rng(1).random(true.shape),
        "inverted": 1.0 - true,
    }
    deletion = {k: metrics.deletion(planted, -1, 0, SEEDS, m) for k, m in maps.items()}
    insertion = {k: metrics.insertion(planted, -1, 0, SEEDS, m) for k, m in maps.items()}
    score = planted.predict(SEEDS, verbose=0)[:, 0]
    # Deleting R0 first drops the score to that of a blank region within the first 14% of the pixels.
    assert np.all(deletion["true"] < 0.15 * score)
    assert np.all(deletion["true"] + 0.2 * score < deletion["random"])
    assert np.all(deletion["random"] + 0.2 * score < deletion["inverted"])
    assert np.all(insertion["true"] > 0.8 * score)
    assert np.all(insertion["true"] > insertion["random"] + 0.2 * score)
    assert np.all(insertion["random"] > insertion["inverted"] + 0.2 * score)
    # The score of class 1 ignores R0: deleting it first changes nothing until its own region goes.
    other = metrics.deletion(planted, -1, 1, SEEDS, maps["true"])
    assert np.all(other > metrics.deletion(planted, -1, 1, SEEDS, _region_mask(R1)[None].repeat(6, 0)) + 0.3)


def test_curves_and_areas_by_hand_on_a_linear_model():
    model = dense_model(np.ones((4, 1)))  # f(x) = x0 + x1 + x2 + x3
    x = np.array([1.0, 2.0, 3.0, 4.0], dtype="float32")
    ranking = np.array([0.1, 0.2, 0.3, 0.4])  # Most important first: x3, x2, x1, x0.
    np.testing.assert_allclose(metrics.deletion_curves(model, -1, 0, x, ranking, steps=4), [[10, 6, 3, 1, 0]])
    np.testing.assert_allclose(
        metrics.insertion_curves(model, -1, 0, x, ranking, steps=4), [[0, 4, 7, 9, 10]]
    )
    np.testing.assert_allclose(metrics.deletion(model, -1, 0, x, ranking, steps=4), [15 / 4])
    np.testing.assert_allclose(metrics.insertion(model, -1, 0, x, ranking, steps=4), [25 / 4])
    np.testing.assert_allclose(metrics.deletion_curves(model, -1, 0, x, ranking, steps=2), [[10, 3, 0]])
    np.testing.assert_allclose(
        metrics.deletion_curves(model, -1, 0, x, ranking, steps=2, baseline=np.array([1, 1, 1, 1])),
        [[10, 5, 4]],
    )
    first = dense_model(np.array([[1.0], [0.0], [0.0], [0.0]]))  # f(x) = x0
    blurred = ndimage.gaussian_filter1d(x.astype("float64"), 1.0, mode="nearest")[
        0
    ]  # sigma: 1 pixel at least
    np.testing.assert_allclose(
        metrics.deletion_curves(first, -1, 0, x, ranking, steps=1, baseline="blur"), [[1, blurred]], rtol=1e-5
    )


def test_the_blur_baseline_blurs_each_image_on_its_own(planted):
    curves = metrics.deletion_curves(
        planted, -1, 0, SEEDS, np.ones((6, SIZE, SIZE)), steps=1, baseline="blur"
    )
    sigma = 0.1 * SIZE
    blurred = np.stack([ndimage.gaussian_filter(s, (sigma, sigma, 0), mode="nearest") for s in SEEDS])
    np.testing.assert_allclose(curves[:, 1], planted.predict(blurred, verbose=0)[:, 0], rtol=1e-4)
    np.testing.assert_allclose(curves[:, 0], planted.predict(SEEDS, verbose=0)[:, 0], rtol=1e-5)


def test_ties_are_broken_in_a_fixed_order_not_by_position():
    model = dense_model(np.ones((4, 1)))
    x = np.array([1.0, 2.0, 3.0, 4.0], dtype="float32")
    flat = np.zeros(4)
    first, again = (metrics.deletion_curves(model, -1, 0, x, flat, steps=4) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, [[10, 9, 7, 4, 0]])  # Not left to right.


def test_channels_are_reduced_and_one_seed_keeps_the_batch_axis(planted):
    maps = np.random.default_rng(2).random((2, SIZE, SIZE, 1))
    with_channels = metrics.deletion(planted, -1, 0, SEEDS[:2], maps)
    np.testing.assert_allclose(with_channels, metrics.deletion(planted, -1, 0, SEEDS[:2], maps[..., 0]))
    one = metrics.insertion(planted, "dense", 0, SEEDS[0], maps[0, ..., 0])
    assert one.shape == (1,)
    np.testing.assert_allclose(one, metrics.insertion(planted, -1, 0, SEEDS[:2], maps)[:1])


def test_channels_are_reduced_by_their_max():
    model = keras.Sequential([keras.Input((2, 2, 3)), layers.Flatten(), layers.Dense(1, use_bias=False)])
    model.layers[-1].set_weights([np.arange(1.0, 13.0)[:, None]])
    x = np.ones((2, 2, 3), dtype="float32")
    maps = np.array(
        [[[0, 0, 9], [4, 4, 4]], [[2, 2, 2], [0, 0, 0]]], dtype="float64"
    )  # Max 9 4 2 0, mean 3 4 2 0.
    curves = metrics.deletion_curves(model, -1, 0, x, maps, steps=4)
    np.testing.assert_allclose(curves, metrics.deletion_curves(model, -1, 0, x, maps.max(axis=-1), steps=4))
    by_mean = metrics.deletion_curves(model, -1, 0, x, maps.mean(axis=-1), steps=4)
    assert not np.allclose(curves, by_mean)
    # Pixel (0, 0) (weights 1, 2, 3) goes first, then (0, 1) (4, 5, 6), then (1, 0) (7, 8, 9).
    np.testing.assert_allclose(curves, [[78, 72, 57, 33, 0]])


def test_channels_first_seeds_and_maps():
    keras.config.set_image_data_format("channels_first")
    model = keras.Sequential([keras.Input((3, 2, 2)), layers.Flatten(), layers.Dense(1, use_bias=False)])
    model.layers[-1].set_weights([np.ones((12, 1))])  # f(x) = sum of every value
    x = np.arange(1.0, 13.0, dtype="float32").reshape(3, 2, 2)  # Pixel sums: 15, 18, 21, 24.
    maps = np.zeros((3, 2, 2))
    maps[2] = [[3, 0], [1, 2]]  # Channel max: pixel (0, 0), then (1, 1), then (1, 0), then (0, 1).
    np.testing.assert_allclose(metrics.deletion_curves(model, -1, 0, x, maps, steps=4), [[78, 63, 39, 18, 0]])
    blurred = metrics.deletion_curves(model, -1, 0, x, maps[0], steps=1, baseline="blur")[0, 1]
    expected = sum(
        ndimage.gaussian_filter(x[c].astype("float64"), 1.0, mode="nearest").sum() for c in range(3)
    )
    np.testing.assert_allclose(blurred, expected, rtol=1e-5)  # Blurred within each channel, not across.


def test_predicted_scores_each_seed_with_its_own_top_class(planted):
    seeds = SEEDS.copy()
    seeds[:3, R1[0], R1[1]] = 0.0  # Class 0 wins on the first three, class 1 on the others.
    seeds[3:, R0[0], R0[1]] = 0.0
    classes = np.argmax(planted.predict(seeds, verbose=0), axis=1)
    assert classes.tolist() == [0, 0, 0, 1, 1, 1]
    maps = np.random.default_rng(3).random((6, SIZE, SIZE))
    predicted = metrics.deletion(planted, -1, "predicted", seeds, maps)
    one_by_one = [metrics.deletion(planted, -1, int(c), s, m)[0] for c, s, m in zip(classes, seeds, maps)]
    np.testing.assert_allclose(predicted, one_by_one, rtol=1e-6)
    given = metrics.deletion(planted, -1, PerSample(classes), seeds, maps)
    np.testing.assert_allclose(given, one_by_one, rtol=1e-6)
    swapped = metrics.deletion(planted, -1, PerSample(1 - classes), seeds, maps)
    assert np.all(np.abs(swapped - given) > 0.5)


def test_per_sample_classes_reach_a_method_in_one_call_or_one_call_per_class(planted):
    seen = []

    def recording(model, layer_idx, filter_indices, seed_input, **kwargs):
        seen.append(filter_indices if isinstance(filter_indices, int) else list(filter_indices.indices))
        return edge_map(model, layer_idx, filter_indices, seed_input)

    classes = PerSample([1, 0, 1, 1, 0, 0])
    metrics.randomization_test(recording, planted, -1, classes, SEEDS, num_layers=1)
    assert seen == [0, 1, 0, 1]  # Trained, then randomised: one call per class.
    seen.clear()
    one_call = methods.Method("recording", recording, per_sample=True)
    metrics.randomization_test(one_call, planted, -1, classes, SEEDS, num_layers=1)
    assert seen == [[1, 0, 1, 1, 0, 0]] * 2


def test_deletion_makes_steps_plus_one_batched_forward_calls_and_never_retraces(planted, monkeypatch):
    calls = []
    real = engine_program.Program.__call__

    def counting(self, seeds, losses, weights, gradient=True):
        calls.append((len(seeds[0]), gradient))
        return real(self, seeds, losses, weights, gradient)

    monkeypatch.setattr(engine_program.Program, "__call__", counting)
    maps = np.random.default_rng(4).random((6, SIZE, SIZE))
    metrics.deletion(planted, -1, 0, SEEDS, maps, steps=10)
    assert calls == [(6, False)] * 11
    calls.clear()
    metrics.deletion(planted, -1, 0, SEEDS, maps, steps=10, batch_size=4)
    assert calls == [(4, False), (2, False)] * 11
    calls.clear()
    metrics.insertion(planted, -1, 1, SEEDS[::-1] * 0.5, maps, steps=5)  # Another batch, class and steps.
    assert calls == [(6, False)] * 6
    (program,) = [p for p in _programs(planted) if p.wrt_tensor is not None]
    assert program.forward.experimental_get_tracing_count() == 1


def _programs(model):
    from vis import engine

    return list(engine._cache_of(model.inputs[0]._keras_history.operation).values())


def test_maps_and_seeds_are_not_modified(planted):
    maps, seeds = np.random.default_rng(5).random((6, SIZE, SIZE)), SEEDS.copy()
    copies = maps.copy(), seeds.copy()
    metrics.deletion(planted, -1, 0, seeds, maps, baseline="blur")
    metrics.pointing_game(maps, np.tile([0, 0, 4, 4], (6, 1)), tolerance=2)
    np.testing.assert_array_equal(maps, copies[0])
    np.testing.assert_array_equal(seeds, copies[1])


def _peak(y, x, shape=(8, 8)):
    array = np.zeros(shape)
    array[y, x] = 1.0
    return array


def test_pointing_game_hits_and_misses_by_hand():
    maps = np.stack([_peak(2, 3), _peak(2, 3), _peak(6, 6), np.zeros((8, 8))])
    boxes = np.array([[3, 2, 4, 3], [4, 2, 8, 8], [0, 0, 8, 8], [0, 0, 8, 8]])  # x_min, y_min, x_max, y_max
    assert metrics.pointing_game(maps, boxes).tolist() == [True, False, True, True]
    # A flat map points everywhere: a hit only when the object covers every pixel.
    assert metrics.pointing_game(np.zeros((8, 8)), [0, 0, 8, 7]).tolist() == [False]
    # Tolerance: the peak at x=3 is 1 pixel left of a box starting at x=4, and sqrt(2) from one at (4, 3).
    assert metrics.pointing_game(_peak(2, 3), [4, 2, 8, 8], tolerance=0.99).tolist() == [False]
    assert metrics.pointing_game(_peak(2, 3), [4, 2, 8, 8], tolerance=1).tolist() == [True]
    assert metrics.pointing_game(_peak(2, 3), [4, 3, 8, 8], tolerance=1.4).tolist() == [False]
    assert metrics.pointing_game(_peak(2, 3), [4, 3, 8, 8], tolerance=1.5).tolist() == [True]
    # The maxima are exclusive, as in slicing: map[y_min:y_max, x_min:x_max].
    assert metrics.pointing_game(_peak(2, 4), [0, 0, 4, 8]).tolist() == [False]
    assert metrics.pointing_game(_peak(4, 2), [0, 0, 8, 4]).tolist() == [False]
    assert metrics.pointing_game(_peak(3, 3), [0, 0, 4, 4]).tolist() == [True]


def test_pointing_game_with_masks_and_several_boxes():
    maps = np.stack([_peak(1, 1), _peak(5, 5)])
    masks = np.zeros((2, 8, 8), dtype=bool)
    masks[0, 0:2, 0:2] = True
    masks[1, 0:2, 0:2] = True
    assert metrics.pointing_game(maps, masks).tolist() == [True, False]
    # The nearest object pixel to (5, 5) is (1, 1), at 4 * sqrt(2) = 5.66 pixels.
    assert metrics.pointing_game(maps, masks.astype(int), tolerance=5.6).tolist() == [True, False]
    assert metrics.pointing_game(maps, masks.astype(int), tolerance=5.7).tolist() == [True, True]
    several = np.array([[[0, 0, 2, 2], [6, 6, 8, 8]], [[0, 0, 2, 2], [5, 5, 6, 6]]])
    assert metrics.pointing_game(maps, several).tolist() == [True, True]


def _edges(model, layer_idx, filter_indices, seed_input, **kwargs):
    """A map of the seed alone (its edges): it cannot depend on the weights."""
    return edge_map(model, layer_idx, filter_indices, seed_input)


@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_a_map_of_the_image_alone_survives_every_randomised_layer(planted, mode):
    rho = metrics.randomization_test(_edges, planted, -1, 0, SEEDS, layers=mode)
    assert metrics.randomized_layers(planted, -1) == ["dense", "conv2", "conv1"]
    np.testing.assert_allclose(rho, np.ones((6, 3)), atol=1e-12)


def test_saliency_drops_once_the_top_layer_is_randomised_and_the_model_is_unchanged(planted):
    before = snapshot(planted, SEEDS)
    keras.utils.set_random_seed(0)
    rho = metrics.randomization_test("saliency", planted, -1, 0, SEEDS)
    assert rho.shape == (6, 3)
    assert np.all(rho[:, 0] < 0.5), rho  # The edge map keeps 1.0.
    assert np.all(rho[:, 2] < 0.5), rho
    assert_unchanged(planted, before, SEEDS)
    keras.utils.set_random_seed(0)  # The same fresh weights: the top layer alone, whatever the mode.
    independent = metrics.randomization_test("saliency", planted, -1, 0, SEEDS, layers="independent")
    np.testing.assert_allclose(independent[:, 0], rho[:, 0], atol=1e-12)
    assert not np.allclose(independent[:, 2], rho[:, 2], atol=0.01)
    assert_unchanged(planted, before, SEEDS)
    # The map of the user's model is also the same as before.
    np.testing.assert_array_equal(
        visualize_saliency(planted, -1, 0, SEEDS), methods.get("saliency")(planted, -1, 0, SEEDS)
    )


def test_layer_objects_in_the_method_arguments_are_those_of_the_copy(planted):
    keras.utils.set_random_seed(0)
    by_name = metrics.randomization_test("gradcam", planted, -1, 0, SEEDS[:2], penultimate_layer_idx="conv1")
    keras.utils.set_random_seed(0)
    layer = planted.get_layer("conv1")
    by_object = metrics.randomization_test(
        "gradcam", planted, "dense", 0, SEEDS[:2], penultimate_layer_idx=layer
    )
    np.testing.assert_allclose(by_object, by_name, atol=1e-12)
    assert metrics.randomization_test(_edges, planted, -1, 0, SEEDS[:2], num_layers=1).shape == (2, 1)


def test_a_wrt_tensor_of_the_model_is_swapped_for_the_copy_s(planted):
    conv1 = planted.get_layer("conv1").output
    rho = metrics.randomization_test("saliency", planted, -1, 0, SEEDS[:2], wrt_tensor=conv1)
    assert rho.shape == (2, 3) and np.all(rho[:, 0] < 0.5), rho  # Maps (16, 16, 6) of conv1's output.


def test_rank_correlation_matches_scipy_and_handles_constant_maps():
    rng = np.random.default_rng(6)
    a, b = rng.integers(0, 4, (3, 5, 5)), rng.random((3, 5, 5))  # Ties in a.
    expected = [stats.spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(metrics.rank_correlation(a, b), expected, atol=1e-12)
    np.testing.assert_allclose(metrics.rank_correlation(a, -a), [-1, -1, -1], atol=1e-12)
    rho = metrics.rank_correlation(np.stack([np.zeros(4), np.zeros(4)]), np.stack([np.arange(4), np.ones(4)]))
    assert rho[0] == 0.0 and np.isnan(rho[1])


def test_completeness_of_integrated_gradients():
    from vis.metrics import completeness

    # Linear: the attributions sum to S(x) - S(b) exactly, for any number of steps.
    w = np.random.default_rng(3).normal(size=(6, 2)).astype("float32")
    linear = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, use_bias=False)])
    linear.layers[0].set_weights([w])
    x = np.random.default_rng(4).normal(size=(3, 6)).astype("float32")
    sums, differences = completeness(linear, -1, 1, x, baseline=0.5, steps=1)
    np.testing.assert_allclose(differences, (x - 0.5) @ w[:, 1], rtol=1e-5)
    np.testing.assert_allclose(sums, differences, rtol=1e-5)
    # Nonlinear: within 1% at 50 steps, and visibly off with one step.
    keras.utils.set_random_seed(5)
    cnn = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(3, 3, activation="tanh"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softplus"),
        ]
    )
    seeds = np.random.default_rng(6).uniform(size=(2, 8, 8, 1)).astype("float32") * 3
    sums, differences = completeness(cnn, -1, 0, seeds, steps=50)
    assert np.all(np.abs(sums - differences) <= 0.01 * np.abs(differences))
    rough, _ = completeness(cnn, -1, 0, seeds, steps=1)
    assert np.any(np.abs(rough - differences) > 0.02 * np.abs(differences))
