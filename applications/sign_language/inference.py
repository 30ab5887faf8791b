"""Prediction and evaluation from a saved model: `.keras` or `.tflite`.

`.tflite` files are run with the interpreter of `keras_apalu.tflite`, which
registers the APALU custom kernel (needed for models exported with
`mode="custom"`; builtin-mode files run with it too).
"""

import json
import pathlib
import struct
import zipfile

import numpy as np

from applications.common.errors import UsageError
from applications.sign_language import data as data_lib
from applications.sign_language import split as split_lib


class KerasPredictor:
    """Class probabilities from a `.keras` model file.

    Args:
        path: the `.keras` file.
    """

    def __init__(self, path):
        import keras

        import keras_apalu  # noqa: F401  (registers APALU for deserialisation)

        if not zipfile.is_zipfile(path):
            error = "not a zip archive"
        else:
            try:
                self.model = keras.saving.load_model(str(path), compile=False)
                error = None
            except Exception as caught:  # noqa: BLE001 - zip, h5, JSON and Keras errors alike
                error = _reason(caught)
        if error is not None:
            raise UsageError(
                f"{path} is not a readable Keras model ({error})",
                hint="the file is truncated or foreign: retrain (python -m "
                "applications.sign_language train --run-dir DIR) or use "
                "another copy",
            )
        self.input_shape = tuple(self.model.input_shape[1:])

    def __call__(self, images, batch_size=64):
        """`(n, h, w, c)` images in [0, 255] -> `(n, classes)` probabilities."""
        return np.asarray(
            self.model.predict(
                np.asarray(images, dtype="float32"), batch_size=batch_size, verbose=0
            )
        )


class TFLitePredictor:
    """Class probabilities from a `.tflite` file (one image per invoke).

    Args:
        path: the `.tflite` file.
        num_threads: interpreter threads (None: its default).
    """

    def __init__(self, path, num_threads=None):
        from keras_apalu import tflite

        with open(path, "rb") as file:
            header = file.read(8)
        error = None if header[4:8] == b"TFL3" else "no TFL3 flatbuffer identifier"
        if error is None:
            try:
                self.interpreter = tflite.interpreter(
                    model_path=str(path), num_threads=num_threads
                )
            except tflite.KernelUnavailableError:
                raise
            except (ValueError, RuntimeError, IndexError, struct.error) as caught:
                error = _reason(caught)
        if error is not None:
            raise UsageError(
                f"{path} is not a readable TFLite model ({error})",
                hint="the file is truncated or foreign: export it again "
                "(python -m applications.sign_language export --run-dir DIR)",
            )
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])

    @staticmethod
    def _quantize(values, details):
        scale, zero_point = details["quantization"]
        if not scale:
            return values.astype(details["dtype"])
        info = np.iinfo(details["dtype"])
        return np.clip(
            np.round(values / scale + zero_point), info.min, info.max
        ).astype(details["dtype"])

    @staticmethod
    def _dequantize(values, details):
        scale, zero_point = details["quantization"]
        if not scale:
            return values.astype("float32")
        return (values.astype("float32") - zero_point) * scale

    def __call__(self, images, batch_size=None):
        """`(n, h, w, c)` images in [0, 255] -> `(n, classes)` probabilities."""
        outputs = []
        for image in np.asarray(images, dtype="float32"):
            self.interpreter.set_tensor(
                self._input["index"], self._quantize(image[None], self._input)
            )
            self.interpreter.invoke()
            outputs.append(
                self._dequantize(
                    self.interpreter.get_tensor(self._output["index"]), self._output
                )[0]
            )
        return np.stack(outputs)


def _reason(error):
    """The first line of an error, shortened, for a one-line message."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= 160 else text[:157] + "..."


def load_predictor(path):
    """A predictor for a `.keras` or `.tflite` model file.

    Raises:
        UsageError: the file does not exist, has another suffix, or is not a
            readable model of its kind (truncated, foreign); the message
            names the file.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise UsageError(
            f"model file {path} does not exist",
            hint="train first, or give the path of a .keras or .tflite file",
        )
    if path.suffix == ".tflite":
        return TFLitePredictor(path)
    if path.suffix == ".keras":
        return KerasPredictor(path)
    raise UsageError(f"model file {path} must end in .keras or .tflite")


def _image_settings(input_shape):
    if len(input_shape) != 3 or input_shape[0] != input_shape[1]:
        raise UsageError(
            f"expected a model with a square image input; got input shape {input_shape}"
        )
    height, _, channels = input_shape
    return int(height), ("grayscale" if channels == 1 else "rgb")


def predict_files(model_path, image_paths, top_k=3):
    """Top-k classes of each image file.

    Args:
        model_path: `.keras` or `.tflite` model.
        image_paths: image files (resized to the model's input size).
        top_k: how many classes to return per image.

    Returns:
        A list with one dict per image, in order: `{"file", "top":
        [{"class", "probability"}, ...]}` (most probable first), or
        `{"file", "error"}` for a file that is not a readable image (it is
        skipped; the others are still predicted).

    Raises:
        UsageError: none of the files is a readable image.
    """
    predictor = load_predictor(model_path)
    size, color_mode = _image_settings(predictor.input_shape)
    images, results = [], []
    for path in image_paths:
        try:
            images.append(data_lib.load_image(path, size, color_mode))
            results.append({"file": str(path)})
        except FileNotFoundError:
            results.append({"file": str(path), "error": "no such file"})
        except (OSError, ValueError, SyntaxError) as error:
            # Pillow: UnidentifiedImageError (an OSError) for unknown data,
            # OSError for truncated files, SyntaxError for some bad headers.
            results.append(
                {"file": str(path), "error": f"not a readable image ({error})"}
            )
    if not images:
        raise UsageError(
            "none of the given files is a readable image: "
            + "; ".join(f"{r['file']} ({r['error']})" for r in results)
        )
    probabilities = predictor(np.stack(images))
    top_k = max(1, min(int(top_k), probabilities.shape[-1]))
    rows = iter(probabilities)
    for result in results:
        if "error" in result:
            continue
        row = next(rows)
        order = np.argsort(row)[::-1][:top_k]
        result["top"] = [
            {"class": data_lib.CLASS_NAMES[i], "probability": float(row[i])}
            for i in order
        ]
    return results


def evaluate(model_path, run_dir=None, part="test", folder=None, data_dir=None):
    """Accuracy of a model on a part of a run's split, or on a labelled folder.

    Args:
        model_path: `.keras` or `.tflite` model.
        run_dir: run directory whose `split.json` and `config.json` define
            the images (default: the model file's folder). Ignored with `folder`.
        part: "train", "val" or "test".
        folder: a labelled folder `<digit>/<image>` to evaluate on instead.
        data_dir: dataset location for the split (default: resolution order
            of `data.resolve_data_dir`, as in training).

    Returns:
        dict with `accuracy`, `images`, `per_class_accuracy`, `confusion_matrix`.
    """
    from applications.sign_language.train import TrainConfig
    from applications.sign_language.train import accuracy_report
    from applications.sign_language.train import load_data

    predictor = load_predictor(model_path)
    size, color_mode = _image_settings(predictor.input_shape)
    if folder is not None:
        data = data_lib.load_folder(folder, size, color_mode)
        images, labels = data["images"], data["labels"]
        source = str(folder)
    else:
        if part not in split_lib.SPLITS:
            raise UsageError(f"part must be one of {split_lib.SPLITS}; got {part!r}")
        run_dir = pathlib.Path(run_dir or pathlib.Path(model_path).parent)
        split_path = run_dir / "split.json"
        config_path = run_dir / "config.json"
        if not (split_path.is_file() and config_path.is_file()):
            raise UsageError(
                f"no training run in {run_dir} (split.json and config.json)",
                hint="pass --run-dir of the training run, or --folder with "
                "labelled images",
            )
        settings = json.loads(config_path.read_text())
        config = TrainConfig(
            **{
                k: v
                for k, v in settings.items()
                if k in TrainConfig.__dataclass_fields__
            }
        )
        if data_dir is not None:
            config.data_dir = data_dir
        config.image_size, config.color_mode = size, color_mode
        data = load_data(config)
        indices = split_lib.indices_of(split_lib.load_split(split_path), data["files"])[
            part
        ]
        images, labels = data["images"][indices], data["labels"][indices]
        source = f"{run_dir} ({part})"
    predictions = np.argmax(predictor(images), axis=-1)
    return {
        "model": str(model_path),
        "data": source,
        **accuracy_report(labels, predictions),
    }
