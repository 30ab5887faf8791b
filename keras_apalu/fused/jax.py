"""The fused APALU kernel for JAX: a `jax.custom_vjp`, compiled by XLA.

Forward `ops.apalu_forward`, backward `ops.apalu_vjp` with x, a and b as the
only residuals, under `jax.jit` (inlined into a caller's own jit, such as
Keras' train step). Calls outside training take the plain path (the same
forward).

On CPU the backward's three results (the x-gradient and the two slope
sums) are each computed in a computation of its own: seen together, XLA:CPU
fuses them into one multi-output pass that is far slower than three
separate passes (gradient of sum(f(x) * w) at (32, 64, 64, 32) with
per-channel slopes, one thread, loaded machine: about 55 ms together
against 35 ms apart). In the benchmark's sum(f(x) ** 2) form on a quiet
machine the fused path costs what the plain one does (47.5 against 46.1
ms; benchmarks/results/op_jax_dec04.md): still 6x GELU. A
`lax.cond` whose two branches are the same function is such a computation:
XLA compiles a branch on its own and never fuses across it, and the value
is the same whichever branch runs. Other backends (GPU) get the plain
`ops.apalu_vjp`, which their compilers fuse well.
"""

import jax

from keras_apalu import ops as apalu_ops


def _apart(function, *operands):
    """`function(*operands)`, compiled as a computation of its own."""
    probe = operands[1][0, 0]  # a: (1, cols), never empty
    return jax.lax.cond(probe == probe, function, function, *operands)


def _vjp_apart(x, a, b, upstream):
    """`ops.apalu_vjp`, each of its three results computed apart (XLA drops
    the two a branch does not return)."""

    def part(index):
        return lambda *args: apalu_ops.apalu_vjp(*args)[index]

    return tuple(_apart(part(i), x, a, b, upstream) for i in range(3))


@jax.custom_vjp
def _apalu(x, a, b):
    return apalu_ops.apalu_forward(x, a, b)


def _forward(x, a, b):
    return apalu_ops.apalu_forward(x, a, b), (x, a, b)


def _backward(residuals, upstream):
    if jax.default_backend() == "cpu":
        return _vjp_apart(*residuals, upstream)
    return apalu_ops.apalu_vjp(*residuals, upstream)


_apalu.defvjp(_forward, _backward)
_fused = jax.jit(_apalu)


def kernel(x, training):
    """The jitted kernel (XLA compiles for the array's device); `None`
    outside training (`training=False`: predict, evaluate, `model.export`),
    where only the forward runs: the plain path is the same forward on the
    input's own shape, which exporters such as jax2onnx can read (they
    cannot map the `(rows, cols)` reshape of a symbolic batch size)."""
    return _fused if training else None


def cache_size():
    """Executables `jax.jit` holds for the kernel called eagerly."""
    return _fused._cache_size()
