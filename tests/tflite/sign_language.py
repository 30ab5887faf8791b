"""A small APALU CNN on the Sign Language Digits images, for int8 tests.

Images are read with Pillow as 32x32 greyscale in [0, 1]. The split is by
signer: images sorted by file number are cut into signers wherever the label
drops (each student photographed 0..9 in order), and every fifth signer is
held out for testing.
"""

import functools
import pathlib
import re

import keras
import numpy as np

SIZE = 32


def _number(path):
    return int(re.findall(r"\d+", path.stem)[-1])


@functools.lru_cache(maxsize=2)
def load(dataset_dir, size=SIZE):
    """(x_train, y_train, x_test, y_test), float32 images (N, size, size, 1)."""
    from PIL import Image

    files = sorted(pathlib.Path(dataset_dir, "Dataset").glob("*/*.JPG"), key=_number)
    labels = np.array([int(f.parent.name) for f in files])
    images = np.empty((len(files), size, size, 1), np.float32)
    for i, path in enumerate(files):
        with Image.open(path) as image:
            image.draft("L", (size * 2, size * 2))  # fast JPEG downscale
            image = image.convert("L").resize((size, size), Image.BILINEAR)
            images[i, :, :, 0] = np.asarray(image, np.float32) / 255.0
    signer = np.cumsum(np.r_[0, np.diff(labels) < 0])
    test = signer % 5 == 4
    return images[~test], labels[~test], images[test], labels[test]


def model(seed=3):
    """Conv-APALU-pool x2, Dense-APALU, Dense(10) logits."""
    from keras_apalu.layers import APALU

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = APALU(shared_axes=[1, 2])(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same")(x)
    x = APALU(shared_axes="all")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(32)(x)
    x = APALU()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def trained_model(dataset_dir, epochs=8):
    x_train, y_train, _, _ = load(str(dataset_dir))
    net = model()
    net.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    net.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return net


def run_int8(interpreter, x):
    """Quantises float inputs, runs them one by one, dequantises outputs."""
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    in_scale, in_zero = inp["quantization"]
    out_scale, out_zero = out["quantization"]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    results = []
    for sample in x:
        q = np.clip(np.round(sample / in_scale) + in_zero, -128, 127)
        interpreter.set_tensor(inp["index"], q.astype(np.int8)[None])
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"]).astype(np.float32)
        results.append((y - out_zero) * out_scale)
    return np.concatenate(results)


def trained_model_file(dataset_dir, path):
    """Trains `model()` under the TensorFlow backend and saves it to `path`.

    Training the small CNN takes seconds under TensorFlow but minutes under
    PyTorch on a 2-core CI machine, so other backends run this in a
    TensorFlow-backend subprocess and load the .keras file (which also
    exercises conversion of a model loaded under another backend).
    """
    import os
    import subprocess
    import sys

    path = pathlib.Path(path)
    if keras.backend.backend() == "tensorflow":
        trained_model(dataset_dir).save(path)
        return path
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.pop("TF_USE_LEGACY_KERAS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(root), env.get("PYTHONPATH")) if p
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.tflite.sign_language",
            str(dataset_dir),
            str(path),
        ],
        check=True,
        env=env,
        cwd=root,
        capture_output=True,
    )
    return path


if __name__ == "__main__":
    import sys

    trained_model_file(sys.argv[1], sys.argv[2])
