"""The fused APALU kernel for JAX: XLA fuses it, by measurement.

Two candidates, both jitted (and inlined into a caller's own jit, such as
Keras' train step): autodiff of `ops._forward_right_slope` (XLA fuses the
forward and its derivative itself, and keeps what it plans to keep) and a
`jax.custom_vjp` with forward `ops._forward_select_free` and backward
`ops._apalu_vjp_rows` (only x, a and b as residuals, slope gradients as a
matrix-vector product). Measured side by side (benchmarks/README.md,
"Fused path") the custom VJP was slower in fwd+bwd on XLA:CPU (1.12x vs
0.97x GELU at (32, 64, 64, 32), 1.61x vs 1.25x at (65536, 64)), and
autodiff on the `(rows, cols)` layout slower than on the input's own shape
(1.18x vs 0.85x GELU at (32, 64, 64, 32)), so `KERNEL = "autodiff"` on the
input as it is is the default; the custom VJP stays for comparison.
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

#: "autodiff" (default, measured faster), "checkpoint" (the same under
#: `jax.checkpoint`: only x, a and b saved, the rest recomputed in the
#: backward pass) or "custom_vjp".
KERNEL = "autodiff"
_KERNELS = {
    "autodiff": jax.jit(apalu_ops._forward_right_slope),
    "checkpoint": jax.jit(jax.checkpoint(apalu_ops._forward_right_slope)),
    "custom_vjp": jax.jit(_apalu),
}
_fused = _KERNELS[KERNEL]


def uses_rows_layout():
    """The custom VJP works on the `(rows, cols)` layout; autodiff on the
    input's own shape (measured faster there: XLA:CPU fuses the multi-axis
    slope reductions of (N, H, W, C) better than after a reshape)."""
    return KERNEL == "custom_vjp"


def cache_size():
    """How many executables `jax.jit` holds for the kernel called eagerly."""
    return sum(k._cache_size() for k in _KERNELS.values())


def kernel(dtype, device):
    """The fused `(x2, a2, b2) -> y2`; raises `fused.Unavailable`."""
    if dtype not in _SUPPORTED:
        raise fused.Unavailable(f"dtype {dtype} is not supported")
    return _KERNELS[KERNEL]


plain_kernel = None
