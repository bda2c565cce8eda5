"""Layer names of Keras 2's keras.applications (keras-vis's examples) find the layers they became."""

import warnings

import keras
import numpy as np
import pytest
from keras import layers

from vis import cli
from vis.utils import legacy_names, utils
from vis.utils.layers import get_layer
from vis.visualization import visualize_cam

RESNET50_STAGES = ((2, 3), (3, 4), (4, 6), (5, 3))


@pytest.fixture(scope="module")
def resnet50():
    keras.utils.set_random_seed(0)  # Module fixtures are built before the per-test seed.
    return keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classifier_activation=None)


@pytest.fixture(scope="module")
def densenet121():
    return keras.applications.DenseNet121(weights=None, input_shape=(32, 32, 3))


@pytest.fixture(scope="module")
def mobilenet():
    return keras.applications.MobileNet(weights=None, input_shape=(32, 32, 3))


def _layer(model, old):
    """The layer an old name finds, through `find_layer_idx`, warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return model.layers[utils.find_layer_idx(model, old)]


def _producers(layer):
    inputs = layer.input if isinstance(layer.input, list) else [layer.input]
    return [tensor._keras_history.operation for tensor in inputs]


def _up(layer):
    (producer,) = _producers(layer)
    return producer


def _of_type(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


# --- the names keras-vis's examples use ------------------------------------------------------------


def test_resnet50_example_names_find_their_layers_with_a_warning(resnet50):
    with pytest.warns(UserWarning, match=r"'fc1000'.*ResNet50.*'predictions'") as record:
        fc1000 = resnet50.layers[utils.find_layer_idx(resnet50, "fc1000")]
    assert fc1000 is resnet50.layers[-1] and fc1000 is _of_type(resnet50, layers.Dense)[-1]
    assert record[0].filename == __file__  # The warning points at the caller's line.
    with pytest.warns(UserWarning, match=r"'res5c_branch2c'.*'conv5_block3_3_conv'"):
        last_conv = get_layer(resnet50, "res5c_branch2c", "penultimate_layer_idx")
    assert last_conv is _of_type(resnet50, layers.Conv2D)[-1]
    with pytest.warns(UserWarning, match=r"'bn5c_branch2c'.*'conv5_block3_3_bn'"):
        assert get_layer(resnet50, "bn5c_branch2c") is _of_type(resnet50, layers.BatchNormalization)[-1]
    with pytest.warns(UserWarning, match=r"'conv1'.*'conv1_conv'"):
        assert get_layer(resnet50, "conv1") is _of_type(resnet50, layers.Conv2D)[0]
    with pytest.warns(UserWarning, match=r"'bn_conv1'.*'conv1_bn'"):
        assert _up(get_layer(resnet50, "bn_conv1")) is _of_type(resnet50, layers.Conv2D)[0]


def test_every_old_resnet50_name_finds_its_block_in_the_graph(resnet50):
    old_to_new = legacy_names.legacy_names("ResNet50")
    found = {old: _layer(resnet50, old) for old in old_to_new}
    assert len({id(layer) for layer in found.values()}) == len(found)  # No two old names meet.
    convs = {old for old in old_to_new if old.startswith("res")} | {"conv1"}
    bns = {old for old in old_to_new if old.startswith("bn")}
    assert {id(found[old]) for old in convs} == {id(layer) for layer in _of_type(resnet50, layers.Conv2D)}
    assert {id(found[old]) for old in bns} == {
        id(layer) for layer in _of_type(resnet50, layers.BatchNormalization)
    }
    blocks = [(stage, chr(ord("a") + b)) for stage, count in RESNET50_STAGES for b in range(count)]
    adds = _of_type(resnet50, layers.Add)
    assert len(adds) == len(blocks)
    for add, (stage, letter) in zip(adds, blocks):
        base = f"{stage}{letter}_branch"
        assert found[f"bn{base}2c"] in _producers(add), (stage, letter)
        layer = found[f"bn{base}2c"]
        for old in (f"res{base}2c", None, f"bn{base}2b", f"res{base}2b", None, f"bn{base}2a", f"res{base}2a"):
            layer = _up(layer)
            assert old is None or layer is found[old], (old, layer.name)
        assert found[f"res{base}2b"].kernel_size == (3, 3)
        if letter == "a":
            assert found[f"bn{base}1"] in _producers(add) and _up(found[f"bn{base}1"]) is found[f"res{base}1"]
        else:
            assert f"res{base}1" not in old_to_new


def test_resnet50_old_names_map_from_the_architecture_rules():
    names = legacy_names.legacy_names("ResNet50")
    assert names["res2a_branch1"] == "conv2_block1_0_conv"
    assert names["res5c_branch2c"] == "conv5_block3_3_conv"
    assert names["bn4f_branch2a"] == "conv4_block6_1_bn"
    assert "res5d_branch2a" not in names and "res2a_branch2d" not in names
    assert len(names) == 3 + 2 * (16 * 3 + 4)  # Stem and head, 16 blocks of 3 convolutions, 4 shortcuts.


def test_densenet_names_with_a_slash_find_the_stem(densenet121):
    first_conv = _of_type(densenet121, layers.Conv2D)[0]
    with pytest.warns(UserWarning, match=r"'conv1/conv'.*DenseNet.*'conv1_conv'"):
        assert get_layer(densenet121, "conv1/conv") is first_conv
    with pytest.warns(UserWarning, match=r"'conv1/bn'.*'conv1_bn'"):
        bn = get_layer(densenet121, "conv1/bn")
    with pytest.warns(UserWarning, match=r"'conv1/relu'.*'conv1_relu'"):
        assert _up(_up(get_layer(densenet121, "conv1/relu"))) is first_conv
    assert isinstance(bn, layers.BatchNormalization) and _up(bn) is first_conv
    with pytest.warns(UserWarning, match=r"'fc1000'.*'predictions'"):
        assert get_layer(densenet121, "fc1000") is _of_type(densenet121, layers.Dense)[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get_layer(densenet121, "conv5_block16_concat").name == "conv5_block16_concat"


def test_mobilenet_act_softmax_is_the_last_layer(mobilenet):
    with pytest.warns(UserWarning, match=r"'act_softmax'.*MobileNet.*'predictions'"):
        layer = get_layer(mobilenet, "act_softmax")
    assert layer is mobilenet.layers[-1] and isinstance(layer, layers.Activation)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MobileNet's own 'conv1' is not taken for ResNet50's.
        assert get_layer(mobilenet, "conv1") is _of_type(mobilenet, layers.Conv2D)[0]


@pytest.mark.parametrize(
    "build, shape, names",
    [
        (
            keras.applications.VGG16,
            (32, 32, 3),
            ["block1_conv2", "block5_conv3", "block5_pool", "fc2", "predictions"],
        ),
        (keras.applications.VGG19, (32, 32, 3), ["block5_conv4", "flatten", "fc1", "predictions"]),
        (
            keras.applications.InceptionV3,
            (75, 75, 3),
            ["mixed0", "mixed9_1", "mixed10", "avg_pool", "predictions"],
        ),
        (keras.applications.Xception, (71, 71, 3), ["block1_conv1", "block14_sepconv2_act", "predictions"]),
    ],
    ids=["VGG16", "VGG19", "InceptionV3", "Xception"],
)
def test_names_that_did_not_change_find_their_layer_without_warning(build, shape, names):
    model = build(weights=None, input_shape=shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in names:
            assert model.layers[utils.find_layer_idx(model, name)].name == name
    with pytest.raises(ValueError, match=r"No layer named 'fc1000'.*now 'predictions'"):
        get_layer(model, "fc1000")  # Not one of the architectures that named it so.


# --- names that do not map ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["activation_49", "add_16", "res5d_branch2c", "fc100", "conv_pw_13"])
def test_unmapped_names_raise_without_listing_every_layer(resnet50, name):
    with pytest.raises(ValueError, match=rf"No layer named '{name}'.*Received: layer_idx='{name}'") as info:
        get_layer(resnet50, name)
    message = str(info.value)
    assert "conv2_block1_1_conv" not in message and "Layers:" not in message
    assert ("numbers unnamed layers" in message) == name.startswith(("activation", "add"))


def test_error_lists_a_handful_of_close_matches(resnet50):
    with pytest.raises(ValueError, match=r"Close matches: 'conv5_block3_3_conv'") as info:
        utils.find_layer_idx(resnet50, "conv5_block3_3_cnv")
    close = str(info.value).split("Close matches: ")[1].split(". Received")[0].split(", ")
    assert 1 <= len(close) <= 5
    assert str(info.value).endswith("Received: layer_name='conv5_block3_3_cnv'")


def test_old_name_on_a_model_that_is_not_the_architecture_raises():
    inp = keras.Input((4, 4, 3))
    x = layers.Conv2D(2, 3, name="conv1_conv")(inp)
    model = keras.Model(inp, layers.Dense(2, name="predictions")(layers.Flatten()(x)))
    with pytest.raises(ValueError, match=r"'fc1000' is a Keras 2 keras.applications name, now 'predictions'"):
        get_layer(model, "fc1000")


# --- through nested models, the CLI and grad-CAM ------------------------------------------------


def test_old_names_inside_a_nested_resnet50(resnet50):
    inp = keras.Input((64, 64, 3))
    outer = keras.Model(inp, layers.Dense(3, name="head")(resnet50(inp)))
    target = resnet50.get_layer("conv5_block3_3_conv")
    with pytest.warns(UserWarning, match="'res5c_branch2c'"):
        assert get_layer(outer, "res5c_branch2c") is target
    with pytest.warns(UserWarning, match="'resnet50/res5c_branch2c'.*'resnet50/conv5_block3_3_conv'"):
        assert get_layer(outer, "resnet50/res5c_branch2c") is target


def test_cli_layer_option_takes_old_names(resnet50):
    with pytest.warns(UserWarning, match="'fc1000'"):
        assert cli.resolve_layer(resnet50, "fc1000") == len(resnet50.layers) - 1
    with pytest.raises(ValueError, match=r"unknown layer 'activation_49'.*Received: --layer='activation_49'"):
        cli.resolve_layer(resnet50, "activation_49")


def test_visualize_cam_with_old_names_equals_new_names(resnet50):
    seed = np.random.default_rng(0).uniform(0, 255, (64, 64, 3)).astype("float32")
    with pytest.warns(UserWarning) as record:
        old = visualize_cam(resnet50, "fc1000", 0, seed, penultimate_layer_idx="res5c_branch2c")
    messages = " ".join(str(warning.message) for warning in record)
    assert "Received: layer_idx='fc1000'" in messages
    assert "Received: penultimate_layer_idx='res5c_branch2c'" in messages
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        new = visualize_cam(resnet50, "predictions", 0, seed, penultimate_layer_idx="conv5_block3_3_conv")
    assert old.shape == (64, 64) and np.ptp(new) > 0
    np.testing.assert_array_equal(old, new)
