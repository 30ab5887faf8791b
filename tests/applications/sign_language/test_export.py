"""Export to TFLite and prediction from .tflite.

Under JAX and PyTorch the conversion runs in a TensorFlow subprocess, which
keras_apalu.tflite does.
"""

import pathlib

import numpy as np
import pytest

from applications.sign_language import __main__ as cli  # noqa: E402
from applications.sign_language import inference  # noqa: E402
from applications.sign_language.export import OUTPUTS  # noqa: E402
from applications.sign_language.train import train  # noqa: E402

# Trains and exports a run: left out of the fast tier (run_backends.py --fast).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported_run(tiny_dataset, tmp_path_factory):
    from applications.sign_language.train import TrainConfig

    run_dir = tmp_path_factory.mktemp("exported") / "run"
    train(
        TrainConfig(
            run_dir=str(run_dir),
            data_dir=str(tiny_dataset),
            cache_dir=str(run_dir.parent / "cache"),
            image_size=16,
            width=4,
            blocks=2,
            epochs=1,
            patience=0,
            batch_size=16,
            augment=0.0,
            val_fraction=0.2,
            test_fraction=0.2,
            verbose=0,
            plots=False,
        )
    )
    cli.main(["export", "--run-dir", str(run_dir)])
    return run_dir


def test_export_writes_custom_and_builtin_files(exported_run):
    for name in OUTPUTS.values():
        assert (exported_run / name).stat().st_size > 1000, name


@pytest.mark.parametrize("name", sorted(OUTPUTS.values()))
def test_tflite_matches_keras(exported_run, tiny_dataset, name):
    images = sorted((pathlib.Path(tiny_dataset) / "Dataset" / "2").glob("*.JPG"))[:3]
    keras_top = inference.predict_files(exported_run / "model.keras", images, top_k=10)
    lite_top = inference.predict_files(exported_run / name, images, top_k=10)
    for k, t in zip(keras_top, lite_top):
        expected = {c["class"]: c["probability"] for c in k["top"]}
        got = {c["class"]: c["probability"] for c in t["top"]}
        np.testing.assert_allclose(
            [got[c] for c in expected], list(expected.values()), atol=1e-4
        )
    keras_eval = inference.evaluate(
        exported_run / "model.keras", data_dir=str(tiny_dataset)
    )
    lite_eval = inference.evaluate(
        exported_run / name, run_dir=exported_run, data_dir=str(tiny_dataset)
    )
    assert lite_eval["confusion_matrix"] == keras_eval["confusion_matrix"]


def test_int8_export_calibrates_on_training_images(exported_run, tiny_dataset):
    cli.main(["export", "--run-dir", str(exported_run), "--int8", "--modes", "custom"])
    path = exported_run / "model_int8.tflite"
    from keras_apalu import tflite

    runner = tflite.interpreter(model_path=str(path))
    assert runner.get_input_details()[0]["dtype"] == np.int8
    assert runner.get_output_details()[0]["dtype"] == np.int8
    images = sorted((pathlib.Path(tiny_dataset) / "Dataset" / "3").glob("*.JPG"))[:3]
    keras_top = inference.predict_files(exported_run / "model.keras", images, top_k=10)
    lite_top = inference.predict_files(path, images, top_k=10)
    for k, t in zip(keras_top, lite_top):
        expected = {c["class"]: c["probability"] for c in k["top"]}
        got = {c["class"]: c["probability"] for c in t["top"]}
        # int8 output: one quantisation step of a softmax is 1/256.
        np.testing.assert_allclose(
            [got[c] for c in expected], list(expected.values()), atol=0.05
        )


def test_truncated_tflite_is_named_and_left_alone(
    exported_run, tiny_dataset, tmp_path, capsys
):
    content = (exported_run / "model.tflite").read_bytes()
    cut = tmp_path / "model.tflite"
    cut.write_bytes(content[: len(content) // 3])
    image = sorted((pathlib.Path(tiny_dataset) / "Dataset" / "2").glob("*.JPG"))[0]
    assert cli.console_main(["predict", str(image), "--model", str(cut)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: {cut} is not a readable TFLite model (")
    assert err[1] == (
        "hint: the file is truncated or foreign: export it again "
        "(python -m applications.sign_language export --run-dir DIR)"
    )
    assert cut.read_bytes() == content[: len(content) // 3]
