"""`keras-apalu-tflite` (python -m keras_apalu.tflite) on bad input: one or
two lines on stderr naming the file and the fix, exit status 2, no
traceback, and no output file written or overwritten. Run in fresh
processes, in the TensorFlow pass (the command's behaviour does not depend
on the caller's backend)."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_apalu import layers
from keras_apalu import tflite
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the command runs once per suite: TensorFlow pass",
)

EARLIER = b"an earlier model.tflite"


def _command(*args):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", PYTHONPATH=str(REPO))
    env.pop("TF_USE_LEGACY_KERAS", None)
    return subprocess.run(
        [sys.executable, "-m", "keras_apalu.tflite", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("command_line")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), layers.APALU()])
    model.save(folder / "model.keras")
    content = (folder / "model.keras").read_bytes()
    (folder / "truncated.keras").write_bytes(content[: len(content) // 2])
    (folder / "text.keras").write_text("not a model")
    (folder / "samples.npy").write_bytes(b"")
    converted = tflite.convert(model, mode="builtin")
    (folder / "model.tflite").write_bytes(converted)
    (folder / "truncated.tflite").write_bytes(converted[: len(converted) // 2])
    (folder / "garbage.tflite").write_bytes(np.random.default_rng(0).bytes(300))
    (folder / "a_file").write_text("not a folder")
    return folder


def _check_refusal(result, named, fix):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert "Traceback" not in result.stderr
    assert named in lines[0] and fix in lines[0], lines[0]
    assert result.stdout == ""


def test_help_prints_help_only():
    result = _command("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: keras-apalu-tflite")
    assert result.stderr == ""


@pytest.mark.parametrize(
    "source,named,fix",
    [
        ("missing.keras", "missing.keras", "check the path"),
        ("truncated.keras", "truncated.keras", "save the model again"),
        ("text.keras", "text.keras", "save the model again"),
        ("model.tflite", "model.tflite", "model.save("),
    ],
)
def test_convert_refuses_a_bad_model_file(files, tmp_path, source, named, fix):
    output = tmp_path / "out.tflite"
    output.write_bytes(EARLIER)
    result = _command("convert", str(files / source), str(output))
    _check_refusal(result, named, fix)
    assert output.read_bytes() == EARLIER
    assert [p.name for p in tmp_path.iterdir()] == ["out.tflite"]


def test_int8_without_calibration_data(files, tmp_path):
    output = tmp_path / "out.tflite"
    result = _command(
        "convert", str(files / "model.keras"), str(output), "--quantize", "int8"
    )
    _check_refusal(result, "model.keras", "--representative")
    assert not output.exists()


def test_unreadable_calibration_data(files, tmp_path):
    output = tmp_path / "out.tflite"
    result = _command(
        "convert",
        str(files / "model.keras"),
        str(output),
        "--quantize",
        "int8",
        "--representative",
        str(files / "samples.npy"),
    )
    _check_refusal(result, "samples.npy", "numpy.save")
    assert not output.exists()


def test_output_folder_that_is_a_file(files):
    result = _command(
        "convert", str(files / "model.keras"), str(files / "a_file" / "out.tflite")
    )
    _check_refusal(result, "a_file", "output folder you can write to")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_output_folder(files, tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    (folder / "out.tflite").write_bytes(EARLIER)
    folder.chmod(0o555)
    try:
        result = _command(
            "convert", str(files / "model.keras"), str(folder / "out.tflite")
        )
    finally:
        folder.chmod(0o755)
    _check_refusal(result, "read_only", "output folder you can write to")
    assert (folder / "out.tflite").read_bytes() == EARLIER


@pytest.mark.parametrize(
    "source,fix",
    [
        ("garbage.tflite", "convert the model again"),
        ("truncated.tflite", "convert the model again"),
        ("missing.tflite", "check the path"),
    ],
)
def test_inspect_refuses_a_bad_tflite_file(files, source, fix):
    _check_refusal(_command("inspect", str(files / source)), source, fix)


def test_inspect_and_convert_of_good_files(files, tmp_path):
    result = _command("inspect", str(files / "model.tflite"))
    assert result.returncode == 0, result.stderr
    assert "EXP 1" in result.stdout and "[1, 4] float32" in result.stdout
    assert result.stderr == ""
    output = tmp_path / "out.tflite"
    result = _command("convert", str(files / "model.keras"), str(output))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert tflite.op_names(output).count("APALU") == 1


def test_verbose_shows_the_traceback(files, tmp_path):
    result = _command(
        "convert",
        str(files / "truncated.keras"),
        str(tmp_path / "out.tflite"),
        "--verbose",
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "InvalidModelError" in result.stderr


def test_run_command_messages_reach_the_terminal(files):
    """The `run` command prints its own refusals while native stderr is
    silenced: they must still reach the real stderr of the process."""
    result = _command(
        "run",
        str(files / "missing.tflite"),
        "--runtime",
        "tflm-host",
        "--images",
        str(files),
    )
    assert result.returncode == 2, result.stderr
    assert "missing.tflite" in result.stderr
    assert "Traceback" not in result.stderr
