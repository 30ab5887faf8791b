"""Keras callbacks that watch APALU learn."""

import json
import os
import pathlib

import keras
import numpy as np

from keras_apalu.layers.apalu import APALU

#: Per-channel statistics recorded for `a` and `b`.
STATISTICS = ("mean", "min", "max")


def apalu_layers(model):
    """Every APALU layer of `model`, in order, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, APALU):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(apalu_layers(layer))
    return found


def _layer_values(layer):
    a, b = layer.slopes()
    return {
        "a": np.asarray(keras.ops.convert_to_numpy(a), np.float64),
        "b": np.asarray(keras.ops.convert_to_numpy(b), np.float64),
    }


class APALURecorder(keras.callbacks.Callback):
    """Records every APALU layer's `a` and `b` before training and after each epoch.

    For each APALU layer `L` and parameter `p` in (`a`, `b`), the mean, min
    and max over the layer's channels after every epoch go into the
    `History` that `fit` returns, as `history.history["apalu/L/p_mean"]`
    (and `_min`, `_max`), one value per epoch, added when training ends
    (not into the epoch logs, which the progress bar prints; see
    `log_statistics`). With `path`, it also writes a JSON file:

    ```
    {"layers": [names], "shapes": {name: shape of a},
     "stats":  {"0": {name: {"a": {"mean", "min", "max"}, "b": {...}}}, "1": ...},
     "epochs": {"0": {name: {"a": [flat values], "b": [...]}}, ...}}
    ```

    where epoch key `"0"` holds the values before training and key `k` those
    after epoch `k`; `"epochs"` holds the full arrays at the epochs chosen by
    `full_arrays_every` (and always the first and the last). The file is
    rewritten atomically after every epoch; an existing file is continued,
    so a run resumed with `keras.callbacks.BackupAndRestore` keeps one
    record (use a new path, or delete the file, for a new run).

    With `tensorboard` (a `keras.callbacks.TensorBoard` instance or a log
    folder), it writes the statistics as scalars and the full `a` and `b`
    as histograms, in the sub-folder `apalu` of the log folder, each epoch
    (this uses `tf.summary`, as Keras' own TensorBoard callback does, so it
    needs the `tensorflow` package, under any backend).

    For a `smooth=True` layer, `b` is the `1.5 a` the layer applies.

    Args:
        path: JSON file to write, or `None`.
        full_arrays_every: record the full arrays every this many epochs
            (1: every epoch, the default; 0: only the first and last).
        tensorboard: a `keras.callbacks.TensorBoard` or a log folder, or
            `None`.
        log_statistics: also add the statistics to every epoch's logs, for
            callbacks placed after this one (`CSVLogger`; Keras'
            `TensorBoard` then logs them as scalars too). The progress bar
            prints them as well, so it is off by default.
    """

    def __init__(
        self, path=None, full_arrays_every=1, tensorboard=None, log_statistics=False
    ):
        super().__init__()
        if int(full_arrays_every) < 0:
            raise ValueError(
                f"full_arrays_every must be >= 0; got {full_arrays_every}."
            )
        self.path = None if path is None else pathlib.Path(path)
        self.full_arrays_every = int(full_arrays_every)
        if isinstance(tensorboard, keras.callbacks.TensorBoard):
            tensorboard = tensorboard.log_dir
        self.log_dir = None if tensorboard is None else os.fspath(tensorboard)
        self.log_statistics = bool(log_statistics)
        self.record = {"layers": [], "shapes": {}, "stats": {}, "epochs": {}}
        self._writer = None

    # -- snapshots -----------------------------------------------------
    def _snapshot(self):
        return {layer.name: _layer_values(layer) for layer in self._layers}

    @staticmethod
    def _statistics(values):
        return {
            name: {
                p: {s: float(getattr(np, s)(v)) for s in STATISTICS}
                for p, v in params.items()
            }
            for name, params in values.items()
        }

    def _store(self, epoch, values, full):
        key = str(epoch)
        self.record["stats"][key] = self._statistics(values)
        if full:
            self.record["epochs"][key] = {
                name: {p: v.ravel().tolist() for p, v in params.items()}
                for name, params in values.items()
            }
        self._write_tensorboard(epoch, values)

    def _write(self):
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.record))
        os.replace(partial, self.path)

    def _write_tensorboard(self, epoch, values):
        if self.log_dir is None or not values:
            return
        try:
            import tensorflow as tf
        except ImportError:
            raise ImportError(
                "APALURecorder(tensorboard=...) writes with tf.summary and "
                "needs the tensorflow package: pip install "
                "'keras-apalu[tensorflow]'."
            ) from None
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(
                os.path.join(self.log_dir, "apalu")
            )
        with self._writer.as_default(step=epoch):
            for name, params in values.items():
                for p, v in params.items():
                    tf.summary.histogram(f"{name}/{p}", v)
                    for s in STATISTICS:
                        tf.summary.scalar(f"{name}/{p}_{s}", getattr(np, s)(v))
        self._writer.flush()

    # -- callback hooks ------------------------------------------------
    def on_train_begin(self, logs=None):
        self._layers = apalu_layers(self.model)
        if self.path is not None and self.path.exists():
            previous = json.loads(self.path.read_text())
            self.record.update(
                {k: previous.get(k, self.record[k]) for k in self.record}
            )
        self.record["layers"] = [layer.name for layer in self._layers]
        if self._layers and "0" not in self.record["stats"]:
            values = self._snapshot()
            self.record["shapes"] = {
                name: list(v["a"].shape) for name, v in values.items()
            }
            self._store(0, values, full=True)
        self._write()

    def on_epoch_end(self, epoch, logs=None):
        if not self._layers:
            return
        values = self._snapshot()
        every = self.full_arrays_every
        full = bool(every) and (epoch + 1) % every == 0
        self._store(epoch + 1, values, full)
        self._last = (epoch + 1, values)
        if logs is not None and self.log_statistics:
            for name, params in self.record["stats"][str(epoch + 1)].items():
                for p, stats in params.items():
                    for s, value in stats.items():
                        logs[f"apalu/{name}/{p}_{s}"] = value
        self._write()

    def _add_to_history(self):
        history = getattr(self.model, "history", None)
        epochs = getattr(history, "epoch", None)
        if not isinstance(history, keras.callbacks.History) or not epochs:
            return
        for epoch in epochs:
            stats = self.record["stats"].get(str(epoch + 1), {})
            for name, params in stats.items():
                for p, values in params.items():
                    for s, value in values.items():
                        key = f"apalu/{name}/{p}_{s}"
                        series = history.history.setdefault(key, [])
                        series.append(value)

    def on_train_end(self, logs=None):
        if self._layers:
            self._add_to_history()
        last = getattr(self, "_last", None)
        if last is not None and str(last[0]) not in self.record["epochs"]:
            epoch, values = last
            self.record["epochs"][str(epoch)] = {
                name: {p: v.ravel().tolist() for p, v in params.items()}
                for name, params in values.items()
            }
            self._write()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
