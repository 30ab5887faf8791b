"""Study 4 (regression): a quick end-to-end run and the padded MSE it reports."""

import json
import pathlib

import numpy as np
import pytest

from applications.activation_study import __main__ as cli
from applications.activation_study import fixed_batches
from applications.activation_study import regression


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("regression") / "run"
    # One activation (the tables' p-value columns are tested with the other
    # studies): every new model costs a trace or compilation on each backend.
    argv = [
        "regression",
        "--quick",
        "--quiet",
        "--run-dir",
        str(folder),
        "--activations",
        "apalu",
    ]
    return pathlib.Path(cli.main(argv))


def _records(folder):
    entries = [json.loads(p.read_text()) for p in (folder / "per_run").glob("*.json")]
    return {e["key"]: e["record"] for e in entries}


@pytest.mark.slow
def test_quick_run_writes_tables_plot_and_every_run(quick_run):
    folder = quick_run
    for name in ("results.md", "results.json", "test_mse.png"):
        assert (folder / name).stat().st_size > 0, name
    results = json.loads((folder / "results.json").read_text())
    settings = results["data"]["settings"]
    records = _records(folder)
    assert set(records) == {
        regression.job_key(d, a, s)
        for d in settings["datasets"]
        for a in settings["activations"]
        for s in settings["seeds"]
    }
    text = (folder / "results.md").read_text()
    assert "python -m applications.activation_study regression --quick" in text
    for dataset in settings["datasets"]:
        assert f"## {dataset}" in text
        for activation in settings["activations"]:
            runs = [
                records[regression.job_key(dataset, activation, s)]
                for s in settings["seeds"]
            ]
            assert results["data"]["table"][dataset][activation]["test_mse"] == [
                r["test_mse"] for r in runs
            ]


@pytest.mark.slow
def test_early_stopping_record_agrees_with_its_history(quick_run):
    settings = json.loads((quick_run / "settings.json").read_text())
    for key, record in _records(quick_run).items():
        val_loss = np.asarray(record["history"]["val_loss"])
        assert record["epochs_run"] == len(val_loss) <= settings["max_epochs"], key
        assert record["best_epoch"] == int(np.argmin(val_loss)) + 1, key
        if record["epochs_run"] < settings["max_epochs"]:  # stopped early
            assert (
                record["epochs_run"] - record["best_epoch"] == settings["patience"]
            ), key
        # restore_best_weights: the reported validation MSE is the best epoch's.
        assert record["val_mse"] == pytest.approx(val_loss.min(), rel=1e-4, abs=1e-6), (
            key
        )


def test_padded_mse_matches_numpy():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(4, 1)).astype(np.float32)
    bias = rng.normal(size=(1,)).astype(np.float32)
    model.layers[-1].set_weights([kernel, bias])
    x = rng.normal(size=(21, 4)).astype(np.float32)
    y = rng.normal(size=21).astype(np.float32)
    expected = np.mean((x.astype(np.float64) @ kernel[:, 0] + bias[0] - y) ** 2)
    assert fixed_batches.mse(model, x, y, batch_size=8) == pytest.approx(
        expected, rel=1e-5
    )


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="Unknown dataset"):
        regression.load("housing", regression.QUICK)
