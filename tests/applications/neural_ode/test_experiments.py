"""The experiments' quick modes: tables, plots, resuming, settings checks, CLI."""

import json

import numpy as np
import pytest

from applications.common import cli
from applications.common.errors import UsageError
from applications.neural_ode.__main__ import main
from applications.neural_ode.experiments import EXPERIMENTS
from applications.neural_ode.experiments import runner

ACTIVATIONS = ("apalu_smooth", "apalu")
FIGURES = {
    "gradients": "gradient_error.png",
    "resnet": "resnet_vs_ode.png",
    "ntk": "ntk.png",
    "train": "training_loss.png",
}


def quick(name, **overrides):
    return runner.settings_for(name, quick=True, activations=ACTIVATIONS, **overrides)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_quick_run_writes_table_figure_and_resumes(x64, name, tmp_path, monkeypatch):
    settings = quick(name, seeds=(0,))
    text = runner.run(name, settings, tmp_path, verbose=0)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["cells"]) == len(runner.cells(name, settings))
    assert len(list((tmp_path / "per_run").glob("*.json"))) == len(saved["cells"])
    for activation in ACTIVATIONS:
        assert f"| {activation} |" in text
    # One seed: no spread to show, said so rather than a 0 or a crash.
    assert "(n=1)" in text and "±" not in text.split("|---|")[-1]
    assert (tmp_path / "results.md").read_text() == text
    assert (tmp_path / FIGURES[name]).stat().st_size > 1000
    for cell in saved["cells"].values():
        numbers = [v for k, v in cell.items() if isinstance(v, list) and k != "losses"]
        assert all(np.all(np.isfinite(np.asarray(v, float))) for v in numbers), cell

    # A finished run is not recomputed.
    module = runner.experiment_module(name)
    monkeypatch.setattr(module, "run_cell", lambda *a: pytest.fail("recomputed a cell"))
    assert runner.run(name, settings, tmp_path, verbose=0) == text


@pytest.mark.slow
def test_interrupted_run_resumes_at_the_missing_cells(x64, tmp_path, monkeypatch):
    settings = quick("resnet")
    module = runner.experiment_module("resnet")
    real, calls = module.run_cell, []

    def fails_after_one(*args):
        if calls:
            raise KeyboardInterrupt
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(module, "run_cell", fails_after_one)
    with pytest.raises(KeyboardInterrupt):
        runner.run("resnet", settings, tmp_path, verbose=0)
    assert len(list((tmp_path / "per_run").glob("*.json"))) == 1
    done = []
    monkeypatch.setattr(module, "run_cell", lambda *a: done.append(a) or real(*a))
    runner.run("resnet", settings, tmp_path, verbose=0)
    assert len(done) == len(runner.cells("resnet", settings)) - 1


@pytest.mark.slow
def test_run_folder_with_other_settings_is_refused(x64, tmp_path):
    runner.run("resnet", quick("resnet", seeds=(0,)), tmp_path, verbose=0)
    with pytest.raises(UsageError, match="other settings .*seeds"):
        runner.run("resnet", quick("resnet", seeds=(0, 1)), tmp_path, verbose=0)


def test_bad_settings_fail_clearly():
    with pytest.raises(ValueError, match="unknown experiment"):
        runner.settings_for("mnist")
    with pytest.raises(ValueError, match="no setting 'depth'"):
        runner.settings_for("resnet", depth=3)
    with pytest.raises(ValueError, match="unknown activation"):
        runner.settings_for("ntk", activations=("swish",))
    with pytest.raises(UsageError, match="seeds must be integers >= 0"):
        runner.settings_for("ntk", seeds=())


@pytest.mark.slow
def test_command_line(x64, tmp_path, capsys):
    code = main(
        [
            "resnet",
            "--quick",
            "--run-dir",
            str(tmp_path),
            "--seeds",
            "0",
            "--activations",
            "relu",
            "--set",
            "depths=1,3",
            "--quiet",
        ]
    )
    assert code == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["settings"]["depths"] == [1, 3] and list(saved["cells"]) == ["relu/0"]
    assert (
        cli.run(
            main,
            [
                "resnet",
                "--quick",
                "--run-dir",
                str(tmp_path),
                "--seeds",
                "0-1",
                "--activations",
                "relu",
                "--quiet",
            ],
        )
        == 2
    )
    assert "other settings (changed: depths, seeds)" in capsys.readouterr().err
    with pytest.raises(UsageError, match="unknown setting 'nonsense'"):
        main(["resnet", "--set", "nonsense=1"])
