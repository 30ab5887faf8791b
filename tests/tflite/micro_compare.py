"""Measures the sign-language int8 CNN on TFLite Micro with APALU, ReLU and
PReLU (same architecture, each activation in the same three places), for
docs/microcontrollers.md: flash (runner .text + .rodata, model bytes), RAM
(arena used) and instructions per inference on an emulated Cortex-M4.

    python -m tests.tflite.micro_compare [--target cortex-m4] [--samples 5]

Instructions come from `qemu-system-arm -icount shift=0` (one instruction per
ns of virtual time), read through the MPS2 board's 25 MHz timer: one tick is
40 instructions. Each model is trained briefly (the counts do not depend on
the weights, the agreement does) and exported with keras_apalu.tflite.export.
Also prints the agreement with the classic interpreter (default kernels).
"""

import argparse
import pathlib
import tempfile

import keras
import numpy as np

from tests.tflite import sign_language

DATA = (
    pathlib.Path(__file__).resolve().parents[3]
    / "shared"
    / "datasets"
    / "sign-language-digits"
)
INSTRUCTIONS_PER_TICK = 40


def variant(activation, seed=3):
    """sign_language.model() with `activation` ("apalu", "relu", "prelu")."""
    from keras_apalu.layers import APALU

    def act(shared_axes):
        if activation == "apalu":
            return APALU(shared_axes=shared_axes)
        if activation == "relu":
            return keras.layers.ReLU()
        axes = [1, 2, 3] if shared_axes == "all" else shared_axes
        return keras.layers.PReLU(shared_axes=axes)

    keras.utils.set_random_seed(seed)
    size = sign_language.SIZE
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = act([1, 2])(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same")(x)
    x = act("all")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(32)(x)
    x = act(None)(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def export_variant(activation, folder, epochs=2):
    from keras_apalu import tflite

    x_train, y_train, x_test, y_test = sign_language.load(str(DATA))
    net = variant(activation)
    net.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    net.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    path = pathlib.Path(folder) / f"sign_{activation}_int8.tflite"
    tflite.export(net, path, quantize="int8", representative_data=x_train[:100])
    return path, x_test, y_test


def main():
    from keras_apalu.tflite import micro
    from keras_apalu.tflite import run as run_module

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="cortex-m4", choices=sorted(micro.TARGETS))
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    runner = micro.build_runner(args.target, log=print)
    text, data, bss = micro.sizes(args.target, runner)
    print(
        f"runner ({args.target}): text {text} B, data {data} B, bss {bss} "
        "B (bss includes the runner's 256 KiB arena and 512 KiB model "
        "buffer)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for activation in ("apalu", "relu", "prelu"):
            path, x_test, _ = export_variant(activation, tmp)
            picks = np.linspace(0, len(x_test) - 1, args.samples).astype(int)
            samples = run_module.quantize_inputs(path, x_test[picks])
            outputs, result = micro.run_model(
                path, samples, np.int8, target=args.target
            )
            expected = run_module.classic_outputs(path, samples)
            same = int((outputs == expected).all(axis=1).sum())
            per = result.ticks * INSTRUCTIONS_PER_TICK / result.samples
            print(
                f"{activation:5s}: model {result.model_bytes} B, arena "
                f"{result.arena_used} B, ~{per:,.0f} instructions per "
                f"inference, identical {same}/{len(samples)}"
            )


if __name__ == "__main__":
    main()
