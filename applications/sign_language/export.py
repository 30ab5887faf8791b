"""Exporting a trained run to TFLite through `keras_apalu.tflite`.

Writes into the run directory:

    model.tflite          APALU as one custom op (needs the keras_apalu kernel)
    model_builtin.tflite  APALU decomposed into TFLite builtin ops (runs anywhere)

`keras_apalu.tflite.export` writes atomically, so a failed export leaves
earlier files intact. `describe` gives what the command line prints for each
file: its size, its operators and its agreement with the Keras model on a
few training images.
"""

import collections
import json
import pathlib

import numpy as np

from applications.common.errors import UsageError

#: File name per conversion mode.
OUTPUTS = {"custom": "model.tflite", "builtin": "model_builtin.tflite"}


def representative_images(run_dir, count=100):
    """Up to `count` training images of a run, one float32 array (N, H, W, C), for int8 calibration."""
    from applications.sign_language import split as split_lib
    from applications.sign_language.train import TrainConfig
    from applications.sign_language.train import load_data

    run_dir = pathlib.Path(run_dir)
    settings = json.loads((run_dir / "config.json").read_text())
    config = TrainConfig(
        **{k: v for k, v in settings.items() if k in TrainConfig.__dataclass_fields__}
    )
    data = load_data(config)
    indices = split_lib.indices_of(
        split_lib.load_split(run_dir / "split.json"), data["files"]
    )
    chosen = indices["train"][:count]
    return np.stack([data["images"][i] for i in chosen]).astype("float32")


def export_run(run_dir, modes=("custom", "builtin"), quantize=None, verbose=False):
    """Converts a run's `model.keras` to `.tflite` files beside it.

    Args:
        run_dir: the training run directory (holding `model.keras`).
        modes: which of `OUTPUTS` to write.
        quantize: None, "float16", "dynamic" or "int8" (int8 calibrates on
            training images of the run).
        verbose: let the converter's output through.

    Returns:
        dict mode -> written path.
    """
    from keras_apalu import tflite

    run_dir = pathlib.Path(run_dir)
    model_path = run_dir / "model.keras"
    if not model_path.exists():
        raise UsageError(
            f"no model.keras in {run_dir}",
            hint="train first (python -m applications.sign_language "
            "train --run-dir DIR), or pass that run's --run-dir",
        )
    representative = representative_images(run_dir) if quantize == "int8" else None
    written = {}
    for mode in modes:
        if mode not in OUTPUTS:
            raise UsageError(
                f"export mode must be one of {tuple(OUTPUTS)}; got {mode!r}"
            )
        name = OUTPUTS[mode]
        if quantize:
            name = name.replace(".tflite", f"_{quantize}.tflite")
        path = run_dir / name
        tflite.export(
            str(model_path),
            str(path),
            mode=mode,
            quantize=quantize,
            representative_data=representative,
            verbose=verbose,
        )
        written[mode] = str(path)
    return written


def describe(run_dir, written, samples=8):
    """Size, operators and parity with Keras of each written .tflite file.

    Args:
        run_dir: the run directory (holding `model.keras`).
        written: dict mode -> path, as returned by `export_run`.
        samples: how many training images to compare on.

    Returns:
        dict mode -> `{"path", "bytes", "ops": {name: count}, "samples",
        "max_abs_error", "top1_agreement"}`; the error is that of the class
        probabilities against the Keras model.
    """
    from applications.sign_language.inference import KerasPredictor
    from applications.sign_language.inference import TFLitePredictor
    from keras_apalu import tflite

    run_dir = pathlib.Path(run_dir)
    images = representative_images(run_dir, count=samples)
    expected = KerasPredictor(run_dir / "model.keras")(images)
    report = {}
    for mode, path in written.items():
        got = TFLitePredictor(path)(images)
        report[mode] = {
            "path": str(path),
            "bytes": pathlib.Path(path).stat().st_size,
            "ops": dict(
                collections.Counter(tflite.op_names(pathlib.Path(path).read_bytes()))
            ),
            "samples": len(images),
            "max_abs_error": float(np.max(np.abs(got - expected))),
            "top1_agreement": int(
                np.sum(np.argmax(got, -1) == np.argmax(expected, -1))
            ),
        }
    return report


def summary_lines(report):
    """One line per file of `describe`'s report, for the terminal."""
    lines = []
    for mode, item in report.items():
        ops = ", ".join(
            f"{name} {count}"
            for name, count in sorted(item["ops"].items(), key=lambda kv: -kv[1])
        )
        lines.append(
            f"wrote {item['path']} ({mode}): {item['bytes']:,} B, "
            f"{sum(item['ops'].values())} ops ({ops}); vs Keras on "
            f"{item['samples']} training images: max |diff| "
            f"{item['max_abs_error']:.1e}, same top-1 "
            f"{item['top1_agreement']}/{item['samples']}"
        )
    return lines
