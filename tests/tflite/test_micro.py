"""APALU on TensorFlow Lite Micro (tflite/apalu_micro.cc): the int8
sign-language model run by TFLM, built for the host and for a Cortex-M4 run
under qemu-system-arm, gives outputs identical, byte for byte, to the classic
LiteRT interpreter with the project's kernel (apalu_op.c) and its default
builtin kernels, on held-out signers (TFLM is built with
-DTFLITE_SINGLE_ROUNDING=1, the requantisation LiteRT's kernels use).

TFLM is built from the pinned bundle in ../shared/vendor/tflite-micro
(keras_apalu/tflite/micro.py; cached in ~/.cache/keras_apalu/tflm, so only
the first run compiles it). The Cortex-M test needs Debian's
gcc-arm-none-eabi, libnewlib-arm-none-eabi, libstdc++-arm-none-eabi-newlib
and qemu-system-arm, which install.sh installs: in CI (CI set) their absence
is a failure, elsewhere a skip that names the packages.
"""

import numpy as np
import pytest

from keras_apalu import tflite
from keras_apalu.tflite import micro
from keras_apalu.tflite.run import classic_outputs
from keras_apalu.tflite.run import quantize_inputs
from tests.tflite import native_build
from tests.tflite import sign_language
from tests.tflite.native_build import once_per_suite

pytestmark = [once_per_suite, pytest.mark.slow]

DATA = native_build.REPO.parent / "shared" / "datasets" / "sign-language-digits"
SAMPLES = 6  # held-out images per run (emulated Cortex-M: ~1 s each)


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
    """(path, int8 inputs of SAMPLES held-out images, labels)."""
    x_train, _, x_test, y_test = sign_language.load(str(DATA))
    net = sign_language.trained_model(DATA, epochs=3)
    path = tmp_path_factory.mktemp("tflm") / "sign_int8.tflite"
    tflite.export(net, path, quantize="int8", representative_data=x_train[:100])
    assert "APALU" in tflite.op_names(path.read_bytes())
    # Spread over signers: every k-th held-out image.
    picks = np.linspace(0, len(x_test) - 1, SAMPLES).astype(int)
    return path, quantize_inputs(path, x_test[picks]), y_test[picks]


def _require_arm_tools():
    for name, package in (
        ("arm-none-eabi-g++", "gcc-arm-none-eabi"),
        ("qemu-system-arm", "qemu-system-arm"),
    ):
        native_build.require(name, package)


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_tflm_int8_outputs_identical_to_the_classic_interpreter(target, int8_model):
    if target != "host":
        _require_arm_tools()
    path, samples, _ = int8_model
    expected = classic_outputs(path, samples)
    outputs, result = micro.run_model(path, samples, np.int8, target=target)
    assert result.samples == SAMPLES
    assert outputs.dtype == np.int8 and outputs.shape == expected.shape
    # Identical, not close: same tables, same builtin int8 arithmetic (the
    # classic interpreter with its default kernels; TFLM built with
    # single-rounding requantisation as they use).
    np.testing.assert_array_equal(outputs, expected)
    # Not trivially equal (e.g. all saturated): the logits differ by input.
    assert len({row.tobytes() for row in outputs}) > 1
    assert 0 < result.arena_used <= result.arena_size
    if target != "host":
        assert result.ticks > 0  # the MPS2 timer ran under -icount
    print(f"{target}: {SAMPLES}/{SAMPLES} identical, arena {result.arena_used} bytes")


def test_tflm_float_op_matches_the_float64_reference(tmp_path):
    # The float32 path of the TFLM glue (per-channel a, shared b) against
    # the independent float64 reference.
    from tests.tflite.reference import apalu_flatbuffer
    from tests.tflite.reference import apalu_reference

    rng = np.random.default_rng(5)
    a = rng.uniform(0.2, 1.5, 5).astype(np.float32)
    b = np.array([0.7], np.float32)
    x = rng.normal(0, 3, (4, 1, 3, 5)).astype(np.float32)
    path = tmp_path / "float.tflite"
    path.write_bytes(apalu_flatbuffer([1, 3, 5], a, b))
    outputs, _ = micro.run_model(path, x, np.float32)
    expected = apalu_reference(x.astype(np.float64), a, b).reshape(4, -1)
    np.testing.assert_allclose(outputs, expected, rtol=2e-6, atol=1e-6)


def test_tflm_rejects_a_model_whose_apalu_output_shape_differs(tmp_path):
    # TFLM cannot resize: an APALU output whose shape is not x's is refused
    # at AllocateTensors with an "APALU:" message, not run out of bounds.
    from tests.tflite.reference import apalu_op_flatbuffer

    a = np.array([0.5], np.float32)
    content = apalu_op_flatbuffer(
        [
            ("x", [1, 4], "FLOAT32", None, None),
            ("a", [1], "FLOAT32", a, None),
            ("b", [1], "FLOAT32", a, None),
            ("out", [1, 3], "FLOAT32", None, None),
        ],
        [0, 1, 2],
        [3],
    )
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(micro.MicroBuildError) as error:
        micro.run_model(path, np.zeros((1, 1, 4), np.float32), np.float32)
    assert "APALU: the output must have x's shape." in str(error.value)


def _image_folder(root, count=2):
    """A folder per label with `count` held-out images each (JPEG copies),
    plus one unreadable file, as `run --images` expects."""
    import shutil

    files = sorted((DATA / "Dataset").glob("*/*.JPG"))
    for label in ("3", "7"):
        picked = [f for f in files if f.parent.name == label][-count:]
        (root / label).mkdir(parents=True)
        for f in picked:
            shutil.copy(f, root / label / f.name)
    (root / "3" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def test_run_command_on_tflm_host(int8_model, tmp_path, capsys):
    from keras_apalu.tflite.__main__ import main

    path, _, _ = int8_model
    images = _image_folder(tmp_path / "images")
    status = main(
        [
            "run",
            str(path),
            "--runtime",
            "tflm-host",
            "--images",
            str(images),
            "--pixel-scale",
            str(1 / 255),
        ]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err
    assert "agreement: 4/4" in captured.out
    assert "accuracy: " in captured.out
    assert "arena" in captured.out and "runner text" in captured.out
    assert "broken.jpg" in captured.err  # named and skipped


def test_run_command_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    from keras_apalu.tflite.__main__ import main

    status = main(
        [
            "run",
            str(tmp_path / "missing.tflite"),
            "--runtime",
            "tflm-host",
            "--images",
            str(tmp_path),
        ]
    )
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [(f"error: {tmp_path / 'missing.tflite'}: no such .tflite file.")]


def test_run_command_names_the_apt_package_of_a_missing_tool(
    tmp_path, capsys, monkeypatch
):
    import dataclasses

    from keras_apalu.tflite.__main__ import main
    from tests.tflite.reference import apalu_flatbuffer

    monkeypatch.setitem(
        micro.TARGETS,
        "cortex-m4",
        dataclasses.replace(micro.TARGETS["cortex-m4"], prefix="no-such-none-eabi-"),
    )
    path = tmp_path / "op.tflite"
    path.write_bytes(apalu_flatbuffer([1, 4, 4, 1], [0.5], [0.5]))
    images = _image_folder(tmp_path / "images", count=1)
    status = main(
        ["run", str(path), "--runtime", "tflm-cortex-m4", "--images", str(images)]
    )
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(
        "error: no-such-none-eabi-g++ not found: "
        "install it with `apt-get install "
        "gcc-arm-none-eabi"
    ), err
