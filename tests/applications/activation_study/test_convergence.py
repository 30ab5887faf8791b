"""Study 5 (convergence): a quick end-to-end run, the threshold rule and the warm-up."""

import json
import pathlib

import numpy as np
import pytest

from applications.activation_study import __main__ as cli
from applications.activation_study import compile_cache
from applications.activation_study import convergence
from tests.applications.activation_study.test_limited_data import small_dataset  # noqa: F401 (fixture)


def _records(folder):
    entries = [json.loads(p.read_text()) for p in (folder / "per_run").glob("*.json")]
    return {e["key"]: e["record"] for e in entries}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("convergence") / "run"
    return pathlib.Path(
        cli.main(["convergence", "--quick", "--quiet", "--run-dir", str(folder)])
    )


@pytest.mark.slow
def test_epochs_and_times_to_threshold_follow_the_history(quick_run):
    for name in ("results.md", "results.json", "val_accuracy.png"):
        assert (quick_run / name).stat().st_size > 0, name
    _check_against_history(quick_run)


@pytest.mark.slow
def test_sign_language_set_up(small_dataset, tmp_path):  # noqa: F811
    folder = pathlib.Path(
        cli.main(
            [
                "convergence",
                "--quick",
                "--quiet",
                "--no-plots",
                "--dataset",
                "sign-language",
                "--data-dir",
                str(small_dataset),
                "--activations",
                "apalu",
                "--epochs",
                "1",
                "--run-dir",
                str(tmp_path / "run"),
            ]
        )
    )
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["dataset"] == "sign-language"
    records = _check_against_history(folder)
    assert len(records) == 2
    assert "sign-language" in (folder / "results.md").read_text()


def _check_against_history(folder):
    """Epochs and times to the threshold, recomputed from each run's recorded history."""
    settings = json.loads((folder / "settings.json").read_text())
    records = _records(folder)
    assert len(records) == len(settings["activations"]) * len(settings["seeds"])
    text = (folder / "results.md").read_text()
    for key, record in records.items():
        val = np.asarray(record["history"]["val_accuracy"])
        assert len(val) == settings["epochs"] == len(record["epoch_cpu_seconds"]), key
        hits = np.flatnonzero(val >= settings["threshold"])
        if hits.size:
            epoch = int(hits[0]) + 1
            assert record["epochs_to_threshold"] == epoch, key
            assert (
                record["cpu_seconds_to_threshold"]
                == record["epoch_cpu_seconds"][epoch - 1]
            )
            assert (
                record["wall_seconds_to_threshold"]
                == record["epoch_wall_seconds"][epoch - 1]
            )
        else:
            assert record["epochs_to_threshold"] is None and not record["reached"], key
            assert record["cpu_seconds_to_threshold"] is None, key
        assert np.all(np.diff(record["epoch_cpu_seconds"]) >= 0), key
    for activation in settings["activations"]:
        reached = sum(
            records[convergence.job_key(activation, s)]["reached"]
            for s in settings["seeds"]
        )
        assert f"| {activation} | {reached} / {len(settings['seeds'])} |" in text
    return records


@pytest.mark.slow
def test_unreached_threshold_is_reported_not_dropped(tmp_path):
    folder = pathlib.Path(
        cli.main(
            [
                "convergence",
                "--quick",
                "--quiet",
                "--no-plots",
                "--threshold",
                "1.0",
                "--epochs",
                "1",
                "--activations",
                "relu",
                "--seeds",
                "0",
                "1",
                "--run-dir",
                str(tmp_path / "run"),
            ]
        )
    )
    records = _records(folder)
    assert len(records) == 2
    assert all(r["epochs_to_threshold"] is None for r in records.values())
    assert "| relu | 0 / 2 |" in (folder / "results.md").read_text()


def test_epochs_to_threshold_rule():
    assert convergence.epochs_to_threshold([0.2, 0.5, 0.95, 0.9, 0.97], 0.95) == 3
    assert convergence.epochs_to_threshold([0.2, 0.94], 0.95) is None
    assert convergence.epochs_to_threshold([float("nan"), 0.96], 0.95) == 2
    assert convergence.epochs_to_threshold([], 0.5) is None


def test_warm_up_leaves_weights_and_optimizer_unchanged():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(3), keras.layers.Dense(2)]
    )
    model.compile(keras.optimizers.Adam(0.1), "mse")
    model.optimizer.build(model.trainable_variables)
    before = [
        np.array(keras.ops.convert_to_numpy(v))
        for v in model.variables + model.optimizer.variables
    ]
    x = np.ones((4, 5), np.float32)
    y = np.ones((4, 2), np.float32)
    compile_cache.warm_up(model, (x, y), [(x[:3], y[:3])])
    after = [
        np.array(keras.ops.convert_to_numpy(v))
        for v in model.variables + model.optimizer.variables
    ]
    assert len(before) == len(after) and len(before) > 4
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)
    # The same step without the restore does change the weights.
    model.train_on_batch(x, y)
    changed = [
        np.array(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables
    ]
    assert any(not np.array_equal(a, b) for a, b in zip(before, changed))
