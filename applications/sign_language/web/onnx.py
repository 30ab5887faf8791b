"""The run's ONNX export, for ONNX Runtime Web (`web --export-onnx`).

ONNX has no APALU operator: `keras_apalu.export` writes APALU as standard
ONNX ops (Sigmoid, Mul, Exp/Expm1, Where). The training-time augmentation
layers (identity at inference, but traced with random ops ONNX lacks) are
left out first (`inference_model`). The file is written as
`RUN_DIR/model.onnx`, checked in onnxruntime against the Keras model on a
few of the run's images, and then served by `web` like the .tflite files.
"""

import pathlib

import numpy as np

from applications.common.errors import RunFailedError
from applications.common.errors import UsageError

#: Largest |ONNX - Keras| of a class probability accepted after the export.
CHECK_TOLERANCE = 1e-4


def inference_model(model):
    """`model` without its `augmentation` layer (identity at inference).

    The application's network is one chain of layers (`model.build_model`),
    so the rest is called again in order on a new input; the weights are
    shared, not copied.

    Args:
        model: the run's `keras.Model`.

    Returns:
        `model` itself when it has no augmentation layer, else the new model.
    """
    import keras

    if not any(layer.name == "augmentation" for layer in model.layers):
        return model
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    x = inputs
    for layer in model.layers[1:]:
        if layer.name != "augmentation":
            x = layer(x)
    return keras.Model(inputs, x, name=model.name)


def export_onnx(run_dir, verbose=False):
    """Writes `run_dir/model.onnx` from the run's `model.keras`.

    Args:
        run_dir: the training run (holding `model.keras`).
        verbose: let the converter's output through.

    Returns:
        The written path (str).

    Raises:
        UsageError: no model.keras in the run.
        RunFailedError: the export failed, or the file disagrees with the
            Keras model by more than `CHECK_TOLERANCE`.
    """
    from applications.sign_language.inference import KerasPredictor
    from keras_apalu import export

    run_dir = pathlib.Path(run_dir)
    model_path = run_dir / "model.keras"
    if not model_path.is_file():
        raise UsageError(
            f"no model.keras in {run_dir}",
            hint="train first (python -m applications.sign_language main "
            "--run-dir DIR), or pass that run's --run-dir",
        )
    trained = KerasPredictor(model_path).model
    model = inference_model(trained)
    rng = np.random.default_rng(0)
    check = rng.uniform(0, 255, (4, *model.input_shape[1:])).astype("float32")
    same = np.max(
        np.abs(model.predict(check, verbose=0) - trained.predict(check, verbose=0))
    )
    if not same <= CHECK_TOLERANCE:
        raise RunFailedError(
            f"{model_path} without its augmentation layers computes other "
            f"outputs (max |diff| {same:.1e})",
            hint="the network is not a plain chain of layers; export it by hand",
        )
    path = run_dir / "model.onnx"
    try:
        result = export.export(
            model, str(path), "onnx", check_inputs=check, verbose=verbose
        )
    except Exception as error:  # noqa: BLE001 - the converter's errors vary
        raise RunFailedError(
            f"the ONNX export of {model_path} failed ({str(error).splitlines()[0]})",
            hint="rerun with --verbose for the converter's output",
        ) from error
    if not result.max_abs_error <= CHECK_TOLERANCE:
        raise RunFailedError(
            f"{path} differs from the Keras model by {result.max_abs_error:.1e} "
            f"(more than {CHECK_TOLERANCE:.0e})",
            hint="rerun with --verbose; the file is kept for inspection",
        )
    return str(path)
