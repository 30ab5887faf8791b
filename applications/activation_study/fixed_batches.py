"""Training and prediction in batches of one shape.

Under JAX (and TensorFlow's XLA) every new batch shape is a new compilation,
which on these small models costs far more than training itself: a training
set whose size is not a multiple of the batch size adds a last, smaller
batch, and the limited-data study's training sets change size with every
fraction and seed. Here every training batch has `batch_size` rows and every
prediction batch `batch_size` rows too (the inputs padded, the padding's
outputs dropped), so one compiled step serves every run of a study (see
`compile_cache`).
"""

import keras
import numpy as np


class StepBatches(keras.utils.PyDataset):
    """`steps` full batches per epoch, drawn from reshuffled passes over the data.

    The samples form an endless stream of random permutations of the
    training set (a new permutation each pass, drawn with `seed`); each
    epoch takes the next `steps * batch_size` samples of the stream. Every
    sample is therefore seen equally often (to within one pass), no batch
    is short, and an epoch is a fixed number of optimiser steps whatever the
    size of the data: with `steps = ceil(n / batch_size)` it is one ordinary
    epoch.

    Args:
        x, y: the training arrays (same first dimension).
        batch_size: rows of every batch.
        steps: batches per epoch (`None`: `ceil(len(x) / batch_size)`).
        seed: seed of the permutations.
    """

    def __init__(self, x, y, batch_size, steps=None, seed=0, **kwargs):
        super().__init__(**kwargs)
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length: {len(x)} and {len(y)}.")
        if len(x) == 0:
            raise ValueError("StepBatches needs at least one sample.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.steps = int(steps) if steps is not None else -(-len(x) // self.batch_size)
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1; got {steps}.")
        self._rng = np.random.default_rng(seed)
        self._stream = np.empty(0, dtype=np.int64)
        self._next_epoch()

    def _next_epoch(self):
        needed = self.steps * self.batch_size
        while len(self._stream) < needed:
            self._stream = np.concatenate(
                [self._stream, self._rng.permutation(len(self.x))]
            )
        self._epoch, self._stream = self._stream[:needed], self._stream[needed:]

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        rows = self._epoch[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self._next_epoch()


def predict(model, x, batch_size=256):
    """`model`'s outputs for `x`, predicted in batches of exactly `batch_size` rows.

    The last batch is padded with zeros and its padding's outputs dropped,
    so any number of rows uses the one compiled prediction step.
    """
    n = len(x)
    padded_n = -(-n // batch_size) * batch_size
    if padded_n != n:
        pad = np.zeros((padded_n - n,) + tuple(x.shape[1:]), dtype=x.dtype)
        x = np.concatenate([x, pad])
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))[:n]


def accuracy(model, x, y, batch_size=256):
    """Share of rows whose highest output is the label (see `predict`)."""
    outputs = predict(model, x, batch_size)
    return float(np.mean(np.argmax(outputs, axis=-1) == np.asarray(y)))


def mse(model, x, y, batch_size=256):
    """Mean squared error of a one-output regression model (see `predict`)."""
    outputs = predict(model, x, batch_size).reshape(len(x))
    return float(np.mean((outputs.astype(np.float64) - np.asarray(y, np.float64)) ** 2))
