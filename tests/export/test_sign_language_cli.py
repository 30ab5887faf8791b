"""The sign-language command line prints what it wrote, not TensorFlow's
logs (`--verbose` lets them through); `predict` skips an unreadable image,
predicts the others and exits 1."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from applications.sign_language import __main__ as cli
from tests.applications.sign_language.conftest import tiny_dataset  # noqa: F401
from tests.conftest import REPO

BACKEND = keras.backend.backend()
# What TensorFlow and the converters print when not silenced.
NOISE = (
    "I0000",
    "E0000",
    "W0000",
    "absl::InitializeLog",
    "TensorSpec",
    "Saved artifact",
    "oneDNN",
)


def _cli(*args):
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    for name in ("TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "applications.sign_language", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def main_run(tiny_dataset, tmp_path_factory):  # noqa: F811
    """`main` on the tiny dataset, in a fresh process (so TensorFlow's import
    logs, if any, would show)."""
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    result = _cli(
        "main",
        "--run-dir",
        str(run_dir),
        "--data-dir",
        str(tiny_dataset),
        "--cache-dir",
        str(run_dir.parent / "cache"),
        "--image-size",
        "16",
        "--width",
        "4",
        "--blocks",
        "2",
        "--epochs",
        "1",
        "--patience",
        "0",
        "--batch-size",
        "16",
        "--augment",
        "0",
        "--quiet",
        "--no-plots",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


def _check_summary(stdout, run_dir):
    lines = [line for line in stdout.splitlines() if line.startswith("wrote ")]
    assert len(lines) == 2, stdout
    for line, name, apalu in (
        (lines[0], "model.tflite", "APALU 2"),
        (lines[1], "model_builtin.tflite", "EXP 2"),
    ):
        size = (run_dir / name).stat().st_size
        assert f"{run_dir / name}" in line and f"{size:,} B" in line, line
        assert apalu in line and "ops (" in line, line
        error = float(line.split("max |diff| ")[1].split(",")[0])
        assert error <= 1e-5, line
        assert "same top-1 8/8" in line, line


@pytest.mark.slow
def test_main_prints_what_it_wrote_and_no_logs(main_run):
    run_dir, result = main_run
    assert "test accuracy on unseen signers" in result.stdout
    _check_summary(result.stdout, run_dir)
    for noise in NOISE:
        assert noise not in result.stdout + result.stderr, noise


@pytest.mark.slow
@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason=(
        "TensorFlow pass: under JAX and torch TensorFlow loads in the conversion's "
        "subprocess, and main's test covers export's summary"
    ),
)
def test_export_verbose_restores_the_logs(main_run):
    """(The quiet export is main's test: main ends with the same export.)"""
    run_dir, _ = main_run
    verbose = _cli("export", "--run-dir", str(run_dir), "--verbose")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    _check_summary(verbose.stdout, run_dir)
    assert any(noise in verbose.stdout + verbose.stderr for noise in NOISE)


def test_predict_skips_an_unreadable_image(
    main_run,
    tiny_dataset,  # noqa: F811
    tmp_path,
    capsys,
):
    run_dir, _ = main_run
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(np.random.default_rng(0).bytes(500))
    good = sorted((pathlib.Path(tiny_dataset) / "Dataset" / "4").glob("*.JPG"))[:2]
    assert (
        cli.console_main(
            [
                "predict",
                str(good[0]),
                str(bad),
                str(good[1]),
                "--model",
                str(run_dir / "model.keras"),
                "--json",
            ]
        )
        == 1
    )
    captured = capsys.readouterr()
    assert f"skipped {bad}: not a readable image" in captured.err
    printed = json.loads(captured.out)
    assert [r["file"] for r in printed] == [str(good[0]), str(bad), str(good[1])]
    assert "error" in printed[1] and "top" not in printed[1]
    for entry in (printed[0], printed[2]):
        probabilities = [t["probability"] for t in entry["top"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities)[::-1]
    assert captured.err.splitlines()[-1] == (
        "error: skipped 1 of 3 inputs (named above); the others were predicted"
    )


def test_predict_with_no_readable_image_fails_clearly(
    main_run, tmp_path, capsys, monkeypatch
):
    run_dir, _ = main_run
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(np.random.default_rng(1).bytes(500))
    monkeypatch.setattr(
        sys,
        "argv",
        ["sign-language", "predict", str(bad), "--model", str(run_dir / "model.keras")],
    )
    assert cli.console_main() == 2
    error = capsys.readouterr().err
    assert f"error: none of the given files is a readable image: {bad} (" in error
