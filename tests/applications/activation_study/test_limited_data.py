"""Study 3 (limited data): a quick end-to-end run and the helpers it relies on."""

import json
import math
import pathlib
import shutil

import numpy as np
import pytest

from applications.activation_study import __main__ as cli
from applications.activation_study import fixed_batches
from applications.activation_study import limited_data
from applications.sign_language import data as app_data
from applications.sign_language import split as app_split

#: Images per class of the small dataset copy (about 25 signers).
PER_CLASS = 25


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory, sign_language_dir):
    """A `Dataset/<digit>/` copy of the first PER_CLASS images of each class."""
    root = tmp_path_factory.mktemp("signs") / "Dataset"
    for digit in range(10):
        target = root / str(digit)
        target.mkdir(parents=True)
        for path in sorted(
            (pathlib.Path(sign_language_dir) / "Dataset" / str(digit)).glob("*.JPG")
        )[:PER_CLASS]:
            shutil.copy(path, target / path.name)
    return root.parent


@pytest.fixture(scope="module")
def quick_run(small_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("limited") / "run"
    # One fraction below 1 (whole-signer selection) keeps the run short.
    argv = [
        "limited-data",
        "--quick",
        "--quiet",
        "--run-dir",
        str(folder),
        "--data-dir",
        str(small_dataset),
        "--fractions",
        "0.5",
    ]
    returned = cli.main(argv)
    return pathlib.Path(returned), argv


def _records(folder):
    return {
        json.loads(p.read_text())["key"]: json.loads(p.read_text())["record"]
        for p in (folder / "per_run").glob("*.json")
    }


@pytest.mark.slow
def test_quick_run_writes_every_file_and_run(quick_run):
    folder, _ = quick_run
    for name in (
        "results.md",
        "results.json",
        "settings.json",
        "accuracy_vs_fraction.png",
        "gap_vs_fraction.png",
    ):
        assert (folder / name).stat().st_size > 0, name
    settings = json.loads((folder / "settings.json").read_text())
    records = _records(folder)
    expected = {
        limited_data.job_key(f, a, s)
        for f in settings["fractions"]
        for a in settings["activations"]
        for s in settings["seeds"]
    }
    assert set(records) == expected
    text = (folder / "results.md").read_text()
    assert "python -m applications.activation_study limited-data --quick" in text
    assert "Budget:" in text
    for fraction in settings["fractions"]:
        assert f"{fraction:.0%} of the training signers" in text


@pytest.mark.slow
def test_tables_match_the_runs(quick_run):
    folder, _ = quick_run
    results = json.loads((folder / "results.json").read_text())["data"]
    records = _records(folder)
    settings = results["settings"]
    for fraction in settings["fractions"]:
        for activation in settings["activations"]:
            row = results["table"][f"{fraction:g}"][activation]
            runs = [
                records[limited_data.job_key(fraction, activation, s)]
                for s in settings["seeds"]
            ]
            assert row["test_accuracy"] == [r["test_accuracy"] for r in runs]
            for run in runs:
                assert math.isclose(
                    run["gap"], run["train_accuracy"] - run["test_accuracy"]
                )
                assert 0.0 <= run["test_accuracy"] <= 1.0
                assert len(run["history"]["val_accuracy"]) == settings["epochs"]


@pytest.mark.slow
def test_fraction_keeps_whole_training_signers(quick_run, small_dataset):
    """Recomputes the signer split with the application's own functions."""
    folder, _ = quick_run
    root = app_data.find_class_root(small_dataset)
    files = [f"{p.parent.name}/{p.name}" for p, _ in app_data.list_images(root)]
    labels = np.array([label for _, label in app_data.list_images(root)])
    signers = app_split.signer_groups(files, labels)
    split = app_split.make_split(files, labels, "signer", 0.15, 0.15, seed=0)
    train_signers = set(split["train"]["signers"])
    held_out = set(split["val"]["signers"]) | set(split["test"]["signers"])
    for key, record in _records(folder).items():
        kept = set(record["train_signers"])
        fraction = record["fraction"]
        assert kept <= train_signers and not kept & held_out, key
        assert len(kept) == max(1, round(fraction * len(train_signers))), key
        # Every image of a kept signer, and no other, is in the training set.
        assert record["train_images"] == int(np.isin(signers, list(kept)).sum()), key
        if fraction < 1.0:
            assert record["train_images"] < sum(
                1 for s in signers if s in train_signers
            ), key


@pytest.mark.slow
def test_rerun_resumes_and_other_settings_are_refused(quick_run, small_dataset):
    folder, argv = quick_run
    before = {p.name: p.stat().st_mtime_ns for p in (folder / "per_run").glob("*.json")}
    cli.main(argv + ["--no-plots"])
    after = {p.name: p.stat().st_mtime_ns for p in (folder / "per_run").glob("*.json")}
    assert before == after
    with pytest.raises(ValueError, match="epochs"):
        cli.main(argv + ["--epochs", "3"])
    assert sorted(p.name for p in (folder / "per_run").glob("*.json")) == sorted(before)


def test_step_batches_are_full_and_cover_the_data_evenly():
    x = np.arange(50, dtype=np.float32)[:, None]
    y = np.arange(50)
    batches = fixed_batches.StepBatches(x, y, batch_size=8, steps=5, seed=3)
    seen = []
    for _ in range(10):  # 10 epochs x 40 samples = 8 passes over 50 samples
        for index in range(len(batches)):
            bx, by = batches[index]
            assert bx.shape == (8, 1) and np.array_equal(bx[:, 0], by)
            seen.extend(by.tolist())
        batches.on_epoch_end()
    counts = np.bincount(seen, minlength=50)
    assert counts.min() == counts.max() == 8
    again = fixed_batches.StepBatches(x, y, batch_size=8, steps=5, seed=3)
    assert np.array_equal(
        again[0][1], fixed_batches.StepBatches(x, y, 8, 5, seed=3)[0][1]
    )
    assert not np.array_equal(
        again[0][1], fixed_batches.StepBatches(x, y, 8, 5, seed=4)[0][1]
    )
    with pytest.raises(ValueError, match="differ in length"):
        fixed_batches.StepBatches(x, y[:3], 8)


def test_padded_accuracy_matches_numpy():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 4)).astype(np.float32)
    bias = rng.normal(size=(4,)).astype(np.float32)
    model.layers[-1].set_weights([kernel, bias])
    x = rng.normal(size=(37, 3)).astype(np.float32)
    y = rng.integers(0, 4, size=37)
    logits = x.astype(np.float64) @ kernel + bias
    expected = np.mean(np.argmax(logits, axis=1) == y)
    assert fixed_batches.accuracy(model, x, y, batch_size=16) == pytest.approx(expected)
    np.testing.assert_allclose(
        fixed_batches.predict(model, x, batch_size=16), logits, rtol=1e-5, atol=1e-5
    )


def test_bad_fraction_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fractions"):
        cli.main(
            [
                "limited-data",
                "--quick",
                "--quiet",
                "--run-dir",
                str(tmp_path),
                "--fractions",
                "0",
            ]
        )
