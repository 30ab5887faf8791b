"""Callbacks of the training run, each resumable from the run directory.

The record of APALU's a and b is `keras_apalu.callbacks.APALURecorder`.
"""

import csv
import pathlib
import time

import keras


def read_history(path):
    """Rows of a CSVLogger file as a list of dicts of floats (`[]` if none)."""
    path = pathlib.Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [
            {k: float(v) for k, v in row.items() if v not in (None, "")}
            for row in csv.DictReader(f)
        ]


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_time` (wall seconds of the epoch, validation included) to the logs.

    Put it before CSVLogger in the callback list so the time is logged.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_time"] = time.perf_counter() - self._start


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping whose patience counter survives an interrupted run.

    On train begin it replays the monitored value of the epochs already in
    the CSV history (from before an interruption), so `wait` and `best` are
    what they would have been without the interruption. Best weights are not
    kept here: the run's ModelCheckpoint file holds them.

    Args:
        history_path: the CSVLogger file of the run.
        **kwargs: `keras.callbacks.EarlyStopping` arguments.
    """

    def __init__(self, history_path, **kwargs):
        super().__init__(**kwargs)
        self.history_path = history_path

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.monitor_op is None:
            self._set_monitor_op()
        for row in read_history(self.history_path):
            value = row.get(self.monitor)
            if value is None:
                continue
            if self._is_improvement(value, self.best):
                self.best = value
                self.best_epoch = int(row["epoch"])
                self.wait = 0
            else:
                self.wait += 1


def resumable_checkpoint(path, history_path, monitor="val_loss"):
    """A best-only weights ModelCheckpoint that remembers the best value so far.

    On resume, `best` is set from the CSV history so that a worse epoch
    after the interruption does not overwrite the best weights.
    """
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(path),
        monitor=monitor,
        mode="min",
        save_best_only=True,
        save_weights_only=True,
    )
    values = [row[monitor] for row in read_history(history_path) if monitor in row]
    if values and pathlib.Path(path).exists():
        checkpoint.best = min(values)
    return checkpoint
