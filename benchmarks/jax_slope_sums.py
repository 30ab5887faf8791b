"""JAX on CPU: ways of summing APALU's slope gradients, side by side.

    python -m benchmarks jax-slope-sums
    python -m benchmarks jax-slope-sums --shapes nhwc --rounds 7

The evidence for the backward of keras_apalu/fused/jax.py. Every candidate
is APALU's `jax.custom_vjp` on the fused `(rows, cols)` layout with the same
forward and the same element-wise terms (`ops.apalu_vjp_terms`); they
differ only in how the two slope sums (over every axis but the channels)
are computed and which parts XLA compiles apart (`lax.cond`, as the library
does): "one computation" (the whole `ops.apalu_vjp`, as XLA fuses it),
"apart, column sums" (the library's backward before the change),
"apart, dot with ones" (`ones(1, rows) @ terms` for both), "apart, einsum"
(`einsum('rc->c')`), "apart, partial sums" (blocks of 256 rows summed first,
then the blocks), "apart, transposed" (a row reduction of `terms.T`), and
the library's "APALU" (a dot for a, a column sum for b). "x-gradient only"
returns zero slope gradients: the floor. ReLU, GELU and PReLU are the
anchors. Same tensors, passes, timer and report as `python -m benchmarks
op` (gradient of sum(f(x)^2) for x and the slopes); JAX only, `jax.jit`.
"""

from benchmarks import _common
from benchmarks import op

TITLE = "JAX slope-gradient sums"
CANDIDATES = (
    "ReLU",
    "GELU",
    "PReLU",
    "APALU",
    "one computation",
    "apart, column sums",
    "apart, dot with ones",
    "apart, einsum",
    "apart, partial sums",
    "apart, transposed",
    "x-gradient only",
)


def add_arguments(parser):
    op.add_arguments(parser)


def settle(args):
    args.backends = ["jax"]
    op.settle(args)


def _sums():
    """`name -> (sum_a, sum_b)` (or a whole backward for the special ones)."""
    import jax
    import jax.numpy as jnp

    from keras_apalu.fused import jax as fused_jax

    def column(t):
        return fused_jax._column_sum(t)

    def dot(t):
        return fused_jax._dot_sum(t)

    def einsum(t):
        t = fused_jax._accumulated(t)
        return jnp.einsum("rc->c", t)[None]

    def partial(t, block=256):
        t = fused_jax._accumulated(t)
        rows = t.shape[0]
        head = rows - rows % block
        blocks = t[:head].reshape(head // block, block, -1).sum(1).sum(0)
        return (blocks + t[head:].sum(0))[None]

    def transposed(t):
        return fused_jax._accumulated(t).T.sum(1)[None]

    del jax
    return {
        "apart, column sums": (column, column),
        "apart, dot with ones": (dot, dot),
        "apart, einsum": (einsum, einsum),
        "apart, partial sums": (partial, partial),
        "apart, transposed": (transposed, transposed),
    }


def _candidate(name):
    """APALU with the backward `name`, as `fn(x, a, b)` on any shape."""
    import jax
    import jax.numpy as jnp

    from keras_apalu import ops as apalu_ops
    from keras_apalu.fused import jax as fused_jax

    sums = _sums().get(name)

    def backward(residuals, upstream):
        x, a, b = residuals
        if name == "one computation":
            return apalu_ops.apalu_vjp(x, a, b, upstream)
        if name == "x-gradient only":
            dx = fused_jax._apart(
                lambda *v: apalu_ops.apalu_vjp_terms(*v)[0], x, a, b, upstream
            )
            return dx, jnp.zeros_like(a), jnp.zeros_like(b)

        def part(i):
            def f(*v):
                terms = apalu_ops.apalu_vjp_terms(*v)[i]
                return terms if i == 0 else sums[i - 1](terms).astype(x.dtype)

            return f

        return tuple(fused_jax._apart(part(i), x, a, b, upstream) for i in range(3))

    @jax.custom_vjp
    def kernel(x, a, b):
        return apalu_ops.apalu_forward(x, a, b)

    kernel.defvjp(lambda x, a, b: (kernel(x, a, b), (x, a, b)), backward)

    def fn(x, a, b):
        cols = x.shape[-1]
        y = kernel(x.reshape(-1, cols), a.reshape(1, cols), b.reshape(1, cols))
        return y.reshape(x.shape)

    return fn


def child(args):
    from benchmarks.activations import FUNCTIONS

    table = {}
    for name in args.activations or CANDIDATES:
        table[name] = FUNCTIONS[name] if name in FUNCTIONS else (_candidate(name), 2)
    _common.emit_rows(op.time_candidates(table, args))


def main(args):
    rows, failures = _common.run_children(args)
    sections = op.tables(rows, args.shapes, anchors=("GELU", "PReLU"))
    sections.append([__doc__.split("\n\n", 2)[2].strip()])
    _common.write_report(args, TITLE, sections, rows, failures)
    return _common.exit_status(rows, failures)
