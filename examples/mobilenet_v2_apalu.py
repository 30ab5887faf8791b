"""MobileNetV2 on the sign-language digits: ReLU6 against APALU swapped in.

    KERAS_BACKEND=jax python examples/mobilenet_v2_apalu.py [--epochs 5]
        [--data-dir DIR] [--out runs/mobilenet_v2_apalu] [--max-per-class N]

Builds one MobileNetV2 (`weights=None`, width 0.35, 32x32 input), makes a
copy with `keras_apalu.replace_activations` (every ReLU6 becomes an APALU
started as its least-squares fit, the same weights otherwise), trains both
the same way, and writes to --out: `apalu_params.json` (the APALURecorder
record), `apalu_curves.png`, `apalu_evolution.png`, `accuracy.png` and
`results.json`. Runs on the TensorFlow, JAX and PyTorch backends alike.

The dataset is found (and checked against its SHA-256 manifest) as the
sign-language application does: --data-dir, $SIGN_LANGUAGE_DIGITS_DIR,
../shared/datasets/sign-language-digits, the Keras cache, or a download. The
split is a plain stratified image split, to keep the example short; the
application splits by signer.
"""

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The dataset loader lives in the application, which runs from a checkout.
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_apalu  # noqa: E402
from applications.sign_language import data as data_lib  # noqa: E402
from keras_apalu import plotting  # noqa: E402
from keras_apalu.callbacks import APALURecorder  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets" / "sign-language-digits"


def load(data_dir, image_size, max_per_class, seed):
    if data_dir is None and SHARED.is_dir():
        data_dir = SHARED
    root = data_lib.resolve_data_dir(data_dir)
    loaded = data_lib.load_dataset(
        root, image_size, files=data_lib.verified_files(root)
    )
    images, labels = loaded["images"], loaded["labels"]
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in range(10):
        index = rng.permutation(np.flatnonzero(labels == label))[:max_per_class]
        cut = max(1, int(round(0.2 * len(index))))
        val.extend(index[:cut])
        train.extend(index[cut:])
    train, val = rng.permutation(train), np.array(val)
    return (
        (images[train].astype("float32"), labels[train]),
        (images[val].astype("float32"), labels[val]),
    )


def build(image_size, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    backbone = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3),
        alpha=0.35,
        weights=None,
        include_top=False,
        pooling="avg",
    )
    # Keras' MobileNetV2 keeps BatchNormalization statistics with momentum
    # 0.999, which needs thousands of steps; a few epochs of this small
    # dataset are ~200 steps, so follow the weights faster.
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    x = backbone(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2_digits")


def train(model, data, epochs, batch_size, callbacks=()):
    (x_train, y_train), (x_val, y_val) = data
    # Under TensorFlow, XLA-compiling MobileNetV2's train step takes minutes
    # on a CPU (11 min on a busy 2-core machine); its plain graph mode does not.
    jit = False if keras.backend.backend() == "tensorflow" else "auto"
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        jit_compile=jit,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=2,
        callbacks=list(callbacks),
    )
    return history.history, time.perf_counter() - start


def plot_accuracy(histories, path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axis = figure.subplots()
    for name, history in histories.items():
        epochs = np.arange(1, len(history["val_accuracy"]) + 1)
        axis.plot(epochs, history["val_accuracy"], "-o", label=f"{name} (validation)")
        axis.plot(epochs, history["accuracy"], "--", alpha=0.6, label=f"{name} (train)")
    axis.set_xlabel("epoch")
    axis.set_ylabel("accuracy")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument(
        "--max-per-class",
        type=int,
        default=None,
        help="use at most N images per class (quick runs)",
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/mobilenet_v2_apalu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data = load(args.data_dir, args.image_size, args.max_per_class, args.seed)
    relu_model = build(args.image_size, args.seed)
    # Same weights, every ReLU6 (MobileNetV2's activation) replaced by APALU.
    apalu_model = keras_apalu.replace_activations(relu_model, target="relu6")
    x_val = data[1][0]
    start_gap = float(
        np.max(
            np.abs(
                relu_model.predict(x_val, verbose=0)
                - apalu_model.predict(x_val, verbose=0)
            )
        )
    )

    recorder = APALURecorder(out / "apalu_params.json")
    print(f"ReLU6: {len(data[0][1])} training, {len(data[1][1])} validation images")
    relu_history, relu_seconds = train(relu_model, data, args.epochs, args.batch_size)
    print("APALU:")
    apalu_history, apalu_seconds = train(
        apalu_model, data, args.epochs, args.batch_size, [recorder]
    )

    plotting.plot_apalu_curves(out / "apalu_params.json", out / "apalu_curves.png")
    plotting.plot_apalu_evolution(
        out / "apalu_params.json", out / "apalu_evolution.png"
    )
    plot_accuracy({"ReLU6": relu_history, "APALU": apalu_history}, out / "accuracy.png")
    results = {
        "backend": keras.backend.backend(),
        "epochs": args.epochs,
        "images": {"train": int(len(data[0][1])), "val": int(len(data[1][1]))},
        "max_abs_probability_gap_before_training": start_gap,
        "relu6": {
            "val_accuracy": relu_history["val_accuracy"][-1],
            "seconds": relu_seconds,
        },
        "apalu": {
            "val_accuracy": apalu_history["val_accuracy"][-1],
            "seconds": apalu_seconds,
        },
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(
        f"\nvalidation accuracy after {args.epochs} epochs: "
        f"ReLU6 {results['relu6']['val_accuracy']:.2%} ({relu_seconds:.0f} s), "
        f"APALU {results['apalu']['val_accuracy']:.2%} ({apalu_seconds:.0f} s); "
        f"figures in {out}"
    )
    return results


if __name__ == "__main__":
    main()
