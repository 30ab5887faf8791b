"""How close a swapped keras.applications model starts to the original.

    KERAS_BACKEND=torch python examples/swap_closeness.py [--models MobileNetV2 ...]

For MobileNetV2 (width 0.35), ResNet50 and EfficientNetB0 (`weights=None`,
32x32 input, 10 classes, logits), compares the original's logits with those
of `keras_apalu.replace_activations` (APALU fitted to ReLU6 / ReLU / SiLU on
[-4, 4]) and of the same swapped model with the paper's random U(0, 2)
slopes, in inference mode, in two settings:

- `init`: BatchNormalization statistics as initialised (mean 0, variance 1);
  with random weights the signal shrinks with depth, so deep activations
  see small inputs;
- `calibrated`: the statistics first set from a batch of 12 images (as a
  trained model's are), so every activation sees inputs of order 1.

Prints relative L2 difference `|y' - y| / |y|` and cosine similarity on 4
other images, as a markdown table (docs/toolkit.md has the figures).
"""

import argparse

import keras
import numpy as np

from keras_apalu import replace_activations

MODELS = {
    "MobileNetV2": (dict(alpha=0.35), "relu6"),
    "ResNet50": ({}, "relu"),
    "EfficientNetB0": ({}, "silu"),
}


def _cosine(a, b):
    a, b = a.ravel(), b.ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _calibrate(model, x):
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(x, training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


def _randomise(model, seed):
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if variable.path.split("/")[-1] in ("a", "b"):
            variable.assign(rng.uniform(0.0, 2.0, variable.shape).astype("float32"))


def measure(name, calibrated, seed=0):
    kwargs, target = MODELS[name]
    keras.utils.set_random_seed(seed)
    model = getattr(keras.applications, name)(
        weights=None,
        input_shape=(32, 32, 3),
        classes=10,
        classifier_activation=None,
        **kwargs,
    )
    x = np.random.default_rng(seed).uniform(-1, 1, (16, 32, 32, 3)).astype("float32")
    if name == "EfficientNetB0":
        x = (x + 1.0) * 127.5
    if calibrated:
        _calibrate(model, x[:12])
    y = keras.ops.convert_to_numpy(model(x[12:]))
    swapped = replace_activations(model, target=target)
    fitted = keras.ops.convert_to_numpy(swapped(x[12:]))
    _randomise(swapped, seed)
    random = keras.ops.convert_to_numpy(swapped(x[12:]))
    return (
        _relative(fitted, y),
        _cosine(fitted, y),
        _relative(random, y),
        _cosine(random, y),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", default=list(MODELS), choices=list(MODELS)
    )
    args = parser.parse_args(argv)
    print(f"backend {keras.backend.backend()}\n")
    print(
        "| model | BN statistics | fitted: rel. L2 | fitted: cosine "
        "| U(0, 2): rel. L2 | U(0, 2): cosine |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.models:
        for calibrated in (False, True):
            r, c, rr, rc = measure(name, calibrated)
            print(
                f"| {name} | {'calibrated' if calibrated else 'init'} | {r:.3g} "
                f"| {c:.3f} | {rr:.3g} | {rc:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
