"""Data-parallel training on all local devices, through each backend's own API.

- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`
  (each batch is sharded along its first axis, the weights are replicated).
- TensorFlow: `tf.distribute.MirroredStrategy` over the GPUs, or over the
  logical CPU devices when there is no GPU and more than one CPU device
  has been configured.
- PyTorch: Keras' distribution API has no torch implementation; asking for it
  is an error that says so (run under JAX or TensorFlow, or one process per
  device with torch's own DistributedDataParallel, outside this app).

To try it on one CPU: JAX with `XLA_FLAGS=--xla_force_host_platform_device_count=2`;
TensorFlow with `configure_virtual_cpus(2)` before anything else uses TF.
"""

import contextlib

import keras

from applications.common.errors import UsageError


class DistributionError(UsageError, RuntimeError):
    """Data-parallel training is not available here (exit status 2)."""


def configure_virtual_cpus(count):
    """Splits the host CPU into `count` logical devices (TensorFlow only).

    Must run before TensorFlow initialises its devices. Under JAX, set
    `XLA_FLAGS=--xla_force_host_platform_device_count=N` instead, before
    importing JAX.
    """
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )


def device_count():
    """Number of devices data-parallel training would use on this backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        return len(keras.distribution.list_devices())
    if backend == "tensorflow":
        return len(_tf_devices())
    return 1


def _tf_devices():
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]


def data_parallel_scope(batch_size):
    """A context in which models are built, compiled and trained data-parallel.

    Args:
        batch_size: the global batch size; must divide evenly across devices.

    Returns:
        `(context manager, number of devices)`.

    Raises:
        DistributionError: on the torch backend, or if `batch_size` does
            not divide across the devices.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        raise DistributionError(
            "--distribute is not available on the torch backend: Keras' "
            "distribution API (keras.distribution) is implemented for JAX "
            "only, and tf.distribute for TensorFlow. Run with "
            "KERAS_BACKEND=jax or KERAS_BACKEND=tensorflow, or train without "
            "--distribute."
        )
    count = device_count()
    if batch_size % count:
        raise DistributionError(
            f"--batch-size {batch_size} does not divide across {count} "
            "devices; use a multiple of the device count."
        )
    if backend == "jax":
        distribution = keras.distribution.DataParallel(
            devices=keras.distribution.list_devices()
        )
        return distribution.scope(), count
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices=_tf_devices())
        return strategy.scope(), count
    raise DistributionError(f"--distribute: unsupported backend {backend!r}.")


def no_scope():
    """The single-device context (a no-op)."""
    return contextlib.nullcontext()
