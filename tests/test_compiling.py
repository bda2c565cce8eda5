"""A program runs eagerly at its first call and compiled from its second; results agree."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.conftest import assert_unchanged, snapshot
from tests.models import small_cnn
from vis import engine
from vis.engine import compiling
from vis.losses import ActivationMaximization
from vis.visualization import visualize_cam, visualize_saliency

SEEDS = np.random.default_rng(0).uniform(size=(3, 28, 28, 3)).astype("float32")


def _programs(model) -> dict:
    return engine._cache_of(model.inputs[0]._keras_history.operation)


def _program(model):
    return next(iter(_programs(model).values()))


@pytest.mark.parametrize("wrt", ["input", "conv"])
def test_the_eager_first_call_equals_the_compiled_calls(wrt):
    model = small_cnn()
    losses = [(ActivationMaximization(model.get_layer("preds"), 2), -1)]
    target = None if wrt == "input" else model.get_layer("conv").output
    first = engine.compute(model.inputs, losses, SEEDS, wrt_tensor=target)
    program = _program(model)
    assert program.compiled.experimental_get_tracing_count() == 0  # Eager: nothing traced.
    assert not program.lazy_gradients.ready
    for _ in range(3):
        later = engine.compute(model.inputs, losses, SEEDS, wrt_tensor=target)
        np.testing.assert_allclose(later.grads, first.grads, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(later.overall_loss, first.overall_loss, rtol=1e-6)
        np.testing.assert_allclose(later.wrt_value, first.wrt_value, rtol=1e-6)
    assert program.lazy_gradients.ready and program.compiled.experimental_get_tracing_count() == 1
    forward = engine.evaluate(model.inputs, losses, SEEDS, wrt_tensor=target)
    np.testing.assert_allclose(forward.overall_loss, first.overall_loss, rtol=1e-6)


def test_the_second_call_compiles_in_the_calling_thread():
    import threading

    model = small_cnn()
    before = threading.active_count()
    visualize_saliency(model, -1, 0, SEEDS[0])
    program = _program(model)
    assert not program.lazy_gradients.ready and threading.active_count() == before  # No compile thread.
    visualize_saliency(model, -1, 1, SEEDS[0])
    assert program.lazy_gradients.ready and threading.active_count() == before


def test_policies_eager_and_compiled():
    eager_model, compiled_model = small_cnn(), small_cnn()
    with compiling.policy("eager"):
        maps = [visualize_cam(eager_model, -1, c, SEEDS) for c in range(3)]
    program = _program(eager_model)
    assert program.compiled.experimental_get_tracing_count() == 0 and not program.lazy_gradients.ready
    with compiling.policy("compiled"):
        compiled = [visualize_cam(compiled_model, -1, c, SEEDS) for c in range(3)]
    assert _program(compiled_model).compiled.experimental_get_tracing_count() == 1
    for a, b in zip(maps, compiled):
        np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="Received: policy='lazy'"), compiling.policy("lazy"):
        pass


@pytest.mark.parametrize("backprop_modifier", [None, "guided"])
def test_grad_cam_after_saliency_shares_its_compile_and_equals_a_fresh_grad_cam(backprop_modifier):
    served, fresh = small_cnn(), small_cnn()  # The same weights (one seed).
    visualize_saliency(served, -1, 0, SEEDS, backprop_modifier=backprop_modifier)
    (program,) = _programs(served).values()
    for c in range(3):
        np.testing.assert_allclose(
            visualize_cam(served, -1, c, SEEDS, backprop_modifier=backprop_modifier),
            visualize_cam(fresh, -1, c, SEEDS, backprop_modifier=backprop_modifier),
            atol=1e-6,
        )
    assert len(_programs(served)) == 1  # No program of its own.
    assert program.served == 3 * len(SEEDS) and program.compiled.experimental_get_tracing_count() == 1


def test_a_saliency_program_that_never_compiles_serves_no_grad_cam():
    model = small_cnn()
    with compiling.policy("eager"):
        visualize_saliency(model, -1, 0, SEEDS)
        visualize_cam(model, -1, 0, SEEDS)
    programs = _programs(model)
    assert len(programs) == 2 and all(p.served == 0 for p in programs.values())


_MAKE_SAVED = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
from keras import layers
keras.utils.set_random_seed(0)
stack = [layers.Conv2D(4, 3, activation="relu"), layers.Conv2D(5, 3, activation="relu"),
         layers.GlobalAveragePooling2D(), layers.Dense(3)]
if sys.argv[2] == "sequential":
    model = keras.Sequential([keras.Input((12, 12, 3)), *stack])
else:
    inputs = x = keras.Input((12, 12, 3))
    for layer in stack:
        x = layer(x)
    model = keras.Model(inputs, x)
model.save(sys.argv[1])
"""


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_serving_on_a_model_saved_by_another_process(tmp_path, kind, suffix):
    path = str(tmp_path / f"model{suffix}")
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
    subprocess.run([sys.executable, "-c", _MAKE_SAVED, path, kind], check=True, capture_output=True, env=env)
    served, fresh = keras.models.load_model(path), keras.models.load_model(path)
    seeds = np.random.default_rng(1).uniform(size=(2, 12, 12, 3)).astype("float32")
    before = snapshot(served, seeds)
    visualize_saliency(served, -1, 0, seeds)
    for c in range(3):
        expected = visualize_cam(fresh, -1, c, seeds)
        np.testing.assert_allclose(visualize_cam(served, -1, c, seeds), expected, atol=1e-6)
    assert _program(served).served == 3 * len(seeds) and len(_programs(served)) == 1
    assert_unchanged(served, before, seeds)
