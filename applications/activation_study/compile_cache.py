"""Compiling once per model shape: JAX's persistent cache and a warm-up step.

`enable` points JAX's persistent compilation cache at a folder, so that
models of the same architecture and batch shapes (every seed, every
fraction of a study) reuse the compiled XLA code instead of compiling again
(about 5 s of CPU for a small CNN, against 0.2 s per epoch of training). It
does nothing on the other backends.

`warm_up` runs the compiled training and evaluation steps once and then
puts every weight and optimiser variable back, so that a timed `fit` that
follows measures training, not compilation.
"""

import os
import pathlib

import keras


def default_folder():
    """`$KERAS_HOME/activation_study_jax_cache` (`~/.keras/...` by default)."""
    home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    return pathlib.Path(home).expanduser() / "activation_study_jax_cache"


def enable(folder=None):
    """Turns on JAX's persistent compilation cache in `folder` (JAX backend only).

    Args:
        folder: the cache folder; default `default_folder()`.

    Returns:
        The folder, or `None` on another backend.
    """
    if keras.backend.backend() != "jax":
        return None
    import jax

    folder = pathlib.Path(folder) if folder is not None else default_folder()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def _state(model):
    variables = list(model.variables) + list(model.optimizer.variables)
    return variables, [keras.ops.convert_to_numpy(v) for v in variables]


def warm_up(model, train_batch, eval_batches=()):
    """Compiles `model`'s training and evaluation steps, leaving its state unchanged.

    Runs `train_on_batch` on `train_batch` and `test_on_batch` on each of
    `eval_batches` (one per distinct batch shape that `fit` will use), then
    restores every model and optimiser variable (weights, Adam moments,
    step counter) to its value before.

    Args:
        model: a compiled `keras.Model`.
        train_batch: `(x, y)` of the training batch shape.
        eval_batches: `(x, y)` pairs of the validation batch shapes.
    """
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables, saved = _state(model)
    model.train_on_batch(*train_batch)
    for x, y in eval_batches:
        model.test_on_batch(x, y)
    for variable, value in zip(variables, saved):
        variable.assign(value)
