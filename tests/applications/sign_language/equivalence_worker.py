"""One worker of the equivalence test (`test_workers.py`), run as a process.

    RANK=.. WORLD_SIZE=.. MASTER_ADDR=.. MASTER_PORT=.. KERAS_BACKEND=torch \
        python -m tests.applications.sign_language.equivalence_worker OUT BATCH

Trains the application's network, shrunk (8x8 grey images, one block of two
filters with APALU, no BatchNorm, dropout or augmentation), on 32 seeded
random images for two epochs with global batch BATCH, through the
application's multi-worker path (`workers.epoch_shards`, the engine's
gradient averaging and broadcast). Worker 0 writes every weight to OUT
(.npz).
"""

import sys
import types

import keras
import numpy as np

from applications.sign_language import workers
from applications.sign_language.model import build_model
from applications.sign_language.train import compile_model

IMAGES = 32
EPOCHS = 2


def train_tiny(batch_size, group, engine=None):
    """Trains the tiny network as worker `group.rank`; returns its weights.

    Args:
        batch_size: the global batch.
        group: a `workers.WorkerGroup`.
        engine: the backend's multi-worker module (None: one process,
            without the engine).

    Returns:
        `{weight path: numpy array}`.
    """
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(IMAGES, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 10, size=IMAGES)
    keras.utils.set_random_seed(0)
    model = build_model(
        input_shape=(8, 8, 1),
        width=2,
        blocks=1,
        dropout=0.0,
        augment=0.0,
        batch_norm=False,
        seed=0,
    )
    data = workers.epoch_shards(images, labels, batch_size, group, seed=0)
    settings = types.SimpleNamespace(
        learning_rate=0.05, weight_decay=1e-4, epochs=EPOCHS
    )
    compile_model(model, settings, data.num_batches)
    callbacks = [workers.epoch_setter(data)]
    if engine is not None:
        engine.average_gradients(model, group)
        callbacks.insert(0, engine.SyncFromChief())
    model.fit(data, epochs=EPOCHS, callbacks=callbacks, verbose=0)
    return {v.path: keras.ops.convert_to_numpy(v.value) for v in model.weights}


def main(out, batch_size):
    group = workers.from_environment()
    engine = workers.engine(keras.backend.backend())
    engine.join(group, timeout=60)
    weights = train_tiny(batch_size, group, engine)
    if group.is_chief:
        np.savez(out, **weights)
    engine.leave()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
