"""APALU under the LiteRT 2 C API (tflite/apalu_litert.c, registered with
LiteRtAddCustomOpKernelOption in libLiteRt.so of the ai-edge-litert wheel):
float32 outputs within 1e-6 of the classic interpreter with the project's
kernel, and of the float64 reference for a one-op model with per-channel
slopes (int8 models are for the classic and TFLM kernels: the C API's
custom kernels have no per-node state to keep tables in).
On x86_64 with the installed wheel's libLiteRt.so, and on aarch64 under
qemu-aarch64 with the aarch64 wheel's (downloaded once and cached; skipped
only when it cannot be downloaded; a missing cross compiler or qemu is a
failure in CI, a skip elsewhere).
"""

import numpy as np
import pytest

from keras_apalu import tflite
from keras_apalu.tflite import litert_c
from keras_apalu.tflite.run import classic_outputs
from tests.tflite import native_build
from tests.tflite import sign_language
from tests.tflite.micro_compare import DATA
from tests.tflite.native_build import once_per_suite
from tests.tflite.reference import apalu_flatbuffer
from tests.tflite.reference import apalu_reference

pytestmark = once_per_suite


def test_sign_language_float_model_within_1e6_of_the_classic_interpreter(tmp_path):
    # Untrained weights: the comparison does not depend on them.
    _, _, x_test, _ = sign_language.load(str(DATA))
    path = tflite.export(sign_language.model(), tmp_path / "sign.tflite")
    assert "APALU" in tflite.op_names(path.read_bytes())
    x = x_test[::60][:5]
    outputs = litert_c.run_model(path, x, (1, 10))
    expected = classic_outputs(path, x, reference=False)
    assert outputs.shape == expected.shape == (len(x), 10)
    np.testing.assert_allclose(outputs, expected, rtol=0, atol=1e-6)
    assert np.ptp(outputs) > 1e-3  # not a constant output


def _aarch64_runner():
    """The aarch64 runner; skips only if the aarch64 wheel cannot be
    downloaded (a missing cross compiler or qemu fails in CI)."""
    native_build.require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    native_build.require("qemu-aarch64", "qemu-user")
    try:
        return litert_c.build_runner(arch="aarch64")
    except litert_c.WheelUnavailableError as error:
        pytest.skip(f"aarch64 libLiteRt.so unavailable: {error}")


def test_aarch64_under_qemu_within_1e6_of_the_classic_interpreter(tmp_path):
    runner = _aarch64_runner()
    # Really an aarch64 program linked to an aarch64 libLiteRt.so.
    assert runner.read_bytes()[18:20] == (183).to_bytes(2, "little")  # EM_AARCH64
    assert litert_c.aarch64_library().read_bytes()[18:20] == (183).to_bytes(2, "little")
    _, _, x_test, _ = sign_language.load(str(DATA))
    path = tflite.export(sign_language.model(), tmp_path / "sign.tflite")
    x = x_test[::60][:3]
    outputs = litert_c.run_model(path, x, (1, 10), arch="aarch64")
    expected = classic_outputs(path, x, reference=False)
    assert outputs.shape == expected.shape == (len(x), 10)
    np.testing.assert_allclose(outputs, expected, rtol=0, atol=1e-6)
    assert np.ptp(outputs) > 1e-3
    # One op with per-channel a and broadcast b against float64.
    rng = np.random.default_rng(11)
    a = rng.uniform(0.2, 1.5, 6).astype(np.float32)
    b = rng.uniform(0.2, 1.5, (3, 1)).astype(np.float32)
    x = rng.normal(0, 3, (2, 2, 3, 6)).astype(np.float32)
    op = tmp_path / "op.tflite"
    op.write_bytes(apalu_flatbuffer([1, 2, 3, 6], a, b))
    outputs = litert_c.run_model(op, x, (1, 2, 3, 6), arch="aarch64")
    expected = apalu_reference(x.astype(np.float64), a, b).reshape(2, -1)
    np.testing.assert_allclose(outputs, expected, rtol=2e-6, atol=1e-6)


def test_one_op_per_channel_matches_the_float64_reference(tmp_path):
    rng = np.random.default_rng(7)
    a = rng.uniform(0.2, 1.5, 6).astype(np.float32)
    b = rng.uniform(0.2, 1.5, (3, 1)).astype(np.float32)
    x = rng.normal(0, 3, (4, 2, 3, 6)).astype(np.float32)
    path = tmp_path / "op.tflite"
    path.write_bytes(apalu_flatbuffer([1, 2, 3, 6], a, b))
    outputs = litert_c.run_model(path, x, (1, 2, 3, 6))
    expected = apalu_reference(x.astype(np.float64), a, b).reshape(4, -1)
    np.testing.assert_allclose(outputs, expected, rtol=2e-6, atol=1e-6)


def test_aligned_model_aligns_every_buffer_and_changes_nothing_else():
    from ai_edge_litert import schema_py_generated as schema

    a = np.arange(5, dtype=np.float32)
    content = apalu_flatbuffer([1, 5], a, a[:1])
    aligned = litert_c.aligned_model(content)
    model = schema.Model.GetRootAs(aligned, 0)
    offsets = []
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength():
            offsets.append(
                buffer.DataAsNumpy().ctypes.data
                - np.frombuffer(aligned, np.uint8).ctypes.data
            )
    assert offsets and all(o % 64 == 0 for o in offsets)
    before = schema.ModelT.InitFromObj(schema.Model.GetRootAs(content, 0))
    after = schema.ModelT.InitFromObj(model)
    assert [bytes(b.data) if b.data is not None else None for b in before.buffers] == [
        bytes(b.data) if b.data is not None else None for b in after.buffers
    ]


@pytest.mark.parametrize("runtime", ["litert-c", "litert-c-aarch64"])
def test_run_command_litert_c(tmp_path, capsys, runtime):
    from keras_apalu.tflite.__main__ import main

    if runtime == "litert-c-aarch64":
        _aarch64_runner()

    path = tflite.export(sign_language.model(), tmp_path / "sign.tflite")
    images = tmp_path / "images" / "4"
    images.mkdir(parents=True)
    for f in sorted((DATA / "Dataset" / "4").glob("*.JPG"))[:3]:
        (images / f.name).write_bytes(f.read_bytes())
    # main() returns the exit status (the console script exits with it).
    code = main(
        [
            "run",
            str(path),
            "--runtime",
            runtime,
            "--images",
            str(images.parent),
            "--pixel-scale",
            str(1 / 255),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "agreement: 3/3 (within 1e-06)" in out
    library = (
        litert_c.aarch64_library()
        if runtime == "litert-c-aarch64"
        else litert_c.litert_library()
    )
    assert f"libLiteRt.so {library.stat().st_size} bytes" in out
