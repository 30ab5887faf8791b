"""One training run: compile, `model.fit`, evaluate; a JSON-ready record."""

import math
import time

import keras
import numpy as np


def loss_for(data):
    """The loss of a dataset's task: cross-entropy on logits, or MSE."""
    if data["task"] == "classification":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if data["task"] == "regression":
        return keras.losses.MeanSquaredError()
    raise ValueError(f"Unknown task {data['task']!r}.")


def compile_model(model, data, learning_rate, optimizer="adam"):
    """Compiles `model` for the task of `data` with Adam (or `optimizer`) at `learning_rate`."""
    if optimizer == "adam":
        optimizer = keras.optimizers.Adam(learning_rate)
    elif isinstance(optimizer, str):
        optimizer = keras.optimizers.get(
            {"class_name": optimizer, "config": {"learning_rate": learning_rate}}
        )
    metrics = ["accuracy"] if data["task"] == "classification" else []
    model.compile(optimizer=optimizer, loss=loss_for(data), metrics=metrics)
    return model


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else math.nan


def evaluate(model, data, parts=("train", "val", "test"), batch_size=256):
    """`{"<part>_loss": ..., "<part>_accuracy": ...}` of a compiled model.

    For regression the loss is the MSE (`<part>_mse` too). Non-finite values
    (a diverged run) are NaN.
    """
    result = {}
    for part in parts:
        logs = model.evaluate(
            data[f"x_{part}"],
            data[f"y_{part}"],
            batch_size=batch_size,
            verbose=0,
            return_dict=True,
        )
        result[f"{part}_loss"] = _finite(logs["loss"])
        if "accuracy" in logs:
            result[f"{part}_accuracy"] = _finite(logs["accuracy"])
        if data["task"] == "regression":
            result[f"{part}_mse"] = result[f"{part}_loss"]
    return result


def train(
    model,
    data,
    epochs,
    batch_size,
    learning_rate,
    seed,
    callbacks=None,
    optimizer="adam",
    validation=True,
):
    """Trains a model on a dataset dict and returns a JSON-ready record.

    Seed before building the model (`keras.utils.set_random_seed(seed)`)
    for reproducible weights; `train` seeds again before `fit` (shuffling).
    An uncompiled model is compiled with `compile_model`.

    Args:
        model: a `keras.Model`.
        data: a dict of `applications.activation_study.data`.
        epochs, batch_size, learning_rate: of `fit` and the optimizer.
        seed: the seed of shuffling.
        callbacks: more Keras callbacks for `fit`.
        optimizer: `"adam"` (default) or another optimizer name.
        validation: pass the validation part to `fit` (per-epoch val metrics).

    Returns:
        dict: `history` (`{metric: [value per epoch]}`, NaN where diverged),
        `fit_seconds`, `epochs`, and `evaluate`'s losses/accuracies of the
        final weights on train, val and test.
    """
    if not model.compiled:
        compile_model(model, data, learning_rate, optimizer)
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    history = model.fit(
        data["x_train"],
        data["y_train"],
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(data["x_val"], data["y_val"]) if validation else None,
        callbacks=list(callbacks or []),
        verbose=0,
        shuffle=True,
    )
    seconds = time.perf_counter() - start
    record = {
        "history": {
            k: [_finite(v) for v in values]
            for k, values in history.history.items()
            if np.ndim(values) == 1
        },
        "fit_seconds": seconds,
        "epochs": int(epochs),
    }
    record.update(evaluate(model, data))
    return record
