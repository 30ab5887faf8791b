"""The experiments' quick modes: tables, plots, resuming, settings checks, CLI."""

import json

import numpy as np
import pytest

from applications.neural_ode.__main__ import main
from applications.neural_ode.experiments import EXPERIMENTS, runner

ACTIVATIONS = ("apalu_smooth", "apalu")
FIGURES = {"gradients": "gradient_error.png", "resnet": "resnet_vs_ode.png",
           "ntk": "ntk.png", "train": "training_loss.png"}


def quick(name, **overrides):
    return runner.settings_for(name, quick=True, activations=ACTIVATIONS, **overrides)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_quick_run_writes_table_figure_and_resumes(x64, name, tmp_path, monkeypatch):
    settings = quick(name, seeds=1)
    text = runner.run(name, settings, tmp_path, verbose=0)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["cells"]) == len(runner.cells(name, settings))
    for activation in ACTIVATIONS:
        assert f"| {activation} |" in text
    assert "+-" in text
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
    assert len(json.loads((tmp_path / "results.json").read_text())["cells"]) == 1
    done = []
    monkeypatch.setattr(module, "run_cell", lambda *a: done.append(a) or real(*a))
    runner.run("resnet", settings, tmp_path, verbose=0)
    assert len(done) == len(runner.cells("resnet", settings)) - 1


@pytest.mark.slow
def test_run_folder_with_other_settings_is_refused(x64, tmp_path):
    runner.run("resnet", quick("resnet", seeds=1), tmp_path, verbose=0)
    with pytest.raises(ValueError, match="other settings .*seeds"):
        runner.run("resnet", quick("resnet", seeds=2), tmp_path, verbose=0)


def test_bad_settings_fail_clearly():
    with pytest.raises(ValueError, match="unknown experiment"):
        runner.settings_for("mnist")
    with pytest.raises(ValueError, match="no setting 'depth'"):
        runner.settings_for("resnet", depth=3)
    with pytest.raises(ValueError, match="unknown activation"):
        runner.settings_for("ntk", activations=("swish",))


@pytest.mark.slow
def test_command_line(x64, tmp_path, capsys):
    code = main(["resnet", "--quick", "--run-dir", str(tmp_path), "--seeds", "1",
                 "--activations", "relu", "--set", "depths=1,3", "--verbose", "0"])
    assert code == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["settings"]["depths"] == [1, 3] and list(saved["cells"]) == ["relu/0"]
    assert main(["resnet", "--quick", "--run-dir", str(tmp_path), "--seeds", "2",
                 "--activations", "relu", "--verbose", "0"]) == 2
    assert "other settings" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["resnet", "--set", "nonsense=1"])
