import json
import pathlib

import keras
import numpy as np
import pytest

from applications.sign_language import __main__ as cli
from applications.sign_language import callbacks as run_callbacks
from applications.sign_language import inference
from applications.sign_language import split as split_lib
from applications.sign_language.train import train

# Trains runs: left out of the fast tier (run_backends.py --fast).
pytestmark = pytest.mark.slow

ARTIFACTS = (
    "config.json",
    "split.json",
    "history.csv",
    "apalu_params.json",
    "best.weights.h5",
    "model.keras",
    "metrics.json",
    "learning_curves.png",
    "confusion_matrix.png",
    "apalu_curves.png",
)


def test_train_writes_every_artifact(trained_run):
    run_dir, metrics = trained_run
    for name in ARTIFACTS:
        assert (run_dir / name).stat().st_size > 0, name
    assert not (run_dir / "backup").exists()
    on_disk = json.loads((run_dir / "metrics.json").read_text())
    assert on_disk["test_accuracy"] == metrics["test_accuracy"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert set(metrics["test_per_class_accuracy"]) == {str(d) for d in range(10)}
    matrix = np.asarray(metrics["test_confusion_matrix"])
    assert matrix.sum() == metrics["images"]["test"]
    # Test accuracy is recomputable from the confusion matrix.
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["test_accuracy"])
    history = run_callbacks.read_history(run_dir / "history.csv")
    assert [int(row["epoch"]) for row in history] == [0, 1]
    assert all(row["epoch_time"] > 0 for row in history)
    record = json.loads((run_dir / "apalu_params.json").read_text())
    assert record["layers"] == ["block1_conv1_apalu", "block2_conv1_apalu"]
    assert sorted(record["epochs"], key=int) == ["0", "1", "2"]
    assert len(record["epochs"]["2"]["block2_conv1_apalu"]["a"]) == 8
    split = split_lib.load_split(run_dir / "split.json")
    signer_sets = [set(split[name]["signers"]) for name in split_lib.SPLITS]
    assert not (
        signer_sets[0] & signer_sets[1]
        or signer_sets[0] & signer_sets[2]
        or signer_sets[1] & signer_sets[2]
    )


def test_saved_model_is_the_best_checkpoint(trained_run, tiny_dataset):
    run_dir, metrics = trained_run
    result = inference.evaluate(run_dir / "model.keras", data_dir=str(tiny_dataset))
    assert result["accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert result["images"] == metrics["images"]["test"]


def test_predict_returns_a_valid_class(trained_run, tiny_dataset):
    run_dir, _ = trained_run
    images = sorted((pathlib.Path(tiny_dataset) / "Dataset" / "4").glob("*.JPG"))[:2]
    results = inference.predict_files(run_dir / "model.keras", images, top_k=3)
    assert len(results) == 2
    for result in results:
        classes = [t["class"] for t in result["top"]]
        probabilities = [t["probability"] for t in result["top"]]
        assert len(classes) == 3 and len(set(classes)) == 3
        assert set(classes) <= {str(d) for d in range(10)}
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0.0 <= p <= 1.0 for p in probabilities)


def test_predict_cli_prints_top_k(trained_run, tiny_dataset, capsys):
    run_dir, _ = trained_run
    image = sorted((pathlib.Path(tiny_dataset) / "Dataset" / "7").glob("*.JPG"))[0]
    results = cli.main(
        ["predict", str(image), "--model", str(run_dir / "model.keras"), "--top-k", "2"]
    )
    assert len(results[0]["top"]) == 2
    assert image.name in capsys.readouterr().out


def test_unknown_model_suffix_is_an_error(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"\.keras or \.tflite"):
        inference.load_predictor(path)


class _Interrupt(keras.callbacks.Callback):
    """Raises in the middle of epoch `epoch` (0-based), like a killed run."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.current = None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 1:
            raise KeyboardInterrupt("simulated interruption")


class _FirstEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_interrupted_run_resumes_where_it_stopped(tiny_config):
    config = tiny_config(epochs=4, batch_size=8)
    run_dir = pathlib.Path(config.run_dir)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[_Interrupt(epoch=2)])
    assert (run_dir / "backup").exists()
    assert not (run_dir / "metrics.json").exists()
    history = run_callbacks.read_history(run_dir / "history.csv")
    assert [int(row["epoch"]) for row in history] == [0, 1]
    split_before = (run_dir / "split.json").read_text()

    seen = _FirstEpoch()
    metrics = train(config, extra_callbacks=[seen])

    assert seen.epochs == [2, 3]
    assert metrics["resumed"] is True
    assert (run_dir / "split.json").read_text() == split_before
    history = run_callbacks.read_history(run_dir / "history.csv")
    assert [int(row["epoch"]) for row in history] == [0, 1, 2, 3]
    record = json.loads((run_dir / "apalu_params.json").read_text())
    assert sorted(record["epochs"], key=int) == ["0", "1", "2", "3", "4"]
    assert not (run_dir / "backup").exists()


def test_resume_with_other_settings_is_an_error(tiny_config):
    config = tiny_config(epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[_Interrupt(epoch=1)])
    with pytest.raises(ValueError, match="activation: 'apalu' -> 'relu'"):
        train(tiny_config(epochs=3, activation="relu"))


def test_train_cli_with_relu_has_no_apalu_record(tiny_config, capsys):
    config = tiny_config(epochs=1)
    cli.main(
        [
            "train",
            "--run-dir",
            config.run_dir,
            "--data-dir",
            config.data_dir,
            "--cache-dir",
            config.cache_dir,
            "--image-size",
            "16",
            "--width",
            "4",
            "--blocks",
            "2",
            "--epochs",
            "1",
            "--activation",
            "relu",
            "--augment",
            "0",
            "--val-fraction",
            "0.2",
            "--test-fraction",
            "0.2",
            "--batch-size",
            "16",
            "--quiet",
            "--no-plots",
        ]
    )
    run_dir = pathlib.Path(config.run_dir)
    assert "test accuracy on unseen signers" in capsys.readouterr().out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["activation"] == "relu"
    assert not (run_dir / "apalu_curves.png").exists()
    assert json.loads((run_dir / "apalu_params.json").read_text())["layers"] == []


def test_evaluate_cli_on_a_labelled_folder(trained_run, tiny_dataset, capsys):
    run_dir, _ = trained_run
    result = cli.main(
        [
            "evaluate",
            str(run_dir / "model.keras"),
            "--folder",
            str(tiny_dataset),
            "--json",
        ]
    )
    assert result["images"] == 120
    matrix = np.asarray(result["confusion_matrix"])
    assert matrix.sum(axis=1).tolist() == [12] * 10
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / 120)
    assert json.loads(capsys.readouterr().out)["accuracy"] == result["accuracy"]
