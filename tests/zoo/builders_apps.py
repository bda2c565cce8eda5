"""keras.applications models (random weights) in the zoo, alone and as transfer-learning bases.

Inputs are 64x64: the smallest size at which the last feature maps are 2x2
rather than 1x1 (a 1x1 grad-CAM is a constant map, normalised to zeros, and a
check on it could not fail). Trace time grows with the number of layers, not
with the input size; the file size is the weights' (see `make_zoo`).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from tests.zoo.builders import CLASSES, info
from tests.zoo.describe import all_layers

APP_IMAGE = (64, 64, 3)
A = keras.applications


def calibrate(model, input_range) -> None:
    """Sets every BatchNormalization's moving statistics to those of one batch of random inputs.

    With random weights and the initial statistics (mean 0, variance 1),
    activations shrink block after block: a MobileNetV2's outputs are about
    1e-11. Calibrated statistics keep them of order one, as in a trained net.
    """
    norms = [layer for layer in all_layers(model) if isinstance(layer, layers.BatchNormalization)]
    if not norms:
        return
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    low, high = input_range
    model(np.random.default_rng(0).uniform(low, high, (4, *APP_IMAGE)).astype("float32"), training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum


def _app(constructor, mid: str, input_range=(0.0, 1.0), **kwargs):
    model = constructor(weights=None, input_shape=APP_IMAGE, classes=CLASSES, **kwargs)
    calibrate(model, input_range)
    # Heavy models: the explicit penultimate layer is the automatic one (None), so grad-CAM traces once.
    return model, info(model, -1, mid, -1, input_range=input_range) | {"cam_layer": None}


def resnet50():
    """keras.applications.ResNet50, random weights, calibrated BatchNorm statistics."""
    return _app(A.ResNet50, "conv2_block1_1_conv")


def mobilenetv2():
    """keras.applications.MobileNetV2 (alpha 0.35): ReLU6, no plain ReLU."""
    return _app(A.MobileNetV2, "block_1_expand", alpha=0.35)


def efficientnetb0():
    """keras.applications.EfficientNetB0: Rescaling and Normalization inside, swish."""
    return _app(A.EfficientNetB0, "block2a_expand_conv", input_range=(0.0, 255.0))


def densenet121():
    """keras.applications.DenseNet121: 429 layers, Concatenate."""
    return _app(A.DenseNet121, "conv2_block1_1_conv")


def convnext_tiny():
    """keras.applications.ConvNeXtTiny: LayerScale, operators, nested Sequentials, gelu."""
    return _app(A.ConvNeXtTiny, "convnext_tiny_stage_0_block_0_depthwise_conv", input_range=(0.0, 255.0))


def _mobilenet_base():
    base = A.MobileNetV2(weights=None, input_shape=APP_IMAGE, include_top=False, alpha=0.35)
    calibrate(base, (-1.0, 1.0))  # The range preprocess_input and Rescaling(1/127.5, offset=-1) give.
    base.trainable = False
    return base


def transfer_functional():
    """The TF transfer-learning tutorial: preprocess_input, a frozen MobileNetV2 base, new linear head."""
    base = _mobilenet_base()
    inputs = keras.Input(APP_IMAGE)
    x = A.mobilenet_v2.preprocess_input(inputs)  # Operators on Keras tensors: x / 127.5 - 1.
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    model = keras.Model(inputs, layers.Dense(CLASSES)(x))
    return model, info(model, -1, base.name, f"{base.name}/block_13_expand", input_range=(0.0, 255.0))


def transfer_sequential():
    """A VGG16 base (plain ReLUs) in a new Sequential with a pooling and softmax head."""
    base = A.VGG16(weights=None, input_shape=APP_IMAGE, include_top=False)
    model = keras.Sequential(
        [
            keras.Input(APP_IMAGE),
            base,
            layers.GlobalAveragePooling2D(),
            layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    return model, info(model, -1, base.name, f"{base.name}/block4_conv3")


def transfer_h5():
    """A frozen MobileNetV2 base after a Rescaling layer in a Functional model, softmax head, saved as .h5."""
    base = _mobilenet_base()
    inputs = keras.Input(APP_IMAGE)
    x = layers.Rescaling(1.0 / 127.5, offset=-1)(inputs)
    x = layers.GlobalAveragePooling2D()(base(x, training=False))
    model = keras.Model(inputs, layers.Dense(CLASSES, activation="softmax")(x))
    return model, info(model, -1, base.name, f"{base.name}/block_6_expand", input_range=(0.0, 255.0))
