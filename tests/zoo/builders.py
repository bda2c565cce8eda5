"""Small zoo models as users write them: Sequential, Functional, text, transformer, multi-input...

Each builder returns `(model, info)`: `info` names the layer to visualise
(`layer`, a top-level layer), a layer for activation maximization
(`mid_layer`), an explicit grad-CAM penultimate layer (`cam_layer`: a name,
or an `'outer/inner'` path into a nested model), and the range of the
inputs' values (`input_range`). Layers are auto-named unless the tutorial
the model follows names them: the maker clears the Keras session before each
build, so the names are those a user's own script gets.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

IMAGE = (16, 16, 3)
CLASSES = 3


def info(model, layer, mid, cam, input_range=(0.0, 1.0), **extra) -> dict:
    """Names of the layers given by index (or name) in `model.layers`, as a manifest entry wants them."""

    def name(spec):
        return spec if isinstance(spec, str) else model.layers[spec].name

    return {
        "layer": name(layer),
        "mid_layer": name(mid),
        "cam_layer": name(cam),
        "input_range": input_range,
        **extra,
    }


def _cnn(activation="relu", head=None):
    return [
        layers.Conv2D(6, 3, activation=activation),
        layers.MaxPooling2D(),
        layers.Conv2D(6, 3, activation=activation),
        layers.Flatten(),
        layers.Dense(CLASSES, activation=head),
    ]


def seq_input():
    """Sequential declared with `keras.Input`, softmax head, automatic names."""
    model = keras.Sequential([keras.Input(IMAGE), *_cnn(head="softmax")])
    return model, info(model, -1, 0, 0)


def seq_input_shape():
    """Sequential with `input_shape=` on its first layer (grayscale), ReLU and Softmax layers."""
    model = keras.Sequential(
        [
            layers.Conv2D(6, 3, input_shape=(16, 16, 1)),
            layers.ReLU(),
            layers.MaxPooling2D(),
            layers.Conv2D(6, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(CLASSES),
            layers.Softmax(),
        ]
    )
    return model, info(model, -2, 0, 0)


def seq_fit():
    """Sequential without an Input, built by `fit` with batch size 4; BatchNorm, Dropout, linear head."""
    model = keras.Sequential(
        [
            layers.Conv2D(6, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Dropout(0.25),
            layers.Conv2D(6, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(CLASSES),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (4, *IMAGE)).astype("float32")
    model.fit(x, rng.normal(size=(4, CLASSES)).astype("float32"), batch_size=4, epochs=1, verbose=0)
    return model, info(model, -1, 0, 0)


def functional_residual():
    """Functional with operators on Keras tensors (`x = i + conv(i)`, `(x + y) * 0.5`), softmax head."""
    i = keras.Input(IMAGE, name="image")
    x = i + layers.Conv2D(3, 3, padding="same", name="conv_a")(i)
    x = layers.Conv2D(8, 3, activation="relu", name="conv_b")(x)
    y = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_c")(x)
    x = (x + y) * 0.5
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    model = keras.Model(i, layers.Dense(CLASSES, activation="softmax", name="probs")(x))
    return model, info(model, "probs", "conv_b", "conv_b")


def functional_branches():
    """Functional with branches, Add and Concatenate layers, automatic names, softmax head."""
    i = keras.Input(IMAGE)
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(i)
    b = layers.Conv2D(4, 1, activation="relu")(i)
    x = layers.Concatenate()([layers.Add()([a, b]), a])
    x = layers.Conv2D(6, 3, activation="relu")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    model = keras.Model(i, layers.Dense(CLASSES, activation="softmax")(x))
    return model, info(model, -1, 1, 1)


def nested_block():
    """Functional model around a user's nested Sequential feature extractor, linear head."""
    features = keras.Sequential(
        [
            layers.Conv2D(8, 3, activation="relu", name="fe_conv_1"),
            layers.MaxPooling2D(name="fe_pool"),
            layers.Conv2D(8, 3, activation="relu", name="fe_conv_2"),
        ],
        name="feature_extractor",
    )
    i = keras.Input(IMAGE)
    x = layers.Flatten()(features(i))
    model = keras.Model(i, layers.Dense(CLASSES)(x))
    return model, info(model, -1, "feature_extractor", "feature_extractor/fe_conv_1")


def augment_nested():
    """The TF image-classification tutorial: a nested `data_augmentation` Sequential, Rescaling."""
    data_augmentation = keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.1)],
        name="data_augmentation",
    )
    model = keras.Sequential(
        [
            keras.Input(IMAGE),
            data_augmentation,
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Dropout(0.2),
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.Dense(CLASSES, name="outputs"),
        ]
    )
    return model, info(model, -1, 2, 2, input_range=(0.0, 255.0))


def augment_flat():
    """Random flip and rotation layers and Rescaling directly in a Functional model, softmax head."""
    i = keras.Input(IMAGE)
    x = layers.RandomFlip("horizontal")(i)
    x = layers.RandomRotation(0.1)(x)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(i, layers.Dense(CLASSES, activation="softmax")(x))
    return model, info(model, -1, 4, 4, input_range=(0.0, 255.0))


def conv1d():
    """A signal model: Conv1D, pooling, linear head (not an image: no `vis` command)."""
    model = keras.Sequential(
        [
            keras.Input((32, 2)),
            layers.Conv1D(8, 5, activation="relu"),
            layers.MaxPooling1D(2),
            layers.Conv1D(8, 3, activation="relu"),
            layers.GlobalAveragePooling1D(),
            layers.Dense(CLASSES),
        ]
    )
    return model, info(model, -1, 0, 0)


def text():
    """Integer tokens -> Embedding -> Conv1D -> global max pooling -> softmax."""
    model = keras.Sequential(
        [
            keras.Input((20,), dtype="int32"),
            layers.Embedding(50, 8, name="embedding"),
            layers.Conv1D(8, 3, activation="relu"),
            layers.GlobalMaxPooling1D(),
            layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    return model, info(model, -1, 1, 1, input_range=(0, 50), embedding="embedding")


def transformer():
    """A one-block transformer encoder on float features: Dense projection, attention, residual `x + y`."""
    i = keras.Input((16, 6), name="features")
    x = layers.Dense(16, name="projection")(i)
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=8, name="attention")(x, x)
    x = layers.LayerNormalization(name="norm_1")(x + attention)
    f = layers.Dense(32, activation="relu", name="ffn_1")(x)
    f = layers.Dense(16, name="ffn_2")(f)
    x = layers.LayerNormalization(name="norm_2")(x + f)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    model = keras.Model(i, layers.Dense(CLASSES, activation="softmax", name="probs")(x))
    return model, info(model, "probs", "ffn_1", "norm_2")


def mixed_precision():
    """The TF mixed-precision guide: `mixed_float16` body, float32 logits and softmax."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential(
            [
                keras.Input(IMAGE),
                layers.Conv2D(8, 3, activation="relu"),
                layers.MaxPooling2D(),
                layers.Conv2D(8, 3, activation="relu"),
                layers.Flatten(),
                layers.Dense(CLASSES, dtype="float32", name="logits"),
                layers.Activation("softmax", dtype="float32", name="predictions"),
            ]
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model, info(model, "logits", 0, 0)


def multi_output():
    """One image, two heads: class probabilities and a box regression."""
    i = keras.Input(IMAGE, name="image")
    x = layers.Conv2D(8, 3, activation="relu")(i)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    classes = layers.Dense(CLASSES, activation="softmax", name="class_out")(x)
    box = layers.Dense(4, name="box_out")(x)
    model = keras.Model(i, [classes, box])
    return model, info(model, "class_out", 1, 1)


def multi_input():
    """An image input and a vector input, concatenated, linear head."""
    image = keras.Input(IMAGE, name="image")
    meta = keras.Input((5,), name="meta")
    x = layers.Conv2D(8, 3, activation="relu", name="conv_1")(image)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Conv2D(8, 3, activation="relu", name="conv_2")(x)
    x = layers.Flatten(name="flatten")(x)
    m = layers.Dense(8, activation="relu", name="meta_dense")(meta)
    x = layers.Concatenate(name="concat")([x, m])
    model = keras.Model([image, meta], layers.Dense(CLASSES, name="logits")(x))
    return model, info(model, "logits", "conv_1", "conv_1")
