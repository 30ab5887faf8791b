"""The lrnn_claims command line: usage errors (two lines, status 2) and one
quick smoke run per claim (slow), which also checks that a rerun resumes."""

import json

import keras
import pytest

from applications.lrnn_claims import dimension
from applications.lrnn_claims import spectral
from applications.lrnn_claims import width
from applications.lrnn_claims.__main__ import main
from tests.applications import cli_checks

PROG = "python -m applications.lrnn_claims"


def run(capsys, argv):
    return cli_checks.run(main, capsys, argv)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["spectral", "--steps", "25", "--eval-every", "10"], "--steps (25) must"),
        (["width", "--seeds", "3"], "--seeds: give at least 2 seeds"),
        (["dimension", "--dims", "1", "4"], "--dims must be >= 2"),
        (["dimension", "--models", "nerf"], "argument --models: invalid choice"),
    ],
)
def test_bad_usage_is_two_lines_and_status_2(capsys, tmp_path, argv, message):
    code, _, err = run(capsys, argv + ["--run-dir", str(tmp_path)])
    assert code == 2 and len(err) == 2 and message in err[0], err


STUDIES = {"dimension": dimension, "spectral": spectral, "width": width}


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="smoke runs under one backend (jax)"
)
@pytest.mark.parametrize("claim", list(STUDIES))
def test_quick_run_writes_results_and_resumes(capsys, tmp_path, monkeypatch, claim):
    argv = [claim, "--quick", "--quiet", "--run-dir", str(tmp_path)]
    code, out, err = run(capsys, argv)
    assert code == 0, err
    folder = tmp_path / claim
    assert "**Verdict" in (folder / "results.md").read_text()
    assert json.loads((folder / "results.json").read_text())["verdict"]
    assert (folder / f"{claim}.png").exists()

    def retrained(*args, **kwargs):
        raise AssertionError("a finished job ran again")

    for name in ("run_job", "variance_job", "relevance_job"):
        if hasattr(STUDIES[claim], name):
            monkeypatch.setattr(STUDIES[claim], name, retrained)
    code, _, err = run(capsys, argv)
    assert code == 0, err
