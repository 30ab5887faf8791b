"""`web --selftest` in real headless Chromium, on a tiny trained run.

The run is trained and exported here (16x16 inputs, one epoch); the images
are PNG copies of a few dataset photos (at 16x16 Pillow would decode the
100x100 JPEGs at a reduced scale, which a browser cannot: docs/browser.md),
in class folders so that accuracy is printed. The Python side of the
comparison is the LiteRT interpreter with the APALU kernel (the fused
model.tflite), the browser side LiteRT.js and ONNX Runtime Web on the
builtin-op exports: different programs on different files.

The browser needs Debian's chromium and chromium-driver, selenium, and the
npm runtimes (install.sh); without them the tests are skipped with the
reason, and fail under CI=true. They run once, in the tensorflow pass (the
browser does not depend on the Keras backend; the export converts in
TensorFlow anyway).
"""

import pathlib
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from applications.sign_language import __main__ as app
from applications.sign_language.web import assets
from applications.sign_language.web import selftest
from applications.sign_language.web.static_batch import static_batch
from tests.applications import cli_checks
from tests.applications.sign_language.web.support import missing

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        keras.backend.backend() != "tensorflow",
        reason="the browser check does not depend on the Keras backend: it "
        "runs once, in the tensorflow backend's pass",
    ),
]
DIGITS = (0, 3, 7)


@pytest.fixture(scope="module")
def web_run(trained_run, tmp_path_factory):
    """A copy of the session's tiny run, exported to .tflite and .onnx."""
    run_dir = tmp_path_factory.mktemp("web") / "run"
    shutil.copytree(trained_run[0], run_dir)
    app.main(["export", "--run-dir", str(run_dir)])
    return run_dir


@pytest.fixture(scope="module")
def png_images(tiny_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("png")
    for digit in DIGITS:
        (root / str(digit)).mkdir()
        source = sorted(
            (pathlib.Path(tiny_dataset) / "Dataset" / str(digit)).glob("*.JPG")
        )[0]
        with Image.open(source) as image:
            image.convert("RGB").save(root / str(digit) / f"{source.stem}.png")
    return root


@pytest.fixture
def browser():
    why = selftest.browser_missing()
    if why:
        missing(f"no headless Chromium: {why}")
    if not assets.runtimes_installed():
        missing("the npm runtimes are not installed (./install.sh runs npm ci)")


def test_selftest_agrees_with_the_python_interpreter(
    browser, web_run, png_images, tmp_path, capsys
):
    shot = tmp_path / "page.png"
    code, out, err = cli_checks.run(
        app.main,
        capsys,
        [
            "web",
            "--selftest",
            "--export-onnx",
            "--run-dir",
            str(web_run),
            "--images",
            str(png_images),
            "--screenshot",
            str(shot),
        ],
    )
    assert code == 0, "\n".join(err)
    n = len(DIGITS)
    assert out.count(f"agreement: {n}/{n}") == 2, out  # LiteRT.js and ONNX Runtime Web
    assert out.count(f"preprocessing: {n}/{n} model inputs identical") == 2, out
    assert "accuracy: " in out
    assert "LiteRT.js" in out and "ONNX Runtime Web" in out
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_selftest_fails_when_the_page_disagrees(
    browser, web_run, png_images, tmp_path, capsys
):
    """The page given the fused model under the builtin name: LiteRT.js has no
    APALU kernel, its outputs differ, and the selftest exits 1."""
    run_dir = tmp_path / "run"
    shutil.copytree(web_run, run_dir)
    (run_dir / "model.onnx").unlink(missing_ok=True)
    shutil.copyfile(run_dir / "model.tflite", run_dir / "model_builtin.tflite")
    code, out, err = cli_checks.run(
        app.main,
        capsys,
        [
            "web",
            "--selftest",
            "--run-dir",
            str(run_dir),
            "--images",
            str(png_images),
            "--runtimes",
            "litert",
            "--screenshot",
            str(tmp_path / "shot.png"),
        ],
    )
    assert code == 1
    assert f"agreement: {len(DIGITS)}/{len(DIGITS)}" not in out
    assert err[0].startswith(
        "error: the page disagrees with the Python interpreter: litert:"
    )


def test_static_batch_fixes_the_batch_dimension(web_run):
    """The served copy declares batch 1 (read back by the LiteRT interpreter)
    and computes the same outputs as the file on disk."""
    from ai_edge_litert.interpreter import Interpreter

    original = (web_run / "model_builtin.tflite").read_bytes()
    fixed = static_batch(original)
    assert len(fixed) == len(original)
    before = Interpreter(model_content=original).get_input_details()[0]
    after = Interpreter(model_content=fixed)
    detail = after.get_input_details()[0]
    assert before["shape_signature"][0] == -1
    assert list(detail["shape_signature"]) == [1, *before["shape"][1:]]
    after.allocate_tensors()
    x = np.random.default_rng(0).uniform(0, 255, detail["shape"]).astype("float32")
    after.set_tensor(detail["index"], x)
    after.invoke()
    got = after.get_tensor(after.get_output_details()[0]["index"])
    reference = Interpreter(model_content=original)
    reference.allocate_tensors()
    reference.set_tensor(reference.get_input_details()[0]["index"], x)
    reference.invoke()
    want = reference.get_tensor(reference.get_output_details()[0]["index"])
    np.testing.assert_array_equal(got, want)
