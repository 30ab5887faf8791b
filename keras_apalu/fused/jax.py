"""The fused APALU kernel for JAX: a `jax.custom_vjp`, compiled by XLA.

Forward `ops.apalu_forward`, backward `ops.apalu_vjp` with x, a and b as the
only residuals, under `jax.jit` (inlined into a caller's own jit, such as
Keras' train step). Calls outside training take the plain path (the same
forward).

On CPU the backward is laid out for XLA:CPU's fusion of the `(rows, cols)`
layout (fused/__init__.py), from `ops.apalu_vjp_terms`:

- the x-gradient in a computation of its own: seen together with the two
  slope sums, XLA:CPU fuses all three into one multi-output pass that is far
  slower than separate passes;
- the a-gradient as a dot of a row of ones with the element-wise terms,
  `ones(1, rows) @ (upstream * df/da)`: XLA fuses the sigmoid of df/da into
  a column reduction (`sum(axis=0)`) whose loop runs about five times slower
  than the element-wise pass plus a reduction of the stored terms; a dot
  takes no producer into its fusion, so the terms are computed at
  element-wise speed, stored and summed by the matrix kernel;
- the b-gradient as a column sum: its `expm1` term fuses into the reduction
  at element-wise speed.

Half-precision terms are summed in float32 and rounded once, as
`ops.apalu_vjp` does. Measured with `benchmarks/jax_slope_sums.py` (one
thread, CPU time; benchmarks/results/jax_slope_sums.md). A `lax.cond`
whose two branches are the same function keeps a computation apart: XLA
compiles a branch on its own and never fuses across it, and the value is
the same whichever branch runs. Other backends (GPU) get the plain
`ops.apalu_vjp`, which their compilers fuse well.
"""

import jax
import jax.numpy as jnp

from keras_apalu import ops as apalu_ops

_HALF = (jnp.float16, jnp.bfloat16)


def _apart(function, *operands):
    """`function(*operands)`, compiled as a computation of its own."""
    probe = operands[1][0, 0]  # a: (1, cols), never empty
    return jax.lax.cond(probe == probe, function, function, *operands)


def _accumulated(terms):
    """`terms` in the dtype the sums accumulate in (float32 for halves)."""
    return terms.astype(jnp.float32) if terms.dtype in _HALF else terms


def _dot_sum(terms):
    """`sum(terms, axis=0, keepdims=True)` as `ones(1, rows) @ terms`."""
    terms = _accumulated(terms)
    ones = jnp.ones((1, terms.shape[0]), terms.dtype)
    return jnp.dot(ones, terms, precision=jax.lax.Precision.HIGHEST)


def _column_sum(terms):
    """`sum(terms, axis=0, keepdims=True)`, fused with its producer."""
    return jnp.sum(_accumulated(terms), axis=0, keepdims=True)


def _vjp_cpu(x, a, b, upstream):
    """`ops.apalu_vjp` on the `(rows, cols)` layout, laid out for XLA:CPU
    (module docstring); XLA drops the terms a computation does not use."""

    def dx(*args):
        return apalu_ops.apalu_vjp_terms(*args)[0]

    def da(*args):
        return _dot_sum(apalu_ops.apalu_vjp_terms(*args)[1]).astype(x.dtype)

    def db(*args):
        return _column_sum(apalu_ops.apalu_vjp_terms(*args)[2]).astype(x.dtype)

    return tuple(_apart(part, x, a, b, upstream) for part in (dx, da, db))


@jax.custom_vjp
def _apalu(x, a, b):
    return apalu_ops.apalu_forward(x, a, b)


def _forward(x, a, b):
    return apalu_ops.apalu_forward(x, a, b), (x, a, b)


def _backward(residuals, upstream):
    if jax.default_backend() == "cpu":
        return _vjp_cpu(*residuals, upstream)
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
