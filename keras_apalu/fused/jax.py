"""The fused APALU kernel for JAX: a `jax.custom_vjp`, compiled by XLA.

Forward `ops._forward_select_free`, backward `ops._apalu_vjp_rows`, with
only x, a and b as residuals; `jax.jit` around it (inlined into a caller's
own jit, such as Keras' train step). On the `(rows, cols)` layout the slope
gradients are one matrix-vector product each, which XLA:CPU runs far
faster than the multi-axis reductions autodiff produces for per-channel
slopes on `(N, H, W, C)` inputs (benchmarks/README.md, "Fused path").
"""

import jax

from keras_apalu import fused
from keras_apalu import ops as apalu_ops

_SUPPORTED = ("float16", "bfloat16", "float32", "float64")

#: Smaller inputs take the unfused path (none here: the call is inlined
#: into the caller's graph).
MIN_ELEMENTS = 0


def device_of(x):
    return None  # XLA compiles for the array's device


def plain_here(x):
    return False


@jax.custom_vjp
def _apalu(x, a, b):
    return apalu_ops._forward_select_free(x, a, b)


def _apalu_forward(x, a, b):
    return apalu_ops._forward_select_free(x, a, b), (x, a, b)


def _apalu_backward(residuals, upstream):
    return apalu_ops._apalu_vjp_rows(*residuals, upstream)


_apalu.defvjp(_apalu_forward, _apalu_backward)
_fused = jax.jit(_apalu)


def cache_size():
    """How many executables `jax.jit` holds for the kernel called eagerly."""
    return _fused._cache_size()


def kernel(dtype, device):
    """The fused `(x2, a2, b2) -> y2`; raises `fused.Unavailable`."""
    if dtype not in _SUPPORTED:
        raise fused.Unavailable(f"dtype {dtype} is not supported")
    return _fused


plain_kernel = None
