"""Export a Keras model that uses APALU to TFLite and run it.

    python examples/tflite_export.py [--out DIR]

Works under any Keras backend (KERAS_BACKEND=tensorflow, jax or torch): a
model trained under JAX or PyTorch is converted in a TensorFlow-backend
subprocess automatically. Writes DIR/model_custom.tflite (one APALU custom op
per layer, needs the kernel) and DIR/model_builtin.tflite (builtin ops only),
runs both with the LiteRT interpreter and prints the largest difference from
the Keras model and the file sizes.
"""

import argparse
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quieter TensorFlow logs

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_apalu import tflite  # noqa: E402
from keras_apalu.layers import APALU  # noqa: E402


def build_model():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    x = APALU(shared_axes=[1, 2])(x)  # one a and b per channel
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same")(x)
    x = APALU(shared_axes=[1, 2])(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(32)(x)
    x = APALU()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tflite_example", type=pathlib.Path)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=64)
    model = build_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    print(f"trained under the {keras.backend.backend()} backend")

    sample = x[:4]
    expected = keras.ops.convert_to_numpy(model(sample))
    for mode in ("custom", "builtin"):
        path = tflite.export(model, args.out / f"model_{mode}.tflite", mode=mode)
        runner = tflite.interpreter(path)  # registers the APALU kernel
        detail = runner.get_input_details()[0]
        runner.resize_tensor_input(detail["index"], sample.shape)
        runner.allocate_tensors()
        runner.set_tensor(detail["index"], sample)
        runner.invoke()
        got = runner.get_tensor(runner.get_output_details()[0]["index"])
        ops = tflite.op_names(path)
        print(
            f"{path}: {path.stat().st_size} bytes, "
            f"{ops.count('APALU')} APALU ops, {len(ops)} ops in all, "
            f"max |tflite - keras| = {np.max(np.abs(got - expected)):.2e}"
        )


if __name__ == "__main__":
    main()
