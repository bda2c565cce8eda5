"""Models as users have them: every visualization gives finite, meaningful maps or a clear error.

Each model kind gets saliency, grad-CAM, guided saliency and a short activation
maximization. Where a reference exists (the same weights in a plain model, or a
`tf.GradientTape` on the model itself) the saliency map is compared to it.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from tests.conftest import assert_unchanged, snapshot
from vis.losses import Loss
from vis.visualization import (
    visualize_activation,
    visualize_cam,
    visualize_saliency,
    visualize_saliency_with_losses,
)

SHAPE = (12, 12, 3)
CLASSES = 3


def _seed(shape=SHAPE, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")


def _assert_map(value, shape=SHAPE[:2]):
    value = np.asarray(value)
    assert value.shape == shape
    assert value.dtype == np.float32
    assert np.all(np.isfinite(value))
    assert value.min() >= 0 and value.max() <= 1
    assert value.max() - value.min() > 0, "the map is constant"


def _reference_saliency(model, seed, index):
    """`normalize(max_c |d model(x)[index] / dx|)` by a plain GradientTape on the model."""
    x = tf.convert_to_tensor(seed[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = model(x, training=False)
        target = out[:, index]
    grad = np.abs(tape.gradient(target, x).numpy()[0]).max(axis=-1)
    span = grad.max() - grad.min()
    return (grad - grad.min()) / span if span > 0 else np.zeros_like(grad)


def _check_all_methods(model, layer_idx=-1, penultimate=None, seed=None):
    """Runs the four methods; returns the saliency map."""
    seed = _seed() if seed is None else seed
    saliency = visualize_saliency(model, layer_idx, 1, seed)
    _assert_map(saliency)
    # A random-weight grad-CAM can be all zero for one class (every channel weight negative):
    # every class's map is finite, and at least one is non-constant.
    cams = [
        visualize_cam(model, layer_idx, c, seed, penultimate_layer_idx=penultimate) for c in range(CLASSES)
    ]
    for cam in cams:
        assert cam.shape == SHAPE[:2] and cam.dtype == np.float32 and np.all(np.isfinite(cam))
    _assert_map(max(cams, key=np.ptp))
    _assert_map(visualize_saliency(model, layer_idx, 1, seed, backprop_modifier="guided"))
    img = visualize_activation(model, layer_idx, 1, max_iter=5, input_range=(0.0, 1.0))
    assert img.shape == SHAPE and np.all(np.isfinite(img)) and img.std() > 0
    return saliency


def _cnn_layers():
    return [
        layers.Conv2D(8, 3, activation="relu", name="conv"),
        layers.MaxPooling2D(name="pool"),
        layers.Flatten(name="flatten"),
        layers.Dense(CLASSES, name="preds"),
    ]


def test_saved_and_reloaded_sequential(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(SHAPE), *_cnn_layers()])
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    seed = _seed()
    saliency = _check_all_methods(reloaded)
    np.testing.assert_allclose(saliency, visualize_saliency(model, -1, 1, seed), atol=1e-5)
    np.testing.assert_allclose(saliency, _reference_saliency(reloaded, seed, 1), atol=1e-5)
    np.testing.assert_allclose(
        visualize_cam(reloaded, -1, 1, seed), visualize_cam(model, -1, 1, seed), atol=1e-5
    )
    np.testing.assert_allclose(
        visualize_saliency(reloaded, -1, 1, seed, backprop_modifier="guided"),
        visualize_saliency(model, -1, 1, seed, backprop_modifier="guided"),
        atol=1e-5,
    )


def test_sequential_without_input_built_by_fit():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(_cnn_layers())
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(1).uniform(0, 1, (4, *SHAPE)).astype("float32")
    model.fit(x, np.zeros((4, CLASSES), "float32"), epochs=1, verbose=0)
    saliency = _check_all_methods(model)
    # Same weights in a model declared with an Input.
    plain = keras.Sequential([keras.Input(SHAPE), *_cnn_layers()])
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(saliency, visualize_saliency(plain, -1, 1, _seed()), atol=1e-5)
    np.testing.assert_allclose(saliency, _reference_saliency(model, _seed(), 1), atol=1e-5)


def test_functional_with_branches_and_skip_connection():
    keras.utils.set_random_seed(0)
    inp = keras.Input(SHAPE)
    stem = layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inp)
    left = layers.Conv2D(4, 3, padding="same", activation="relu", name="left")(stem)
    right = layers.Conv2D(4, 1, padding="same", activation="relu", name="right")(stem)
    merged = layers.Add(name="merge")([stem, left, right])
    pooled = layers.GlobalAveragePooling2D(name="gap")(merged)
    out = layers.Dense(CLASSES, name="preds")(pooled)
    model = keras.Model(inp, out)
    saliency = _check_all_methods(model, penultimate="merge")
    np.testing.assert_allclose(saliency, _reference_saliency(model, _seed(), 1), atol=1e-5)


def _dropout_bn_model(with_dropout: bool):
    keras.utils.set_random_seed(0)
    body = [
        keras.Input(SHAPE),
        layers.Conv2D(4, 3, name="conv"),
        layers.BatchNormalization(name="bn"),
        layers.Activation("relu", name="relu"),
    ]
    if with_dropout:
        body.append(layers.Dropout(0.5, name="drop"))
    body += [layers.Flatten(name="flatten"), layers.Dense(CLASSES, name="preds")]
    return keras.Sequential(body)


def test_dropout_and_batch_normalization_in_inference_mode():
    model = _dropout_bn_model(True)
    rng = np.random.default_rng(3)
    bn = model.get_layer("bn")
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights(
        [
            rng.uniform(0.5, 2, gamma.shape),
            rng.normal(size=beta.shape),
            rng.normal(size=mean.shape),
            rng.uniform(0.5, 2, var.shape),
        ]
    )
    seed = _seed()
    saliency = _check_all_methods(model)
    # Deterministic: repeated calls give identical maps (dropout is off).
    np.testing.assert_array_equal(saliency, visualize_saliency(model, -1, 1, seed))
    cam = visualize_cam(model, -1, 1, seed)
    np.testing.assert_array_equal(cam, visualize_cam(model, -1, 1, seed))
    guided = visualize_saliency(model, -1, 1, seed, backprop_modifier="guided")
    np.testing.assert_array_equal(guided, visualize_saliency(model, -1, 1, seed, backprop_modifier="guided"))
    # Inference mode: equal to the same model with the dropout removed (BN uses moving statistics).
    plain = _dropout_bn_model(False)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(saliency, visualize_saliency(plain, -1, 1, seed), atol=1e-5)
    np.testing.assert_allclose(cam, visualize_cam(plain, -1, 1, seed), atol=1e-5)
    np.testing.assert_allclose(
        guided, visualize_saliency(plain, -1, 1, seed, backprop_modifier="guided"), atol=1e-5
    )
    np.testing.assert_allclose(saliency, _reference_saliency(model, seed, 1), atol=1e-5)
    # The model's BN statistics are untouched.
    np.testing.assert_array_equal(bn.get_weights()[2], plain.get_layer("bn").get_weights()[2])


def test_lambda_layer():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(SHAPE),
            layers.Lambda(lambda t: t * 2.0 - 1.0, name="scale"),
            *_cnn_layers(),
        ]
    )
    saliency = _check_all_methods(model)
    np.testing.assert_allclose(saliency, _reference_saliency(model, _seed(), 1), atol=1e-5)


@keras.saving.register_keras_serializable(package="vis_tests")
class ScaledConv(layers.Layer):
    """A custom convolution-like layer with a config (a 1x1 conv times a factor)."""

    def __init__(self, filters, factor=1.5, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.factor = filters, factor

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.filters), initializer="glorot_uniform")

    def call(self, inputs):
        return keras.ops.relu(keras.ops.einsum("bhwc,cf->bhwf", inputs, self.kernel) * self.factor)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "factor": self.factor}


def test_custom_layer_with_get_config(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(SHAPE),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            ScaledConv(4, name="custom"),
            layers.Flatten(name="flatten"),
            layers.Dense(CLASSES, name="preds"),
        ]
    )
    seed = _seed()
    saliency = _check_all_methods(model)
    np.testing.assert_allclose(saliency, _reference_saliency(model, seed, 1), atol=1e-5)
    model.save(tmp_path / "custom.keras")
    reloaded = keras.models.load_model(tmp_path / "custom.keras")
    assert isinstance(reloaded.get_layer("custom"), ScaledConv)
    np.testing.assert_allclose(visualize_saliency(reloaded, -1, 1, seed), saliency, atol=1e-5)
    np.testing.assert_allclose(
        visualize_cam(reloaded, -1, 1, seed), visualize_cam(model, -1, 1, seed), atol=1e-5
    )


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(4, 3, activation="relu", name="conv")
        self.flatten = layers.Flatten(name="flatten")
        self.dense = layers.Dense(CLASSES, name="preds")

    def call(self, inputs):
        return self.dense(self.flatten(self.conv(inputs)))


class OutputUnit(Loss):
    """Maximises one unit of a symbolic model output."""

    name = "OutputUnit"

    def __init__(self, output, index):
        super().__init__()
        self.output, self.index = output, index

    def build_loss(self):
        return -self.output[:, self.index]


def _subclassed():
    keras.utils.set_random_seed(0)
    model = Subclassed()
    model(np.zeros((1, *SHAPE), "float32"))
    return model


def test_subclassed_model_input_gradient_with_losses():
    model = _subclassed()
    seed = _seed()
    inp = keras.Input(SHAPE)
    out = model(inp)  # A symbolic call: the subclassed model is one node of a new graph.
    saliency = visualize_saliency_with_losses(inp, [(OutputUnit(out, 1), 1)], seed)
    _assert_map(saliency)
    np.testing.assert_allclose(saliency, _reference_saliency(model, seed, 1), atol=1e-5)


@pytest.mark.parametrize("method", ["saliency", "cam", "guided", "activation"])
def test_subclassed_model_layer_methods_raise_a_clear_error(method):
    model = _subclassed()
    seed = _seed()
    calls = {
        "saliency": lambda: visualize_saliency(model, -1, 1, seed),
        "cam": lambda: visualize_cam(model, -1, 1, seed, penultimate_layer_idx=0),
        "guided": lambda: visualize_saliency(model, -1, 1, seed, backprop_modifier="guided"),
        "activation": lambda: visualize_activation(model, -1, 1, max_iter=5),
    }
    with pytest.raises(ValueError, match=r"(?s)symbolic inputs.*keras\.Input"):
        calls[method]()


def test_subclassed_model_error_says_how_to_wrap_it():
    with pytest.raises(ValueError, match=r"(?s)subclassed.*keras\.Model\(inp, subclassed\(inp\)\)"):
        visualize_saliency(_subclassed(), -1, 1, _seed())


def test_subclassed_model_wrapped_in_a_functional_model():
    model = _subclassed()
    inp = keras.Input(SHAPE)
    wrapped = keras.Model(inp, model(inp))
    seed = _seed()
    saliency = visualize_saliency(wrapped, -1, 1, seed)
    _assert_map(saliency)
    np.testing.assert_allclose(saliency, _reference_saliency(model, seed, 1), atol=1e-5)
    img = visualize_activation(wrapped, -1, 1, max_iter=5, input_range=(0.0, 1.0))
    assert np.all(np.isfinite(img)) and img.std() > 0
    # Grad-CAM needs an inner layer's output, which a subclassed model does not have.
    with pytest.raises(ValueError, match=r"(?s)'conv'.*subclassed.*Functional or Sequential"):
        visualize_cam(wrapped, -1, 1, seed)


@pytest.mark.parametrize("modifier", ["guided", "rectified"])
def test_guided_saliency_on_a_wrapped_subclassed_model_raises(modifier):
    # Its ReLUs run inside Python code the rebuild cannot reach: a "guided" map
    # would silently be the plain one.
    model = _subclassed()
    inp = keras.Input(SHAPE)
    wrapped = keras.Model(inp, model(inp))
    probe = _seed()[None]
    before = snapshot(wrapped, probe)
    message = rf"(?s)backprop_modifier='{modifier}'.*subclassed model.*Functional"
    with pytest.raises(ValueError, match=message):
        visualize_saliency(wrapped, -1, 1, _seed(), backprop_modifier=modifier)
    assert_unchanged(wrapped, before, probe)


def test_guided_saliency_through_a_custom_layer_with_relu_sublayers_raises():
    @keras.saving.register_keras_serializable(package="vis_tests")
    class Block(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = layers.Conv2D(4, 3, padding="same", activation="relu", name="inner_conv")

        def call(self, x):
            return self.conv(x) + x[..., :1]

    keras.utils.set_random_seed(0)
    inp = keras.Input(SHAPE)
    x = layers.Flatten()(Block(name="block")(inp))
    model = keras.Model(inp, layers.Dense(CLASSES, name="preds")(x))
    with pytest.raises(ValueError, match=r"(?s)custom layer 'block'.*'inner_conv'"):
        visualize_saliency(model, -1, 1, _seed(), backprop_modifier="guided")
    # Without a backprop modifier, the same model is fine.
    _assert_map(visualize_saliency(model, -1, 1, _seed()))


def test_rescaling_at_the_input():
    keras.utils.set_random_seed(0)
    rescale = layers.Rescaling(1 / 255.0, name="rescale")
    model = keras.Sequential([keras.Input(SHAPE), rescale, *_cnn_layers()])
    seed = _seed() * 255
    saliency = _check_all_methods(model, seed=seed)
    np.testing.assert_allclose(saliency, _reference_saliency(model, seed, 1), atol=1e-5)
    img = visualize_activation(model, -1, 1, max_iter=5)
    assert img.dtype == np.uint8 and img.std() > 0


def _argmax_models():
    keras.utils.set_random_seed(0)
    inp = keras.Input(SHAPE)
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = layers.Flatten(name="flatten")(layers.MaxPooling2D(name="pool")(x))
    x = layers.Dense(CLASSES, name="logits")(x)
    ops_model = keras.Model(
        inp, layers.Dense(2, name="head")(keras.ops.cast(keras.ops.argmax(x, axis=-1), "float32")[:, None])
    )
    lam = layers.Lambda(
        lambda t: keras.ops.cast(keras.ops.argmax(t, axis=-1), "float32")[:, None], name="argmax_cast"
    )(x)
    lambda_model = keras.Model(inp, layers.Dense(2, name="head")(lam))
    return ops_model, lambda_model


@pytest.mark.parametrize(
    "kind, name, method",
    [
        (kind, name, method)
        for kind, name in [("ops", "argmax"), ("lambda", "argmax_cast")]
        for method in ["saliency", "cam", "guided", "activation"]
    ],
)
def test_non_differentiable_output_path_names_the_layer(kind, name, method):
    ops_model, lambda_model = _argmax_models()
    model = ops_model if kind == "ops" else lambda_model
    seed = _seed()
    calls = {
        "saliency": lambda: visualize_saliency(model, "head", 0, seed),
        "cam": lambda: visualize_cam(model, "head", 0, seed, penultimate_layer_idx="conv"),
        "guided": lambda: visualize_saliency(model, "head", 0, seed, backprop_modifier="guided"),
        "activation": lambda: visualize_activation(model, "head", 0, max_iter=5),
    }
    probe = seed[None]
    before = snapshot(model, probe)
    with pytest.raises(ValueError, match=rf"'{name}(_\d+)?'") as error:
        calls[method]()
    assert "in user code" not in str(error.value)  # No traceback of traced code in the message.
    assert_unchanged(model, before, probe)


def test_activation_maximization_with_a_layer_named_add():
    keras.backend.clear_session()  # Resets the auto-name counters, as in a fresh process.
    keras.utils.set_random_seed(0)
    inp = keras.Input(SHAPE)
    stem = layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    merged = layers.Add(name="add")([stem, layers.Conv2D(4, 1, padding="same", name="side")(stem)])
    model = keras.Model(inp, layers.Dense(CLASSES, name="preds")(layers.Flatten()(merged)))
    img = visualize_activation(model, -1, 1, max_iter=5, input_range=(0.0, 1.0))
    assert np.all(np.isfinite(img))
