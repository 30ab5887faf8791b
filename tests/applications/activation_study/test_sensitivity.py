"""Study 2 end to end in quick mode: files, the recorded a and b, and the tables."""

import json
import re

import numpy as np
import pytest

from applications.activation_study.__main__ import main
from applications.activation_study.sensitivity import FLOOR
from applications.common import stats
from keras_apalu import initialization


@pytest.mark.slow
def test_quick_sensitivity_study(tmp_path):
    folder = main(
        ["sensitivity", "--quick", "--quiet", "--run-dir", str(tmp_path / "run")]
    )
    for name in (
        "results.md",
        "results.json",
        "accuracy_heatmap.png",
        "apalu_parameters.png",
    ):
        assert (folder / name).stat().st_size > 0, name
    payload = json.loads((folder / "results.json").read_text())
    settings = payload["data"]["settings"]
    table = payload["data"]["table"]
    assert set(table) == {"apalu U(0,2)", "apalu fit_gelu", "relu", "gelu"}
    markdown = (folder / "results.md").read_text()
    fit = initialization.fit("gelu")
    for path in (folder / "per_run").glob("*.json"):
        entry = json.loads(path.read_text())
        lr = float(entry["key"][len("lr") :])
        branches = entry["record"]["branches"]
        assert len(branches) == 4 * len(settings["seeds"])
        for s in settings["seeds"]:
            fitted = branches[f"apalu_fit_gelu__seed{s}"]
            # Before training: exactly the fit to GELU, in every unit.
            assert fitted["a_mean_per_epoch"][0] == pytest.approx(fit.a, rel=1e-6)
            assert fitted["b_mean_per_epoch"][0] == pytest.approx(fit.b, rel=1e-6)
            assert len(fitted["a_mean_per_epoch"]) == settings["epochs"] + 1
            drawn = branches[f"apalu_U_0_2___seed{s}"]
            assert 0.0 < drawn["a_mean_per_epoch"][0] < 2.0
            # The constraint holds: nothing below the floor.
            assert min(drawn["a_final"] + drawn["b_final"]) >= FLOOR * (1 - 1e-6)
            assert "a_final" not in branches[f"relu__seed{s}"]
        cell = table["apalu U(0,2)"][f"{lr:g}"]
        a = np.concatenate(
            [branches[f"apalu_U_0_2___seed{s}"]["a_final"] for s in settings["seeds"]]
        )
        assert cell["a_mean"] == pytest.approx(a.mean(), rel=1e-9)
        assert cell["a_floor"] == pytest.approx(np.mean(a <= FLOOR * 1.001))
        accuracies = [
            branches[f"gelu__seed{s}"]["test_accuracy"] for s in settings["seeds"]
        ]
        assert table["gelu"][f"{lr:g}"]["test_accuracy"] == accuracies
        shown = stats.format_mean_std(stats.summarize(accuracies), 3)
        assert re.search(rf"\| gelu \|.*{re.escape(shown)}", markdown)
    assert "## Learning rate 0.1: Welch tests" in markdown


def test_bad_start_and_learning_rate_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        main(
            ["sensitivity", "--quick", "--starts", "U(0,9)", "--run-dir", str(tmp_path)]
        )
    with pytest.raises(ValueError, match="learning rates must be > 0"):
        main(
            [
                "sensitivity",
                "--quick",
                "--quiet",
                "--learning-rates",
                "0.1,-1",
                "--run-dir",
                str(tmp_path),
            ]
        )
