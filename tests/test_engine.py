"""The gradient engine: closed-form gradients, caching, graphs as users have them."""

import gc
import pathlib
import threading
import weakref

import keras
import numpy as np
import pytest
from keras import layers

from tests.models import small_cnn, two_layer_linear
from vis import engine
from vis.losses import ActivationMaximization, Loss

RNG = np.random.default_rng(0)
W1 = RNG.normal(size=(4, 3)).astype("float32")
W2 = RNG.normal(size=(3, 2)).astype("float32")


def _am(model, layer, index, weight=-1):
    return [(ActivationMaximization(model.get_layer(layer), index), weight)]


def test_gradient_wrt_input_is_the_product_of_weights():
    model = two_layer_linear(W1, W2)
    x = RNG.normal(size=(3, 4)).astype("float32")
    result = engine.compute(model.inputs, _am(model, "out", 1), x)
    np.testing.assert_allclose(result.grads, np.tile(W1 @ W2[:, 1], (3, 1)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.wrt_value, x)
    # ActivationMaximization is minus the activation; weight -1 makes the overall loss the activation.
    np.testing.assert_allclose(result.named_losses[0][1], -(x @ W1 @ W2)[:, 1], rtol=1e-5)
    np.testing.assert_allclose(result.overall_loss, (x @ W1 @ W2)[:, 1], rtol=1e-5)
    assert result.named_losses[0][0] == "ActivationMax Loss"


def test_gradient_wrt_intermediate_tensor_is_the_downstream_weights():
    model = two_layer_linear(W1, W2)
    x = RNG.normal(size=(2, 4)).astype("float32")
    hidden = model.get_layer("hidden").output
    result = engine.compute(model.inputs, _am(model, "out", 0), x, wrt_tensor=hidden)
    np.testing.assert_allclose(result.grads, np.tile(W2[:, 0], (2, 1)), rtol=1e-6)
    np.testing.assert_allclose(result.wrt_value, x @ W1, rtol=1e-5)


def test_an_input_program_serves_gradients_at_its_also_wrt_tensors(monkeypatch):
    model = two_layer_linear(W1, W2)
    x = RNG.normal(size=(2, 4)).astype("float32")
    hidden = model.get_layer("hidden").output
    saliency = engine.compute(model.inputs, _am(model, "out", 1), x, also_wrt=[hidden])
    np.testing.assert_allclose(saliency.grads, np.tile(W1 @ W2[:, 1], (2, 1)), rtol=1e-5, atol=1e-6)
    programs = engine._cache_of(model.inputs[0]._keras_history.operation)
    (server,) = programs.values()
    monkeypatch.setattr(engine, "SERVED_SAMPLES", 3)
    for expected_programs, expected_served in [(1, 2), (2, 2)]:  # The second call exceeds the 3 samples.
        result = engine.compute(model.inputs, _am(model, "out", 0), x, wrt_tensor=hidden)
        np.testing.assert_allclose(result.grads, np.tile(W2[:, 0], (2, 1)), rtol=1e-6)
        np.testing.assert_allclose(result.wrt_value, x @ W1, rtol=1e-5)
        np.testing.assert_allclose(result.overall_loss, (x @ W1 @ W2)[:, 0], rtol=1e-5)
        assert len(programs) == expected_programs and server.served == expected_served


def test_other_losses_or_tensors_are_not_served():
    model = two_layer_linear(W1, W2)
    x = RNG.normal(size=(2, 4)).astype("float32")
    hidden = model.get_layer("hidden").output
    engine.compute(model.inputs, _am(model, "out", 1), x)  # Built without `also_wrt`: serves nothing.
    programs = engine._cache_of(model.inputs[0]._keras_history.operation)
    (plain,) = programs.values()
    engine.compute(model.inputs, _am(model, "out", 1), x, also_wrt=[hidden])  # Exists: `also_wrt` ignored.
    engine.compute(model.inputs, _am(model, "out", 0), x, wrt_tensor=hidden)
    engine.compute(model.inputs, _am(model, "hidden", 2), x, wrt_tensor=hidden)
    assert len(programs) == 3 and plain.served == 0 and not plain.also


def test_several_filters_sum_and_weights_scale():
    model = two_layer_linear(W1, W2)
    x = RNG.normal(size=(1, 4)).astype("float32")
    result = engine.compute(model.inputs, _am(model, "out", [0, 1, 1], weight=-2.5), x)
    expected = -2.5 * -(W1 @ (W2[:, 0] + 2 * W2[:, 1]))
    np.testing.assert_allclose(result.grads[0], expected, rtol=1e-5)


def test_new_class_seed_and_batch_size_do_not_retrace():
    model = two_layer_linear(W1, W2)
    for index, batch in [(0, 1), (1, 1), (0, 5), ([0, 1], 2)]:
        engine.compute(model.inputs, _am(model, "out", index), RNG.normal(size=(batch, 4)))
    programs = engine._cache_of(model.inputs[0]._keras_history.operation)
    assert len(programs) == 1
    (program,) = programs.values()
    assert program.compiled.experimental_get_tracing_count() == 1


def test_cache_does_not_keep_the_model_alive():
    def make_and_use():
        model = two_layer_linear(W1, W2)
        engine.compute(model.inputs, _am(model, "out", 0), np.ones((1, 4), "float32"))
        return weakref.ref(model)

    refs = [make_and_use() for _ in range(3)]
    for thread in threading.enumerate():  # A compile still running holds its program until it ends.
        if thread.name == "vis-compile":
            thread.join()
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_multi_input_model_returns_one_gradient_per_input():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    out = layers.Dense(1, use_bias=False, name="out")(layers.Concatenate()([a, b]))
    model = keras.Model([a, b], out)
    w = np.arange(5, dtype="float32").reshape(5, 1)
    model.get_layer("out").set_weights([w])
    seeds = [np.ones((2, 3), "float32"), np.ones((2, 2), "float32")]
    result = engine.compute(model.inputs, _am(model, "out", 0), seeds)
    np.testing.assert_allclose(result.grads[0], np.tile(w[:3, 0], (2, 1)))
    np.testing.assert_allclose(result.grads[1], np.tile(w[3:, 0], (2, 1)))


class MeanOfFirstUnit(Loss):
    """A custom loss written as keras-vis users write them (scalar over the batch)."""

    name = "first unit"

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def build_loss(self):
        return -keras.ops.mean(self.layer.output[:, 0])


def test_custom_scalar_loss_keras_vis_style():
    model = two_layer_linear(W1, W2)
    x = RNG.normal(size=(1, 4)).astype("float32")
    result = engine.compute(model.inputs, [(MeanOfFirstUnit(model.get_layer("out")), 1)], x)
    np.testing.assert_allclose(result.grads[0], -(W1 @ W2[:, 0]), rtol=1e-5)
    assert result.named_losses[0][0] == "first unit"


def test_reloaded_sequential_gives_the_same_gradients(tmp_path: pathlib.Path):
    model = small_cnn()
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    x = RNG.uniform(size=(2, 28, 28, 3)).astype("float32")
    for wrt in (None, "conv"):
        results = []
        for m in (model, reloaded):
            wrt_tensor = m.get_layer(wrt).output if wrt else None
            results.append(engine.compute(m.inputs, _am(m, "preds", 2), x, wrt_tensor=wrt_tensor))
        assert np.abs(results[0].grads).sum() > 0
        np.testing.assert_allclose(results[0].grads, results[1].grads, rtol=1e-4, atol=1e-6)


def test_non_differentiable_path_names_the_layer():
    inp = keras.Input((4,))
    hidden = layers.Dense(3, name="hidden")(inp)
    index = layers.Lambda(lambda t: keras.ops.argmax(t, axis=-1)[:, None], name="argmax_layer")(hidden)
    out = layers.Dense(2, name="out")(keras.ops.cast(index, "float32"))
    model = keras.Model(inp, out)
    with pytest.raises(ValueError, match="argmax_layer"):
        engine.compute(model.inputs, _am(model, "out", 0), np.ones((1, 4), "float32"))


def test_wrt_tensor_after_the_loss_layer_is_rejected():
    model = two_layer_linear(W1, W2)
    wrt = model.get_layer("out").output
    with pytest.raises(ValueError, match="do not depend on `wrt_tensor`"):
        engine.compute(model.inputs, _am(model, "hidden", 0), np.ones((1, 4), "float32"), wrt_tensor=wrt)


def test_bad_losses():
    model = two_layer_linear(W1, W2)

    class NotSymbolic(Loss):
        def build_loss(self):
            return 3.0

    with pytest.raises(TypeError, match="build_loss"):
        engine.compute(model.inputs, [(NotSymbolic(), 1)], np.ones((1, 4), "float32"))
    with pytest.raises(ValueError, match="non-zero weight"):
        engine.compute(model.inputs, _am(model, "out", 0, weight=0), np.ones((1, 4), "float32"))


def test_only_the_engine_opens_a_gradient_tape():
    package = pathlib.Path(engine.__file__).parent.parent
    users = sorted(
        p.relative_to(package).as_posix() for p in package.rglob("*.py") if "GradientTape" in p.read_text()
    )
    assert users == ["engine/program.py"]


def test_new_regularizer_instances_share_one_program():
    from vis.regularizers import LPNorm, TotalVariation

    model = small_cnn()
    seed = RNG.uniform(size=(1, 28, 28, 3)).astype("float32")
    for _ in range(3):
        losses = [(LPNorm(model.inputs[0]), 1), (TotalVariation(model.inputs[0]), 1)]
        engine.compute(model.inputs, losses, seed)
    programs = engine._cache_of(model.inputs[0]._keras_history.operation)
    assert len(programs) == 1
    assert next(iter(programs.values())).compiled.experimental_get_tracing_count() == 1


def test_two_activation_maximization_losses_in_one_call():
    # "A 3 that is not a 5": overall = (x W)_3 - (x W)_5 on a bias-free linear model.
    w = RNG.normal(size=(4, 6)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), layers.Dense(6, use_bias=False, name="out")])
    model.layers[0].set_weights([w])
    layer = model.get_layer("out")
    losses = [(ActivationMaximization(layer, 3), -1), (ActivationMaximization(layer, 5), 1)]
    result = engine.compute(model.inputs, losses, np.ones((2, 4), "float32"))
    np.testing.assert_allclose(result.grads, np.tile(w[:, 3] - w[:, 5], (2, 1)), rtol=1e-5)


def test_token_inputs_have_forward_values_and_a_clear_gradient_error():
    keras.utils.set_random_seed(2)
    tokens = keras.Input((6,), dtype="int32")
    x = layers.GlobalAveragePooling1D()(layers.Embedding(9, 4, name="embedding")(tokens))
    model = keras.Model(tokens, layers.Dense(3, name="head")(x))
    ids = np.array([[1, 2, 3, 4, 5, 6], [8, 0, 8, 0, 8, 0]], "int32")
    loss = [(ActivationMaximization(model.get_layer("head"), [2]), -1)]
    # A forward-only evaluation needs no gradient, so integer inputs are fine there...
    values = engine.evaluate(model.inputs, loss, [ids]).overall_loss
    np.testing.assert_allclose(values, model.predict(ids, verbose=0)[:, 2], rtol=1e-5, atol=1e-6)
    # ...while a gradient with respect to them says what to take instead, on the same cached program.
    with pytest.raises(ValueError, match=r"wrt_tensor=model.get_layer\('embedding'\).output"):
        engine.compute(model.inputs, loss, [ids])
    grads = engine.compute(model.inputs, loss, [ids], wrt_tensor=model.get_layer("embedding").output).grads
    assert grads.shape == (2, 6, 4) and np.abs(grads).max() > 0
