"""Bounded resources: one trace for many calls, bounded memory, freed models, thread safety."""

import gc
import threading
import weakref

import keras
import numpy as np
import pytest
from keras import layers

from vis import engine
from vis.visualization import visualize_activation, visualize_cam, visualize_saliency

SHAPE = (8, 8, 2)


def _tiny(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(SHAPE),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            layers.Flatten(name="flatten"),
            layers.Dense(3, name="preds"),
        ]
    )


def _programs(model):
    return list(engine._cache_of(model.inputs[0]._keras_history.operation).values())


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.slow
def test_many_saliency_calls_trace_once_and_bound_memory():
    model = _tiny()
    seeds = np.random.default_rng(0).uniform(0, 1, (16, *SHAPE)).astype("float32")
    for i in range(50):  # Warm-up: allocators and caches settle.
        visualize_saliency(model, -1, i % 3, seeds[i % 16])
    programs = _programs(model)
    assert len(programs) == 1
    assert programs[0].compiled.experimental_get_tracing_count() == 1
    before = _rss_mb()
    for i in range(1000):
        visualize_saliency(model, -1, i % 3, seeds[i % 16])
    grown = _rss_mb() - before
    programs = _programs(model)
    assert len(programs) == 1
    assert programs[0].compiled.experimental_get_tracing_count() == 1
    assert grown < 50, f"RSS grew by {grown:.1f} MB over 1,000 calls"


@pytest.mark.slow
def test_models_visualised_and_deleted_are_freed():
    seed = np.random.default_rng(1).uniform(0, 1, SHAPE).astype("float32")
    refs = []
    for i in range(20):
        model = _tiny(i)
        assert np.all(np.isfinite(visualize_saliency(model, -1, 0, seed)))
        assert np.all(np.isfinite(visualize_cam(model, -1, 0, seed)))
        assert np.all(np.isfinite(visualize_saliency(model, -1, 0, seed, backprop_modifier="guided")))
        refs.append(weakref.ref(model))
        del model
        gc.collect()
    gc.collect()
    alive = [i for i, ref in enumerate(refs) if ref() is not None]
    assert not alive, f"models {alive} are still alive"


def test_threads_give_the_same_maps_as_sequential_calls():
    model = _tiny()
    seeds = np.random.default_rng(2).uniform(0, 1, (8, *SHAPE)).astype("float32")
    jobs = [(i % 3, seeds[i]) for i in range(8)]
    expected = [visualize_saliency(model, -1, c, s) for c, s in jobs]
    results, errors = {}, []

    def work(worker):
        try:
            for rep in range(5):
                for j, (c, s) in enumerate(jobs):
                    results[(worker, rep, j)] = visualize_saliency(model, -1, c, s)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(results) == 4 * 5 * len(jobs)
    for (_, _, j), value in results.items():
        np.testing.assert_array_equal(value, expected[j])


def test_threads_on_a_fresh_model_build_one_program():
    """Threads racing on the first call of a model all get correct maps."""
    model = _tiny()
    seed = np.random.default_rng(3).uniform(0, 1, SHAPE).astype("float32")
    reference = visualize_saliency(_tiny(), -1, 1, seed)
    results, errors = [], []
    barrier = threading.Barrier(4)

    def work():
        try:
            barrier.wait()
            results.append(visualize_saliency(model, -1, 1, seed))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for value in results:
        np.testing.assert_allclose(value, reference, atol=1e-6)
    assert len(_programs(model)) == 1


def test_many_programs_do_not_trigger_the_retracing_warning(caplog):
    # Each program is traced once; TensorFlow must not count them as one function retracing.
    model = _tiny()
    x = np.random.default_rng(0).random(SHAPE).astype("float32")
    with caplog.at_level("WARNING", logger="tensorflow"):
        for modifier in [None, "guided", "rectified"]:
            visualize_saliency(model, -1, 0, x, backprop_modifier=modifier)
        for index in range(3):
            visualize_saliency(model, -1, index, x, grad_modifier="relu", keepdims=True)
        visualize_cam(model, -1, 0, x)
        visualize_cam(model, "conv", 0, x, penultimate_layer_idx="conv")
        for weight in range(1, 7):
            visualize_activation(model, -1, 0, max_iter=2, tv_weight=weight, lp_norm_weight=weight)
    assert len(_programs(model)) >= 5
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
