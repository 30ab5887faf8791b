"""Study 1 end to end in quick mode: files, resume, and numbers that add up."""

import json
import re

import keras
import numpy as np
import pytest

from applications.activation_study import data as data_lib
from applications.activation_study import models
from applications.activation_study.__main__ import main
from applications.activation_study.ensemble import SideBySide
from applications.common import stats
from tests.applications.activation_study.test_ensemble import (
    _reference_kernel_grad_norms,
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("depth") / "run"
    args = ["depth", "--quick", "--quiet", "--run-dir", str(run_dir)]
    folder = main(args)
    return folder, args


@pytest.mark.slow
def test_quick_depth_study_writes_consistent_results(quick_run):
    folder, _ = quick_run
    for name in (
        "results.md",
        "results.json",
        "settings.json",
        "gradient_norms_mlp.png",
        "gradient_norms_cnn.png",
        "train_loss_vs_depth.png",
    ):
        assert (folder / name).stat().st_size > 0, name
    payload = json.loads((folder / "results.json").read_text())
    settings = payload["data"]["settings"]
    assert settings["activations"] == ["relu", "apalu"] and settings["seeds"] == [0, 1]
    per_run = sorted((folder / "per_run").glob("*.json"))
    assert len(per_run) == 2 * (
        len(settings["mlp_depths"]) + len(settings["cnn_depths"])
    )
    markdown = (folder / "results.md").read_text()
    assert payload["command"] in markdown and "Budget:" in markdown
    for path in per_run:
        entry = json.loads(path.read_text())
        arch, activation, depth = entry["key"].split("/")
        depth = int(depth[len("depth") :])
        seeds = entry["record"]["seeds"]
        cell = payload["data"]["table"][arch][str(depth)][activation]
        assert cell["train_loss"] == [seeds[f"seed{s}"]["train_loss"] for s in range(2)]
        for s in range(2):
            grads = seeds[f"seed{s}"]["grad_init"]
            assert len(grads) == depth + 1 and all(g > 0 for g in grads)
            assert 0.0 <= seeds[f"seed{s}"]["test_accuracy"] <= 1.0
    # The table in results.md shows the mean ± std of those values.
    cell = payload["data"]["table"]["mlp"]["2"]["apalu"]["train_loss"]
    shown = stats.format_mean_std(stats.summarize(cell), 3)
    assert re.search(rf"\| apalu \| {re.escape(shown)} \|", markdown)


@pytest.mark.slow
def test_recorded_initial_gradients_match_numpy_backpropagation(quick_run):
    folder, _ = quick_run
    settings = json.loads((folder / "settings.json").read_text())
    record = json.loads(
        next((folder / "per_run").glob("mlp%2Frelu%2Fdepth2.json")).read_text()
    )
    # Rebuild the same initial networks (same seed, same construction order).
    keras.utils.set_random_seed(settings["init_seed"])
    net = SideBySide(
        (64,),
        [
            (f"seed{s}", models.mlp_layers(10, settings["mlp_width"], 2, "relu"))
            for s in settings["seeds"]
        ],
    )
    d = data_lib.digits(seed=0)
    n = settings["grad_samples"]
    for s in settings["seeds"]:
        expected = _reference_kernel_grad_norms(
            net.layers[f"seed{s}"], "relu", d["x_train"][:n], d["y_train"][:n]
        )
        np.testing.assert_allclose(
            record["record"]["seeds"][f"seed{s}"]["grad_init"], expected, rtol=1e-3
        )


@pytest.mark.slow
def test_rerun_resumes_and_other_settings_are_refused(quick_run):
    folder, args = quick_run
    stamps = {p: p.stat().st_mtime_ns for p in (folder / "per_run").glob("*.json")}
    before = json.loads((folder / "results.json").read_text())["data"]
    main(args + ["--no-plots"])
    assert {
        p: p.stat().st_mtime_ns for p in (folder / "per_run").glob("*.json")
    } == stamps
    assert json.loads((folder / "results.json").read_text())["data"] == before
    with pytest.raises(ValueError, match="changed: epochs"):
        main(args + ["--epochs", "2"])


def test_cli_rejects_bad_options(tmp_path):
    with pytest.raises(SystemExit):
        main(
            ["depth", "--quick", "--activations", "swishy", "--run-dir", str(tmp_path)]
        )
    with pytest.raises(SystemExit):
        main(["nonsense"])
    with pytest.raises(ValueError, match="mlp_depths must be >= 1"):
        main(
            [
                "depth",
                "--quick",
                "--quiet",
                "--mlp-depths",
                "0",
                "--run-dir",
                str(tmp_path),
            ]
        )
