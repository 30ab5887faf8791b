"""keras_apalu.callbacks.APALURecorder: history, JSON file and TensorBoard."""

import json

import keras
import numpy as np
import pytest

from keras_apalu.callbacks import APALURecorder
from keras_apalu.callbacks import apalu_layers
from keras_apalu.layers import APALU


def _model():
    inner = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3),
            APALU(smooth=True, name="inner_apalu"),
        ],
        name="inner",
    )
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(5, 3),
            APALU(shared_axes=[1, 2], name="conv_apalu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4),
            inner,
        ]
    )


class _Weights(keras.callbacks.Callback):
    """Keeps a and b of every APALU layer (via get_weights) per epoch."""

    def __init__(self):
        super().__init__()
        self.seen = {}

    def _take(self, key):
        self.seen[key] = {}
        for layer in apalu_layers(self.model):
            weights = [np.asarray(w, np.float64) for w in layer.get_weights()]
            a = weights[0]
            b = 1.5 * a if layer.smooth else weights[1]
            self.seen[key][layer.name] = (a, b)

    def on_train_begin(self, logs=None):
        self._take("0")

    def on_epoch_end(self, epoch, logs=None):
        self._take(str(epoch + 1))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 6, 6, 2)).astype("float32"), rng.normal(size=(16, 3))


def _fit(model, data, callbacks, epochs=3, initial_epoch=0):
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    return model.fit(
        *data,
        epochs=epochs,
        initial_epoch=initial_epoch,
        batch_size=8,
        verbose=0,
        callbacks=callbacks,
    )


def test_records_statistics_into_history_and_json(tmp_path, data):
    model = _model()
    path = tmp_path / "apalu.json"
    weights = _Weights()
    history = _fit(model, data, [APALURecorder(path, full_arrays_every=2), weights])

    record = json.loads(path.read_text())
    assert record["layers"] == ["conv_apalu", "inner_apalu"]
    assert record["shapes"] == {"conv_apalu": [1, 1, 5], "inner_apalu": [3]}
    assert sorted(record["stats"], key=int) == ["0", "1", "2", "3"]
    # Full arrays at epoch 0, every 2nd epoch, and the last.
    assert sorted(record["epochs"], key=int) == ["0", "2", "3"]
    for key, layers in weights.seen.items():
        for name, (a, b) in layers.items():
            for p, v in (("a", a), ("b", b)):
                stats = record["stats"][key][name][p]
                np.testing.assert_allclose(
                    [stats["mean"], stats["min"], stats["max"]],
                    [v.mean(), v.min(), v.max()],
                    rtol=1e-6,
                )
                if key in record["epochs"]:
                    np.testing.assert_allclose(
                        record["epochs"][key][name][p], v.ravel(), rtol=1e-6
                    )
                if key != "0":
                    logged = history.history[f"apalu/{name}/{p}_mean"][int(key) - 1]
                    assert logged == pytest.approx(v.mean(), rel=1e-6)
    # The slopes moved (the record is not of constants).
    assert (
        record["stats"]["3"]["conv_apalu"]["a"]
        != record["stats"]["0"]["conv_apalu"]["a"]
    )


class _Logs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.keys = []

    def on_epoch_end(self, epoch, logs=None):
        self.keys.append(sorted(logs))


def test_statistics_reach_the_epoch_logs_only_on_request(tmp_path, data):
    seen = _Logs()
    _fit(_model(), data, [APALURecorder(), seen], epochs=1)
    assert not any(key.startswith("apalu/") for key in seen.keys[0])
    seen = _Logs()
    csv = tmp_path / "history.csv"
    _fit(
        _model(),
        data,
        [APALURecorder(log_statistics=True), seen, keras.callbacks.CSVLogger(str(csv))],
        epochs=2,
    )
    assert "apalu/conv_apalu/b_max" in seen.keys[1]
    assert "apalu/inner_apalu/a_min" in csv.read_text().splitlines()[0]


def test_a_resumed_run_continues_the_record(tmp_path, data):
    model = _model()
    path = tmp_path / "apalu.json"
    _fit(model, data, [APALURecorder(path)], epochs=2)
    _fit(model, data, [APALURecorder(path)], epochs=3, initial_epoch=2)
    record = json.loads(path.read_text())
    assert sorted(record["stats"], key=int) == ["0", "1", "2", "3"]
    assert sorted(record["epochs"], key=int) == ["0", "1", "2", "3"]


def test_model_without_apalu(tmp_path, data):
    model = keras.Sequential(
        [keras.Input((6, 6, 2)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    history = _fit(model, data, [APALURecorder(tmp_path / "a.json")], epochs=1)
    assert json.loads((tmp_path / "a.json").read_text())["layers"] == []
    assert not any(key.startswith("apalu/") for key in history.history)


def test_bad_argument():
    with pytest.raises(ValueError, match="full_arrays_every"):
        APALURecorder(full_arrays_every=-1)


def _read_events(folder):
    import tensorflow as tf

    scalars, histograms = {}, {}
    for file in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(file)):
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                if value.metadata.plugin_data.plugin_name == "histograms":
                    histograms.setdefault(value.tag, {})[event.step] = array
                else:
                    scalars.setdefault(value.tag, {})[event.step] = float(array)
    return scalars, histograms


def test_tensorboard_scalars_and_histograms(tmp_path, data):
    # tf.summary writes the events, so the tensorflow package is needed; the
    # Keras backend may be any (TensorFlow is installed for every test run).
    pytest.importorskip("tensorflow")
    model = _model()
    board = keras.callbacks.TensorBoard(str(tmp_path / "logs"))
    weights = _Weights()
    _fit(model, data, [APALURecorder(tensorboard=board), board, weights], epochs=2)

    scalars, histograms = _read_events(tmp_path / "logs" / "apalu")
    for step in (0, 1, 2):
        a, b = weights.seen[str(step)]["conv_apalu"]
        assert scalars["conv_apalu/a_mean"][step] == pytest.approx(a.mean(), rel=1e-6)
        assert scalars["conv_apalu/b_max"][step] == pytest.approx(b.max(), rel=1e-6)
        # Histogram buckets: (left edge, right edge, count) rows; counts sum
        # to the number of values.
        buckets = histograms["inner_apalu/b"][step]
        assert buckets[:, 2].sum() == pytest.approx(3)
        assert buckets[0, 0] == pytest.approx(
            weights.seen[str(step)]["inner_apalu"][1].min(), rel=1e-5
        )
    # Keras's own TensorBoard callback wrote its logs beside ours.
    assert list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
