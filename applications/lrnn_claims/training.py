"""Full-batch Adam training of a `SideBySide` model with `model.fit`.

Every model gets the same budget: `steps` full-batch Adam steps, the rate
cosine-decayed from `learning_rate` to 1 % of it. An optional callback sees
the model every `eval_every` steps (the spectral study's residual curves).
"""

import keras
import numpy as np

from applications.lrnn_claims.models import seedwise_mse


class _Every(keras.callbacks.Callback):
    def __init__(self, every, fn):
        super().__init__()
        self.every, self.fn = every, fn

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.fn(epoch + 1)


def train(model, x, y, steps, learning_rate, eval_every=None, on_eval=None):
    """Trains `model` on `x` `(N, S, n)`, `y` `(N, S)` for `steps` steps.

    Args:
        model: a `SideBySide` model.
        x, y: the training data of every seed (float32).
        steps: full-batch Adam steps.
        learning_rate: the peak rate (cosine decay to 1 % over `steps`).
        eval_every: optional; calls `on_eval(step)` every so many steps
            (and `on_eval(0)` before training).
        on_eval: the callable for `eval_every`.

    Returns:
        The final training loss per seed (`(S,)` float64).
    """
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=seedwise_mse)
    callbacks = []
    if eval_every:
        on_eval(0)
        callbacks.append(_Every(eval_every, on_eval))
    x = np.asarray(x, "float32")
    y = np.asarray(y, "float32")
    model.fit(
        x,
        y,
        batch_size=len(x),
        epochs=steps,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )
    return predict_mse(model, x, y)


def predict(model, x):
    """`model(x)` as float64 NumPy, in one batch."""
    return np.asarray(
        keras.ops.convert_to_numpy(model(keras.ops.convert_to_tensor(x))), np.float64
    )


def predict_mse(model, x, y):
    """Mean squared error per seed of `model` on `(x, y)`."""
    return np.mean((predict(model, np.asarray(x, "float32")) - y) ** 2, axis=0)
