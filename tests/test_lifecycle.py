"""The engine under threads, loops over models, strategy scopes, in-place changes and compile failures.

Child-process cases (exit, Ctrl+C) are in `test_lifecycle_process.py`.
"""

import gc
import threading
import types
import warnings
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import small_cnn
from vis import engine
from vis.engine import compiling
from vis.visualization import visualize_cam, visualize_saliency

SEEDS = np.random.default_rng(5).uniform(size=(6, 28, 28, 3)).astype("float32")


def _programs(model) -> list:
    return list(engine._cache_of(model.inputs[0]._keras_history.operation).values())


def _traces(model) -> int:
    return sum(p.compiled.experimental_get_tracing_count() for p in _programs(model))


def _run_threads(target, n: int) -> list:
    """Runs `target(i)` in `n` threads started together; returns the exceptions they raised."""
    errors, barrier = [], threading.Barrier(n)

    def work(i):
        try:
            barrier.wait()
            target(i)
        except Exception as error:  # noqa: BLE001 - reported by the caller
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _job(model, i: int, c: int):
    kind = (visualize_saliency, visualize_cam)[(i + c) % 2]
    return kind(model, -1, c % 4, SEEDS[(i + c) % len(SEEDS)])


def test_threads_on_shared_and_separate_models_give_the_serial_maps_and_one_program_per_key():
    shared = [small_cnn(seed=1), small_cnn(seed=2)]
    own = [small_cnn(seed=3 + i) for i in range(6)]
    calls = 4

    def model_of(i, own_models):
        return shared[i % 2] if i < 4 else own_models[i - 4]

    fresh_shared, fresh_own = (
        [small_cnn(seed=1), small_cnn(seed=2)],
        [small_cnn(seed=3 + i) for i in range(6)],
    )
    with compiling.policy("eager"):  # The serial reference, on copies with the same weights.
        expected = {
            (i, c): _job(fresh_shared[i % 2] if i < 4 else fresh_own[i - 4], i, c)
            for i in range(6)
            for c in range(calls)
        }
    results = {}

    def target(i):
        for c in range(calls):
            results[(i, c)] = _job(model_of(i, own), i, c)

    assert not _run_threads(target, 6)
    for key, value in expected.items():
        np.testing.assert_allclose(results[key], value, atol=1e-5, err_msg=str(key))
    for model in shared:
        programs = _programs(model)
        # Saliency and grad-CAM: one program each at most (grad-CAM may be served by saliency's),
        # each traced once however the threads raced.
        assert 1 <= len(programs) <= 2
        assert all(p.compiled.experimental_get_tracing_count() <= 1 for p in programs)
    assert threading.active_count() == 1 or all(t.name != "vis-compile" for t in threading.enumerate())


def test_racing_first_calls_build_one_program_and_one_trace():
    model = small_cnn(seed=7)
    built = []
    original = engine.Program.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    engine.Program.__init__ = counting
    try:
        assert not _run_threads(lambda i: [visualize_saliency(model, -1, 1, SEEDS[0]) for _ in range(3)], 6)
    finally:
        engine.Program.__init__ = original
    assert len(built) == 1 and len(_programs(model)) == 1
    assert _traces(model) == 1


def test_policy_belongs_to_the_thread_that_sets_it():
    eager_entered, done = threading.Event(), threading.Event()
    compiled_model, eager_model = small_cnn(seed=8), small_cnn(seed=9)

    def eager_thread():
        with compiling.policy("eager"):
            eager_entered.set()
            done.wait(60)
            visualize_saliency(eager_model, -1, 0, SEEDS[0])
            visualize_saliency(eager_model, -1, 1, SEEDS[0])

    other = threading.Thread(target=eager_thread)
    try:
        with compiling.policy("compiled"):
            other.start()  # Enters "eager" after this thread entered "compiled".
            assert eager_entered.wait(60)
            visualize_saliency(compiled_model, -1, 0, SEEDS[0])
        assert _traces(compiled_model) == 1  # Compiled at the first call, despite the other thread.
    finally:
        done.set()
        other.join()
    assert _traces(eager_model) == 0


def test_fifty_models_in_a_loop_compile_nothing_and_leave_nothing_alive():
    seed = SEEDS[0]
    refs, traces = [], 0
    threads = threading.active_count()
    for i in range(50):
        model = small_cnn(seed=i)
        visualize_saliency(model, -1, i % 4, seed)
        traces += _traces(model)
        refs.append(weakref.ref(model))
        del model
    gc.collect()
    assert traces == 0  # A model called once is never compiled.
    assert threading.active_count() == threads
    assert [i for i, ref in enumerate(refs) if ref() is not None] == []


@pytest.mark.parametrize("kind", ["mirrored", "one_device"])
def test_a_strategy_scope_traces_each_program_once(kind):
    model, reference = small_cnn(seed=11), small_cnn(seed=11)
    with compiling.policy("eager"):
        expected = [visualize_saliency(reference, -1, c, SEEDS[0]) for c in range(4)]
    strategy = (
        tf.distribute.MirroredStrategy(["/cpu:0"])
        if kind == "mirrored"
        else tf.distribute.OneDeviceStrategy("/cpu:0")
    )
    with strategy.scope():
        maps = [visualize_saliency(model, -1, c, SEEDS[0]) for c in range(4)]
    assert _traces(model) == 1
    for got, want in zip(maps, expected):
        np.testing.assert_allclose(got, want, atol=1e-5)


def _softmax_cnn(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((10, 10, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="softmax", name="preds"),
        ]
    )


def test_an_activation_swapped_in_place_changes_the_maps_at_once():
    """keras-vis tutorials set `layer.activation = linear` without `apply_modifications`."""
    model, linear = _softmax_cnn(12), _softmax_cnn(12)
    linear.layers[-1].activation = keras.activations.linear
    x = SEEDS[0][:10, :10]
    with compiling.policy("eager"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want_linear = visualize_saliency(linear, -1, 1, x)
        want_softmax = visualize_saliency(_softmax_cnn(12), -1, 1, x)
    assert not np.allclose(want_linear, want_softmax, atol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):  # Eager, then compiled.
            np.testing.assert_allclose(visualize_saliency(model, -1, 1, x), want_softmax, atol=1e-5)
        model.layers[-1].activation = keras.activations.linear
        for _ in range(3):
            np.testing.assert_allclose(visualize_saliency(model, -1, 1, x), want_linear, atol=1e-5)
        model.layers[-1].activation = keras.activations.softmax
        np.testing.assert_allclose(visualize_saliency(model, -1, 1, x), want_softmax, atol=1e-5)


class EagerOnly(keras.layers.Layer):
    """Doubles its input; refuses to be traced (as Python code reading `.numpy()` would)."""

    def call(self, x):
        if not tf.executing_eagerly():
            raise NotImplementedError("this layer runs eagerly only")
        return x * 2.0

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, x.dtype)


def test_a_failed_compile_is_reported_once_and_eager_runs_on():
    inputs = keras.Input((5,))
    outputs = keras.layers.Dense(3, use_bias=False, name="preds")(EagerOnly()(inputs))
    model = keras.Model(inputs, outputs)
    weights = model.get_layer("preds").get_weights()[0]
    x = np.linspace(-1, 1, 5).astype("float32")
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        maps = [visualize_saliency(model, -1, 2, x) for _ in range(4)]
    reports = [
        w for w in log if issubclass(w.category, RuntimeWarning) and "could not compile" in str(w.message)
    ]
    assert len(reports) == 1
    assert "ActivationMax" in str(reports[0].message) and "eagerly" in str(reports[0].message)
    expected = np.abs(2.0 * weights[:, 2])  # Saliency of W(2x) is |2 W[:, c]|, normalised to [0, 1].
    for value in maps:
        np.testing.assert_allclose(value, (expected - expected.min()) / np.ptp(expected), atol=1e-6)


def test_an_error_of_the_call_itself_is_raised_not_reported_as_a_compile_failure():
    model = small_cnn(seed=13)
    visualize_saliency(model, -1, 0, SEEDS[0])
    program = _programs(model)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError):  # A seed of the wrong shape fails eagerly too.
            program.lazy_gradients([tf.zeros((1, 5, 5, 3))], [np.int32(0)], tf.constant([1.0]))
    assert program.lazy_gradients.failed is None


def test_vis_never_writes_to_tensorflows_gradient_registry(monkeypatch):
    from tensorflow.python.framework import ops

    entries = ops._gradient_registry._registry
    for name in (
        "Conv2D",
        "MatMul",
        "Relu",
        "BiasAdd",
        "MaxPool",
    ):  # Read-only, as TensorFlow might make them.
        monkeypatch.setitem(entries, name, types.MappingProxyType(entries[name]))
    model = small_cnn(seed=15)
    for c in range(3):  # Eager, compiled, compiled: no TypeError from a read-only registry.
        assert np.isfinite(visualize_saliency(model, -1, c, SEEDS[0])).all()
        assert np.isfinite(visualize_cam(model, -1, c, SEEDS[0])).all()


_SAVE_ALL = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
from keras import layers
for kind in ("sequential", "functional"):
    keras.utils.set_random_seed(0)
    stack = [layers.Conv2D(4, 3, activation="relu"), layers.Conv2D(5, 3, activation="relu"),
             layers.GlobalAveragePooling2D(), layers.Dense(3)]
    if kind == "sequential":
        model = keras.Sequential([keras.Input((12, 12, 3)), *stack])
    else:
        inputs = x = keras.Input((12, 12, 3))
        for layer in stack:
            x = layer(x)
        model = keras.Model(inputs, x)
    for suffix in (".keras", ".h5"):
        model.save(os.path.join(sys.argv[1], kind + suffix))
"""


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Sequential and Functional models saved as .keras and .h5 by another process."""
    import os
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("saved")
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
    subprocess.run([sys.executable, "-c", _SAVE_ALL, str(folder)], check=True, capture_output=True, env=env)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sequential.keras", "sequential.h5", "functional.keras", "functional.h5"])
def test_threads_and_an_activation_swap_on_a_model_saved_by_another_process(saved_models, name):
    from tests.conftest import assert_unchanged, snapshot

    path = str(saved_models / name)
    model, reference = keras.models.load_model(path), keras.models.load_model(path)
    seeds = SEEDS[:4, :12, :12]
    before = snapshot(model, seeds)
    with compiling.policy("eager"):
        expected = [visualize_saliency(reference, -1, c, seeds[c]) for c in range(3)]
    results = {}

    def target(i):
        for c in range(3):  # Eager, compiling, compiled, racing with the other threads.
            results[(i, c)] = visualize_saliency(model, -1, c, seeds[c])

    assert not _run_threads(target, 4)
    for (_, c), value in results.items():
        np.testing.assert_allclose(value, expected[c], atol=1e-5)
    assert len(_programs(model)) == 1 and _traces(model) == 1
    assert_unchanged(model, before, seeds)
    model.layers[-1].activation = keras.activations.softmax  # In place, as keras-vis tutorials do.
    reference.layers[-1].activation = keras.activations.softmax
    with compiling.policy("eager"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = visualize_saliency(reference, -1, 1, seeds[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = [visualize_saliency(model, -1, 1, seeds[1]) for _ in range(3)]
    assert not np.allclose(want, expected[1], atol=1e-3)
    for value in got:
        np.testing.assert_allclose(value, want, atol=1e-5)
