"""Prints seconds per training epoch of the default model, for comparing
activations and backends side by side (run once per backend).

    KERAS_BACKEND=tensorflow python -m applications.sign_language.results.epoch_time \
        --activations relu apalu gelu relu apalu --data-dir ../shared/datasets/sign-language-digits
"""

import argparse
import time

import keras

from applications.sign_language import data
from applications.sign_language import model as model_lib
from applications.sign_language.train import TrainConfig
from applications.sign_language.train import compile_model


def epoch_times(images, labels, activation, epochs):
    keras.utils.set_random_seed(0)
    model = model_lib.build_model(images.shape[1:], activation=activation, seed=0)
    compile_model(model, TrainConfig(), -(-len(labels) // 32))
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(
        images, labels, batch_size=32, epochs=epochs, verbose=0, callbacks=[Timer()]
    )
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", nargs="+", default=["relu", "apalu", "gelu"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--images", type=int, default=1222)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    loaded = data.load_dataset(data.resolve_data_dir(args.data_dir), 64)
    images = loaded["images"][: args.images].astype("float32")
    labels = loaded["labels"][: args.images]
    for activation in args.activations:
        times = epoch_times(images, labels, activation, args.epochs)
        print(
            f"{keras.backend.backend()} {activation}: seconds per epoch "
            + " ".join(f"{t:.1f}" for t in times)
            + " (first includes compilation)"
        )


if __name__ == "__main__":
    main()
