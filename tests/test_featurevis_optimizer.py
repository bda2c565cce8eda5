"""The feature-visualization options on vis's optimizer loop: steps, traces, callbacks, objectives, errors."""

import keras
import numpy as np
import pytest
from keras import layers

from tests.conftest import assert_unchanged, snapshot
from tests.models import small_cnn
from vis.backend import set_random_seed
from vis.callbacks import GifGenerator, OptimizerCallback
from vis.input_modifiers import Jitter
from vis.losses import ActivationMaximization, PerSample
from vis.optimizer import _LOOPS_ATTR, Optimizer
from vis.visualization import visualize_activation

FULL = {"image_param": "fft", "decorrelate": True, "transforms": "robust"}


class Losses(OptimizerCallback):
    def __init__(self):
        self.overall, self.shapes = [], []

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        self.overall.append(float(overall_loss))
        self.shapes.append((np.shape(grads), np.shape(wrt_value)))


@pytest.fixture(scope="module")
def model():
    return small_cnn((16, 16, 3), classes=4, seed=0)


@pytest.mark.parametrize(
    "options", [{"image_param": "fft"}, FULL, {"image_param": "pixel", "decorrelate": True}]
)
def test_steps_lower_the_loss_and_callbacks_see_the_rendered_input(model, options):
    set_random_seed(0)
    seen = Losses()
    image = visualize_activation(
        model,
        "preds",
        2,
        input_range=(0.0, 1.0),
        max_iter=40,
        callbacks=[seen],
        lp_norm_weight=0,
        tv_weight=0,
        **options,
    )
    assert np.mean(seen.overall[-5:]) < seen.overall[0] - 1.0
    assert seen.shapes[0][1] == (1, 16, 16, 3)  # The model's input (transformed), for GifGenerator.
    assert image.shape == (16, 16, 3) and image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
    logit = keras.Model(model.inputs, model.get_layer("preds").output)
    assert float(logit(image[None])[0, 2]) > float(logit(np.full((1, 16, 16, 3), 0.5, "float32"))[0, 2]) + 1.0


def test_no_retrace_across_classes_calls_and_batches_and_the_model_is_unchanged():
    model = small_cnn((16, 16, 3), classes=4, seed=5)  # Its own programs and loops.
    probe = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    before = snapshot(model, probe)
    traces = []
    for filters in [0, 1, 3, PerSample([0, 2]), PerSample([1, 2, 3]), PerSample([3, 0, 1, 2])]:
        loss = ActivationMaximization(model.get_layer("preds"), filters)
        optimizer = Optimizer(model, [(loss, 1)], (0.0, 1.0), **FULL)
        result = optimizer.minimize(max_iter=3, verbose=False)[0]
        assert result.shape == ((16, 16, 3) if isinstance(filters, int) else (len(filters), 16, 16, 3))
        traces.append(optimizer._loop([]).fused.experimental_get_tracing_count())
    assert len(optimizer._program.__dict__[_LOOPS_ATTR]) == 1
    # One trace for every class and call; a second batch size relaxes the batch axis once.
    assert traces == [1, 1, 1, 2, 2, 2]
    assert_unchanged(model, before, probe)


def test_random_starts_give_one_image_each_and_an_int_range_gives_uint8(model):
    set_random_seed(1)
    images = visualize_activation(model, "preds", 1, max_iter=5, batch_size=3, **FULL)
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.uint8
    assert np.abs(images[0].astype(int) - images[1]).mean() > 1.0


def test_the_gif_generator_and_the_progress_bar_keep_working(model, tmp_path, capsys):
    path = tmp_path / "run.gif"
    visualize_activation(
        model, "preds", 1, max_iter=4, callbacks=[GifGenerator(str(path))], verbose=True, **FULL
    )
    assert path.stat().st_size > 100
    assert "Iteration: 4" in capsys.readouterr().out


def test_a_conv_filter_deep_in_a_nested_base_by_name():
    keras.utils.set_random_seed(3)
    base = keras.Sequential(
        [
            keras.Input((20, 20, 3)),
            layers.Conv2D(6, 3, activation="relu", name="b1"),
            layers.Conv2D(8, 3, activation="relu", name="deep"),
        ],
        name="base",
    )
    inputs = keras.Input((20, 20, 3))
    model = keras.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling2D()(base(inputs))))
    set_random_seed(0)
    image = visualize_activation(model, "deep", 5, input_range=(0.0, 1.0), max_iter=40, **FULL)
    deep = keras.Model(base.inputs, base.get_layer("deep").output)
    start = np.random.default_rng(0).uniform(0.45, 0.55, (1, 20, 20, 3)).astype("float32")
    assert float(np.mean(deep(image[None])[..., 5])) > float(np.mean(deep(start)[..., 5])) + 0.05


def test_a_1d_input_and_a_grayscale_input():
    keras.utils.set_random_seed(4)
    seq = keras.Sequential(
        [
            keras.Input((24, 2)),
            layers.Conv1D(4, 3, activation="relu"),
            layers.GlobalAveragePooling1D(),
            layers.Dense(3),
        ]
    )
    out = visualize_activation(seq, -1, 1, input_range=(-1.0, 1.0), max_iter=10, **FULL)
    assert out.shape == (24, 2) and -1 <= out.min() and out.max() <= 1
    gray = small_cnn((12, 12, 1), classes=2, seed=1)
    out = visualize_activation(gray, "preds", 0, input_range=(0.0, 1.0), max_iter=10, **FULL)
    assert out.shape == (12, 12, 1)


def test_graph_input_modifiers_apply_inside_the_step(model):
    set_random_seed(0)
    a = visualize_activation(model, "preds", 1, max_iter=5, input_modifiers=[Jitter(2)], **FULL)
    set_random_seed(0)
    b = visualize_activation(model, "preds", 1, max_iter=5, **FULL)
    assert a.shape == b.shape == (16, 16, 3) and not np.array_equal(a, b)


def test_bad_options_are_named(model):
    with pytest.raises(ValueError, match="image_param='wavelet'"):
        visualize_activation(model, "preds", 1, max_iter=2, image_param="wavelet")
    with pytest.raises(ValueError, match="decay_power=-1"):
        visualize_activation(model, "preds", 1, max_iter=2, image_param="fft", decay_power=-1)
    with pytest.raises(TypeError, match="transforms="):
        visualize_activation(model, "preds", 1, max_iter=2, transforms="strong")
    with pytest.raises(ValueError, match="wrt_tensor"):
        visualize_activation(
            model, "preds", 1, max_iter=2, wrt_tensor=model.get_layer("conv").output, image_param="fft"
        )
    with pytest.raises(ValueError, match="batch_size=0"):
        visualize_activation(model, "preds", 1, max_iter=2, batch_size=0)
    with pytest.raises(TypeError, match="decorrelate='yes'"):
        visualize_activation(model, "preds", 1, max_iter=2, decorrelate="yes")


def test_neuron_and_layer_objectives_raise_what_they_name():
    from vis.featurevis.objectives import LayerObjective, Neuron, channel
    from vis.visualization import visualize_activation_with_losses

    model = small_cnn((16, 16, 3), classes=4, seed=2)
    conv = model.get_layer("conv")
    probe = keras.Model(model.inputs, conv.output)
    start = np.full((1, 16, 16, 3), 0.5, "float32")
    for loss, measure in [
        (Neuron(conv, 0), lambda out: out[0, 7, 7, 0]),
        (Neuron(conv, 0, (3, 4)), lambda out: out[0, 3, 4, 0]),
        (LayerObjective(conv), lambda out: np.mean(np.square(out))),
        (channel(conv, 0), lambda out: np.mean(out[..., 0])),
    ]:
        set_random_seed(0)
        image = visualize_activation_with_losses(
            model.inputs[0], [(loss, 1)], input_range=(0.0, 1.0), max_iter=30, **FULL
        )
        assert (
            float(measure(np.asarray(probe(image[None])))) > float(measure(np.asarray(probe(start)))) + 0.05
        ), loss
    with pytest.raises(ValueError, match="position"):
        Neuron(conv, 0, (20, 0))
