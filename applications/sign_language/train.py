"""Training one model into a run directory, resumable.

A run directory holds everything about one training:

    config.json          the settings of the run
    split.json           which files (and signers) are in train / val / test
    history.csv          per-epoch loss, accuracy, val_*, learning rate, epoch_time
    apalu_params.json    every APALU layer's a and b, initially and after each epoch
                         (keras_apalu.callbacks.APALURecorder)
    best.weights.h5      the weights of the epoch with the lowest val_loss
    backup/              BackupAndRestore state while a run is unfinished
    model.keras          the final model (the best epoch's weights)
    metrics.json         test accuracy on unseen signers, per-class accuracy, times
    learning_curves.png, confusion_matrix.png, apalu_curves.png,
    apalu_evolution.png

Running `train` again on an unfinished run directory resumes it at the epoch
after the last one completed, with the same split, optimizer state and
learning-rate schedule.
"""

import dataclasses
import json
import os
import pathlib
import shutil
import time

import keras
import numpy as np

from applications.common.errors import RunFailedError
from applications.common.errors import UsageError
from applications.sign_language import callbacks as run_callbacks
from applications.sign_language import data as data_lib
from applications.sign_language import distribute as distribute_lib
from applications.sign_language import split as split_lib
from applications.sign_language import workers as workers_lib
from applications.sign_language.config import TrainConfig  # noqa: F401 (re-exported)
from applications.sign_language.model import build_model
from keras_apalu.callbacks import APALURecorder

# Settings that must not change when a run is resumed.
_RESUME_KEYS = (
    "image_size",
    "color_mode",
    "activation",
    "width",
    "blocks",
    "convs_per_block",
    "split",
    "split_seed",
    "val_fraction",
    "test_fraction",
    "max_per_class",
    "batch_size",
    "epochs",
    "learning_rate",
    "seed",
)


def load_data(config):
    """Resolves, loads (cached) and optionally subsets the dataset."""
    root = data_lib.resolve_data_dir(config.data_dir, url=config.download_url)
    files = data_lib.verified_files(root) if config.verify_data else None
    data = data_lib.load_dataset(
        root,
        config.image_size,
        config.color_mode,
        cache_dir=config.cache_dir,
        files=files,
    )
    if config.max_per_class:
        keep = np.concatenate(
            [
                np.flatnonzero(data["labels"] == label)[: config.max_per_class]
                for label in range(len(data_lib.CLASS_NAMES))
            ]
        )
        data = {name: values[np.sort(keep)] for name, values in data.items()}
    data["root"] = str(root)
    return data


def _split_for_run(run_dir, data, config, write=True, read=True):
    path = run_dir / "split.json"
    if read and path.exists():
        record = split_lib.load_split(path)
    else:
        record = split_lib.make_split(
            data["files"],
            data["labels"],
            config.split,
            config.val_fraction,
            config.test_fraction,
            config.split_seed,
        )
        if write:
            split_lib.save_split(record, path)
    return record, split_lib.indices_of(record, data["files"])


def _check_resume(run_dir, config):
    path = run_dir / "config.json"
    if not path.exists():
        return
    previous = json.loads(path.read_text())
    changed = [
        f"{k}: {previous.get(k)!r} -> {getattr(config, k)!r}"
        for k in _RESUME_KEYS
        if previous.get(k) != getattr(config, k)
    ]
    if changed:
        raise UsageError(
            f"{run_dir} holds an unfinished run with other settings "
            f"({'; '.join(changed)})",
            hint="rerun with the same settings to resume it, use another "
            "--run-dir, or delete this one to start over",
        )


def compile_model(model, config, steps_per_epoch):
    """Compiles with AdamW and a cosine learning-rate schedule over all epochs."""
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate,
        decay_steps=max(1, config.epochs * steps_per_epoch),
        alpha=0.01,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=config.weight_decay
    )
    # APALU's a and b, and BatchNorm's gamma and beta, are scales and
    # offsets: decaying them towards 0 would fight the activation's shape.
    optimizer.exclude_from_weight_decay(var_names=["^a$", "^b$", "gamma", "beta"])
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def per_class_report(labels, predictions, num_classes):
    """Confusion matrix and per-class accuracy (recall) from integer labels."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    totals = matrix.sum(axis=1)
    per_class = np.divide(
        np.diag(matrix), totals, out=np.full(num_classes, np.nan), where=totals > 0
    )
    return matrix, per_class


def evaluate_arrays(model, images, labels, batch_size=64):
    """Accuracy, per-class accuracy and confusion matrix of a Keras model."""
    probabilities = model.predict(images, batch_size=batch_size, verbose=0)
    return accuracy_report(labels, np.argmax(probabilities, axis=-1))


def accuracy_report(labels, predictions):
    """Accuracy, per-class accuracy and confusion matrix of predicted labels."""
    matrix, per_class = per_class_report(labels, predictions, len(data_lib.CLASS_NAMES))
    return {
        "accuracy": float(np.mean(predictions == labels)),
        "images": int(len(labels)),
        "per_class_accuracy": {
            name: (None if np.isnan(v) else float(v))
            for name, v in zip(data_lib.CLASS_NAMES, per_class)
        },
        "confusion_matrix": matrix.tolist(),
    }


def _trim_for_devices(indices, batch_size, devices, seed):
    # Under JAX's DataParallel every batch, the last partial one included,
    # must split evenly across devices: drop at most devices - 1 random
    # images (tf.distribute handles uneven batches itself).
    extra = (len(indices) % batch_size) % devices
    if not extra or keras.backend.backend() != "jax":
        return indices
    drop = np.random.default_rng(seed).choice(len(indices), extra, replace=False)
    return np.delete(indices, drop)


class _ReadOnlyBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that restores but never writes (workers other than 0)."""

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


def train(config, extra_callbacks=()):
    """Trains (or resumes) one run and writes its files; see the module docstring.

    Under several workers (`workers.from_environment`: RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT, as torchrun sets them) every worker calls
    this; the training is data-parallel (`workers` module) and only worker
    0 writes files and evaluates on the test split.

    Args:
        config: a `TrainConfig`.
        extra_callbacks: more Keras callbacks for `fit` (run last).

    Returns:
        The metrics dict also written to `metrics.json` (on workers other
        than 0: `{"rank": r, "workers": n}`).

    Raises:
        RunFailedError: another worker was lost (killed, or silent longer
            than `config.worker_timeout` seconds).
    """
    config.validate()
    group = workers_lib.from_environment()
    engine = None
    if group.launched:
        if config.distribute:
            raise workers_lib.WorkerError(
                "--distribute (the devices of one process) cannot be combined "
                "with several workers",
                hint="drop --distribute; each worker uses its own device",
            )
        workers_lib.per_worker_batch(config.batch_size, group.size)
        engine = workers_lib.engine(keras.backend.backend())
    chief = group.is_chief
    if config.distribute:
        scope, devices = distribute_lib.data_parallel_scope(config.batch_size)
    else:
        scope, devices = distribute_lib.no_scope(), 1
    run_dir = pathlib.Path(config.run_dir)
    backup_dir = run_dir / "backup"
    resuming = backup_dir.exists()
    if resuming:
        _check_resume(run_dir, config)
    # Bad data must fail before anything in the run directory is touched.
    data = load_data(config)
    if engine is not None:
        engine.join(group, config.worker_timeout)
    if chief:
        run_dir.mkdir(parents=True, exist_ok=True)
    if chief and not resuming:
        # A fresh start (or a finished run trained again): no stale records.
        for name in (
            "history.csv",
            "apalu_params.json",
            "best.weights.h5",
            "split.json",
        ):
            (run_dir / name).unlink(missing_ok=True)
    if chief:
        (run_dir / "config.json").write_text(
            json.dumps(dataclasses.asdict(config), indent=1)
        )

    keras.utils.set_random_seed(config.seed)
    # Workers other than 0 make the (deterministic) split themselves on a
    # fresh start, rather than read a file worker 0 may be writing.
    record, parts = _split_for_run(
        run_dir, data, config, write=chief, read=resuming or chief
    )
    images, labels = data["images"], data["labels"]

    train_idx = _trim_for_devices(
        parts["train"], config.batch_size, devices, config.seed
    )
    val_idx = _trim_for_devices(parts["val"], config.batch_size, devices, config.seed)
    if engine is not None:
        train_data = workers_lib.epoch_shards(
            images[train_idx], labels[train_idx], config.batch_size, group, config.seed
        )
        steps_per_epoch = train_data.num_batches
        images_per_epoch = train_data.used
        fit_inputs = dict(x=train_data)
    else:
        steps_per_epoch = -(-len(train_idx) // config.batch_size)
        images_per_epoch = len(train_idx)
        fit_inputs = dict(
            x=images[train_idx].astype("float32"),
            y=labels[train_idx],
            batch_size=config.batch_size,
        )
    history_path = run_dir / "history.csv"

    with scope:
        model = build_model(
            input_shape=images.shape[1:],
            num_classes=len(data_lib.CLASS_NAMES),
            activation=config.activation,
            width=config.width,
            blocks=config.blocks,
            convs_per_block=config.convs_per_block,
            dropout=config.dropout,
            augment=config.augment,
            sync_batch_norm=config.distribute
            and keras.backend.backend() == "tensorflow",
            seed=config.seed,
        )
        compile_model(model, config, steps_per_epoch)
        backup = keras.callbacks.BackupAndRestore if chief else _ReadOnlyBackup
        callbacks = [
            run_callbacks.EpochTimer(),
            backup(str(backup_dir), double_checkpoint=True, delete_checkpoint=False),
        ]
        if engine is not None:
            engine.average_gradients(model, group)
            callbacks += [
                engine.SyncFromChief(),
                workers_lib.epoch_setter(train_data),
            ]
            if chief:
                print(
                    f"data-parallel training on {group.size} workers "
                    f"({engine.NAME}): global batch {config.batch_size} = "
                    f"{group.size} x {config.batch_size // group.size}, "
                    f"{steps_per_epoch} steps per epoch, "
                    f"{engine.gradient_bytes(model):,} gradient bytes per "
                    "worker per step",
                    flush=True,
                )
        if chief:
            callbacks += [
                APALURecorder(run_dir / "apalu_params.json"),
                run_callbacks.resumable_checkpoint(
                    run_dir / "best.weights.h5", history_path
                ),
            ]
        if config.patience:
            callbacks.append(
                run_callbacks.ResumableEarlyStopping(
                    history_path,
                    monitor="val_loss",
                    mode="min",
                    patience=config.patience,
                )
            )
        if chief:
            callbacks.append(keras.callbacks.CSVLogger(str(history_path), append=True))
        callbacks.extend(extra_callbacks)

        start = time.perf_counter()
        try:
            model.fit(
                **fit_inputs,
                validation_data=(images[val_idx].astype("float32"), labels[val_idx]),
                epochs=config.epochs,
                callbacks=callbacks,
                verbose=config.verbose if chief else 0,
            )
        except Exception as error:
            if engine is None or not engine.is_lost_worker(error):
                raise
            raise RunFailedError(
                f"worker {group.rank} of {group.size} lost contact with the other "
                f"workers ({_first_line(error)}); the job stopped",
                hint="rerun the same command to resume from the last complete epoch",
            ) from error
        train_seconds = time.perf_counter() - start
        if engine is not None:
            engine.leave()
        if not chief:
            return {"rank": group.rank, "workers": group.size}
        model.load_weights(str(run_dir / "best.weights.h5"))
        test_images = images[parts["test"]].astype("float32")
        test = evaluate_arrays(model, test_images, labels[parts["test"]])
        val = evaluate_arrays(
            model, images[parts["val"]].astype("float32"), labels[parts["val"]]
        )
    model.save(str(run_dir / "model.keras"))

    history = run_callbacks.read_history(history_path)
    if not history:
        raise RuntimeError(
            f"{history_path} is missing or empty after training: was the run "
            "directory changed by another process during training?"
        )
    best = min(history, key=lambda row: row["val_loss"])
    epoch_times = [row["epoch_time"] for row in history if "epoch_time" in row]
    metrics = {
        "backend": keras.backend.backend(),
        "devices": devices,
        "workers": group.size,
        "activation": config.activation,
        "split": record["method"],
        "split_seed": record["seed"],
        "seed": config.seed,
        "params": int(model.count_params()),
        "images": {name: int(len(parts[name])) for name in split_lib.SPLITS},
        "signers": {name: len(record[name]["signers"]) for name in split_lib.SPLITS},
        "test_accuracy": test["accuracy"],
        "test_per_class_accuracy": test["per_class_accuracy"],
        "test_confusion_matrix": test["confusion_matrix"],
        "val_accuracy": val["accuracy"],
        "epochs_run": len(history),
        "best_epoch": int(best["epoch"]) + 1,
        "seconds_per_epoch": float(np.median(epoch_times)) if epoch_times else None,
        "train_seconds_this_session": train_seconds,
        # Training images per second of an epoch (its validation included).
        "images_per_second": (
            images_per_epoch / float(np.median(epoch_times)) if epoch_times else None
        ),
        "resumed": resuming,
    }
    partial = run_dir / "metrics.json.partial"
    partial.write_text(json.dumps(metrics, indent=1))
    os.replace(partial, run_dir / "metrics.json")

    if config.plots:
        from applications.sign_language import plots

        plots.learning_curves(history, run_dir / "learning_curves.png")
        plots.confusion_matrix(
            np.asarray(test["confusion_matrix"]),
            data_lib.CLASS_NAMES,
            run_dir / "confusion_matrix.png",
            title=f"test ({record['method']} split): accuracy {test['accuracy']:.1%}",
        )
        apalu_path = run_dir / "apalu_params.json"
        if apalu_path.exists():
            record_apalu = json.loads(apalu_path.read_text())
            if record_apalu["layers"]:
                from keras_apalu import plotting

                plotting.plot_apalu_curves(record_apalu, run_dir / "apalu_curves.png")
                plotting.plot_apalu_evolution(
                    record_apalu, run_dir / "apalu_evolution.png"
                )
    shutil.rmtree(backup_dir, ignore_errors=True)
    return metrics


def _first_line(error):
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]
