"""The fused APALU kernel for JAX: a `jax.custom_vjp`, compiled by XLA.

Forward `ops.apalu_forward`, backward `ops.apalu_vjp` with x, a and b as the
only residuals, under `jax.jit` (inlined into a caller's own jit, such as
Keras' train step, where XLA fuses each with its neighbours).
"""

import jax

from keras_apalu import ops as apalu_ops


@jax.custom_vjp
def _apalu(x, a, b):
    return apalu_ops.apalu_forward(x, a, b)


def _forward(x, a, b):
    return apalu_ops.apalu_forward(x, a, b), (x, a, b)


def _backward(residuals, upstream):
    return apalu_ops.apalu_vjp(*residuals, upstream)


_apalu.defvjp(_forward, _backward)
_fused = jax.jit(_apalu)


def kernel(x, training):
    """The jitted kernel (XLA compiles for the array's device)."""
    return _fused


def cache_size():
    """Executables `jax.jit` holds for the kernel called eagerly."""
    return _fused._cache_size()
