"""Quickstart: a small CNN with APALU trained with model.fit on real images.

    KERAS_BACKEND=jax python examples/quickstart.py [--data-dir DIR] [--epochs N]

Uses the Sign Language Digits dataset (hands showing 0-9): the copy in
../shared/datasets/sign-language-digits when present, else --data-dir, else
the public archive downloaded once into the Keras cache. Runs on the
TensorFlow, JAX and PyTorch backends alike. This is a plain image-level split
to keep the example short; applications/sign_language does it properly
(unseen signers).
"""

import argparse
import pathlib

import keras
import numpy as np
from PIL import Image

from keras_apalu import layers

SHARED = (
    pathlib.Path(__file__).resolve().parents[2]
    / "shared"
    / "datasets"
    / "sign-language-digits"
)
ARCHIVE = (
    "https://github.com/ardamavi/Sign-Language-Digits-Dataset/"
    "archive/4b09433ef9d5c60602e8805bb54b8aa2428527f8.zip"
)


def find_dataset(data_dir):
    for root in [data_dir, SHARED]:
        if root and (pathlib.Path(root) / "Dataset").is_dir():
            return pathlib.Path(root) / "Dataset"
    extracted = pathlib.Path(
        keras.utils.get_file("sign-language-digits.zip", ARCHIVE, extract=True)
    )
    return next(extracted.rglob("Dataset"))


def load(dataset, size=32):
    images, labels = [], []
    for label in range(10):
        for path in sorted((dataset / str(label)).glob("*")):
            with Image.open(path) as image:
                grey = image.convert("L").resize((size, size))
            images.append(np.asarray(grey, "float32")[..., None] / 255.0)
            labels.append(label)
    return np.stack(images), np.array(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="folder that holds Dataset/0..9")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    x, y = load(find_dataset(args.data_dir))
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))

    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            # Pooling before APALU: the same values and gradients as after it
            # (APALU is increasing, so it commutes with max), a quarter of the work.
            keras.layers.Conv2D(16, 3, padding="same"),
            keras.layers.MaxPooling2D(),
            layers.APALU(shared_axes=[1, 2]),  # one (a, b) per channel
            keras.layers.Conv2D(32, 3, padding="same"),
            keras.layers.MaxPooling2D(),
            layers.APALU(shared_axes=[1, 2]),
            keras.layers.Flatten(),
            keras.layers.Dense(64),
            layers.APALU(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(
        x[:split],
        y[:split],
        validation_data=(x[split:], y[split:]),
        epochs=args.epochs,
        batch_size=64,
        verbose=2,
    )
    loss, accuracy = model.evaluate(x[split:], y[split:], verbose=0)
    print(f"backend={keras.backend.backend()} validation accuracy={accuracy:.3f}")


if __name__ == "__main__":
    main()
