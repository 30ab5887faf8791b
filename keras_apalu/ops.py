"""The APALU function, written once in `keras.ops` and shared by every user.

    f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
    f(x) = b * (exp(x) - 1)                 for x <  0

It is evaluated in the select-free form

    p = relu(x),  n = x - p  (= min(x, 0))
    f(x) = a * p * (1 + sigmoid(1.702 x)) + b * expm1(n)

so that `exp` only ever sees `n <= 0` (no overflow, no NaN gradient through an
unused branch) and the graph converts to TFLite builtins that quantise well
(no MINIMUM or SELECT, whose int8 kernels force one shared scale).

How the gradient is taken depends on the backend, by measurement
(benchmarks/README.md, benchmarks/formulation_benchmark.py): torch and
tensorflow recompute the analytic derivatives in a custom gradient (each op is
a separate pass there, and keeping only x lowers the step's peak memory: torch
CNN step 1.00x ReLU against 1.85x for autodiff); jax, whose steps XLA compiles
and plans as a whole, differentiates the formula itself, which XLA fuses
better (compiled forward+backward about 30 % faster, same peak memory).

Since the fused path (keras_apalu/fused/) the default on every backend is
`implementation="fused"`: the same two functions, `_forward_select_free` and
`_apalu_vjp_rows`, compiled by the backend's compiler into one pass each
(XLA for tensorflow, Inductor for torch, XLA's fusion of the autodiff form under `jax.jit` for jax), with
only x, a and b kept for the backward pass. The other implementations stay
as the fallback and for comparison.
"""

import os

import keras
from keras import ops

from keras_apalu._exporting import is_exporting

#: The slope constant of the sigmoid approximation of GELU used by APALU.
SIGMOID_SCALE = 1.702

# Beyond |1.702 x| = 30 the term t * s * (1 - s) of the derivative is below
# 3e-12; clipping t there keeps it finite in float16 (where 1.702 x can
# overflow to inf and inf * 0 would give NaN) without changing any result.
_DERIVATIVE_CLIP = 30.0


def _check_floating(x, name):
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "complex" in dtype:
        raise TypeError(
            f"APALU is defined for real floating-point {name} only; "
            f"got a complex tensor of dtype {dtype}."
        )
    if not keras.backend.is_float_dtype(dtype):
        raise TypeError(
            f"APALU needs a floating-point {name} (float16, bfloat16, "
            f"float32 or float64); got dtype {dtype}. Cast it first, e.g. "
            "`keras.ops.cast(x, 'float32')`."
        )


def _prepare(x, a, b):
    x = ops.convert_to_tensor(x)
    _check_floating(x, "input")
    a = ops.cast(ops.convert_to_tensor(a), x.dtype)
    b = ops.cast(ops.convert_to_tensor(b), x.dtype)
    return x, a, b


def _select_free(x, a, b, p, n):
    positive = ops.multiply(p, ops.add(1.0, ops.sigmoid(SIGMOID_SCALE * x)))
    return ops.add(ops.multiply(a, positive), ops.multiply(b, ops.expm1(n)))


def _forward_select_free(x, a, b):
    """`a * p * (1 + sigmoid(1.702 x)) + b * expm1(x - p)`, `p = relu(x)`.

    RELU, SUB, MUL, ADD, LOGISTIC and EXP only: the graph the TFLite export
    quantises. Autodiff through it takes the left slope `b` at x = 0.
    """
    p = ops.relu(x)
    return _select_free(x, a, b, p, ops.subtract(x, p))


def _forward_right_slope(x, a, b):
    """The same values, written so that autodiff takes the right slope at 0.

    `n = -relu(-x)` and `p = x - n` equal `min(x, 0)` and `relu(x)`, but the
    derivative of `p` is 1 at x = 0 (that of relu is 0 there), so autodiff
    gives the analytic convention of the custom gradient: df/dx = 1.5 a.
    """
    n = ops.negative(ops.relu(ops.negative(x)))
    return _select_free(x, a, b, ops.subtract(x, n), n)


def _sum_to_shape(g, shape):
    """Sums a broadcast gradient `g` back to a parameter of static `shape`.

    One reduction over every broadcast axis at once (the leading axes `shape`
    lacks and the axes where it is 1): two reductions in a row would write a
    full intermediate, e.g. (H, W, C) per step for per-channel slopes.
    """
    shape = tuple(shape)
    extra = len(g.shape) - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, d in enumerate(shape) if d == 1
    )
    if axes:
        g = ops.sum(g, axis=axes)
    return ops.reshape(g, shape)


def apalu_derivatives(x, a, b):
    """Analytic partial derivatives of APALU, recomputed from the inputs only.

    Returns `(df/dx, df/da, df/db)`, each broadcast to the shape of `x`:

        df/dx = a * (1 + s + t * s * (1 - s))   for x >= 0, t = 1.702 x,
                                                 s = sigmoid(t)
              = b * exp(x)                      for x <  0
        df/da = x * (1 + s)                     for x >= 0, else 0
        df/db = exp(x) - 1                      for x <  0, else 0

    Args:
        x: floating-point tensor.
        a: positive-side scale, broadcastable to `x`.
        b: negative-side scale, broadcastable to `x`.
    """
    x, a, b = _prepare(x, a, b)
    p, n, one_plus_s, dfdx = _shared_terms(x, a, b)
    return dfdx, ops.multiply(p, one_plus_s), ops.expm1(n)


def _shared_terms(x, a, b):
    """`p`, `n`, `1 + s` and df/dx, shared by the derivatives and the VJP.

    Every op is one full pass over the tensor (and, eagerly, one dispatch and
    one allocation), so terms are shared: `t` is taken from `p` (it equals
    the clipped 1.702 x wherever it is used, x >= 0) and `1 + s` serves both
    df/dx and df/da.
    """
    p = ops.relu(x)
    n = ops.subtract(x, p)
    # clip, not minimum: keras' torch minimum turns float64 into float32.
    t = ops.clip(SIGMOID_SCALE * p, 0.0, _DERIVATIVE_CLIP)
    s = ops.sigmoid(t)
    one_plus_s = 1.0 + s
    right = ops.multiply(a, one_plus_s + t * s * (1.0 - s))
    left = ops.multiply(b, ops.exp(n))
    dfdx = ops.where(ops.greater_equal(x, 0), right, left)
    return p, n, one_plus_s, dfdx


def _apalu_vjp(x, a, b, upstream):
    """`upstream` times the derivatives, summed back to the shapes of a, b."""
    p, n, one_plus_s, dfdx = _shared_terms(x, a, b)
    dx = ops.multiply(upstream, dfdx)
    da = ops.multiply(ops.multiply(upstream, p), one_plus_s)
    db = ops.multiply(upstream, ops.expm1(n))
    return dx, _sum_to_shape(da, a.shape), _sum_to_shape(db, b.shape)


# How `_column_sums` reduces: "matmul" (default) or "sum"; read when a
# kernel is traced (benchmarks/formulation_benchmark.py compares the two).
_ROW_REDUCTION = os.environ.get("KERAS_APALU_ROW_REDUCTION", "matmul")


def _column_sums(g, reduction=None):
    """Sums a `(rows, cols)` tensor over its rows, to shape `(1, cols)`.

    Half-precision gradients are accumulated in float32: summing a whole
    batch of float16 terms in float16 loses the small ones (and can
    overflow). `reduction` is how: "matmul" (a matrix-vector product with a
    ones vector: XLA's fastest row reduction on CPU) or "sum" (`ops.sum`,
    which Inductor fuses with the element-wise terms feeding it, where a
    matmul is an external GEMV call after they are written out); `None`
    reads `KERAS_APALU_ROW_REDUCTION` (default "matmul").
    """
    reduction = reduction or _ROW_REDUCTION
    if reduction not in ("matmul", "sum"):
        raise ValueError(
            f"row reduction must be 'matmul' or 'sum'; got {reduction!r}."
        )
    dtype = keras.backend.standardize_dtype(g.dtype)
    if dtype in ("float16", "bfloat16"):
        g = ops.cast(g, "float32")
    if dtype == "float64" or reduction == "sum":
        # keras' torch matmul computes float64 in float32.
        return ops.cast(ops.sum(g, axis=0, keepdims=True), dtype)
    ones = ops.ones((1, ops.shape(g)[0]), dtype=g.dtype)
    return ops.cast(ops.matmul(ones, g), dtype)


def _apalu_vjp_rows(x, a, b, upstream, reduction=None):
    """The VJP on the fused path's `(rows, cols)` layout.

    `x` and `upstream` are `(rows, cols)`, `a` and `b` are `(1, cols)`: the
    slope gradients are one row reduction each (see `_column_sums`).
    """
    p, n, one_plus_s, dfdx = _shared_terms(x, a, b)
    dx = ops.multiply(upstream, dfdx)
    da = _column_sums(
        ops.multiply(ops.multiply(upstream, p), one_plus_s), reduction
    )
    db = _column_sums(ops.multiply(upstream, ops.expm1(n)), reduction)
    return dx, da, db


def _lean(forward, vjp):
    """`forward(x, a, b)` with the custom gradient `vjp(x, a, b, upstream)`.

    Only x, a and b are captured by `grad`: everything else is recomputed in
    the backward pass, so training keeps one tensor per APALU call.
    """

    @ops.custom_gradient
    def lean(x, a, b):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return vjp(x, a, b, upstream)

        return forward(x, a, b), grad

    return lean


_apalu_lean = _lean(_forward_select_free, _apalu_vjp)


# ---------------------------------------------------------------------------
# The one-transcendental form (select_free=False).
# ---------------------------------------------------------------------------

# u = -1.702 x is clipped at -40: expm1(-40) is -1 in float64, and the term
# t * s * (1 - s) = t e^-t / (1 + e^-t)^2 of df/dx is below 2e-16 there; the
# clip keeps t * (1 - s) finite where 1.702 x overflows (float16).
_EXPONENT_CLIP = 40.0


def _one_exp_terms(x):
    """`negative = x < 0`, `u`, `E = expm1(u)` and `s = 1 / (2 + E)`.

    u = x for x < 0 and -1.702 x for x >= 0 (so u <= 0), clipped to
    [-40, 0]; E in (-1, 0] is expm1(x) on the left and gives
    s = sigmoid(1.702 x) on the right without cancellation. (`where`, not
    `minimum`: keras' torch `minimum` turns float64 into float32.)
    """
    negative = ops.less(x, 0)
    u = ops.clip(
        ops.where(negative, x, -SIGMOID_SCALE * x), -_EXPONENT_CLIP, 0.0
    )
    e = ops.expm1(u)
    s = ops.reciprocal(2.0 + e)
    return negative, u, e, s


def _forward_one_exp(x, a, b):
    """`where(x < 0, b * E, a * x * (1 + s))`: one expm1 per element."""
    negative, _, e, s = _one_exp_terms(x)
    return ops.where(negative, b * e, a * (x + x * s))


def _one_exp_vjp(x, a, b, upstream):
    """The VJP from the same E and s: t = -u, 1 - s = (1 + E) s, and
    exp(x) = 1 + E on x < 0.

        df/dx = a * (1 + s - u * (1 + E) * s * s)   for x >= 0
              = b * (1 + E)                          for x <  0
    """
    negative, u, e, s = _one_exp_terms(x)
    one_plus_e = 1.0 + e
    one_plus_s = 1.0 + s
    right = a * (one_plus_s - u * (one_plus_e * s) * s)
    dx = upstream * ops.where(negative, b * one_plus_e, right)
    da = upstream * ops.relu(x) * one_plus_s
    db = ops.where(negative, upstream * e, 0.0)
    return dx, _sum_to_shape(da, a.shape), _sum_to_shape(db, b.shape)


_apalu_lean_one_exp = _lean(_forward_one_exp, _one_exp_vjp)


def _one_exp_vjp_rows(x, a, b, upstream, reduction=None):
    """`_one_exp_vjp` on the fused path's `(rows, cols)` layout."""
    negative, u, e, s = _one_exp_terms(x)
    one_plus_e = 1.0 + e
    one_plus_s = 1.0 + s
    right = a * (one_plus_s - u * (one_plus_e * s) * s)
    dx = upstream * ops.where(negative, b * one_plus_e, right)
    da = _column_sums(upstream * ops.relu(x) * one_plus_s, reduction)
    db = _column_sums(ops.where(negative, upstream * e, 0.0), reduction)
    return dx, da, db


#: The values of `implementation` (see `apalu`).
IMPLEMENTATIONS = ("fused", "ops", "autodiff", "one_exp")

#: Environment variable that turns the fused path off in this process
#: (`KERAS_APALU_FUSED=0`): `implementation="fused"` then runs "ops".
FUSED_ENV = "KERAS_APALU_FUSED"


def fused_enabled():
    """`False` when the environment variable KERAS_APALU_FUSED is 0/false/off."""
    value = os.environ.get(FUSED_ENV, "1").strip().lower()
    return value not in ("0", "false", "off", "no")


def resolve_implementation(implementation="fused", custom_gradient=None,
                           select_free=None):
    """Checks `implementation` and folds in the legacy keywords.

    `custom_gradient=False` (today's "differentiate the formula") means
    "autodiff", `select_free=False` means "one_exp"; `custom_gradient=True`
    and `select_free=True` change nothing (they were the defaults).
    """
    if implementation is None:
        implementation = "fused"
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"APALU: implementation must be one of {IMPLEMENTATIONS}; got "
            f"{implementation!r}."
        )
    if select_free is not None and not select_free:
        if custom_gradient is not None and not custom_gradient:
            return "one_exp_autodiff"
        return "one_exp"
    if custom_gradient is not None and not custom_gradient:
        return "autodiff"
    return implementation


def _apalu_ops(x, a, b):
    """Today's default per backend, unfused (`implementation="ops"`)."""
    if keras.backend.backend() == "jax":
        return _forward_right_slope(x, a, b)
    # Every backend's custom gradient needs the inputs broadcastable as
    # given; the gradients are summed back to the shapes of a and b.
    return _apalu_lean(x, a, b)


def apalu(x, a, b, custom_gradient=None, select_free=None, *,
          implementation="fused", training=True):
    """Adaptive Parametric Activation Linear Unit (APALU).

        f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
        f(x) = b * (exp(x) - 1)                 for x <  0

    computed by default without select or minimum as
    `a * p * (1 + sigmoid(1.702 x)) + b * expm1(x - p)` with `p = relu(x)`.

    Args:
        x: floating-point input tensor of any shape.
        a: scale of the positive side; a scalar or a tensor that broadcasts
            to `x` (for example one value per channel). Cast to `x.dtype`.
        b: scale of the negative side, as `a`. The output lies in `(-b, inf)`.
        custom_gradient: legacy switch, kept so that existing code runs
            (also positionally): `False` means `implementation="autodiff"`;
            `True` or `None` changes nothing.
        select_free: legacy switch: `False` means `"one_exp"` (with
            `custom_gradient=False`, the same form differentiated by the
            backend); `True` or `None` changes nothing.
        implementation: (keyword) how the values and gradients are computed;
            the values are the same for all.
            - `"fused"` (default): the formula above and its analytic
              gradient (right-hand slope `df/dx = 1.5 a` at x = 0), each
              compiled by the backend into one pass (XLA on tensorflow,
              Inductor's `torch.compile` on torch, `jax.jit` of the autodiff form on
              jax; see `keras_apalu.fused`). Only `x`, `a` and `b` are kept
              for the backward pass. Falls back to `"ops"` with one warning
              when the backend cannot compile it, silently when the
              environment variable `KERAS_APALU_FUSED=0` is set or the
              shapes do not fit (a scalar input, an unknown size where the
              slopes vary).
            - `"ops"`: the same gradient from separate `keras.ops` calls:
              on torch and tensorflow a custom gradient that recomputes the
              derivatives from `x`, `a` and `b`; on jax autodiff of a form
              whose derivative at 0 is the right-hand one.
            - `"autodiff"`: every backend differentiates the formula itself
              (at x = 0 it takes the left slope `b`; more memory on torch
              and tensorflow).
            - `"one_exp"`: one transcendental for both sides, forward and
              backward: `u = x` (x < 0) or `-1.702 x` (x >= 0),
              `E = expm1(u)`, `s = 1 / (2 + E)`,
              `f = where(x < 0, b * E, a * x * (1 + s))`, with a custom
              gradient from the same E and s. Uses select, so not for the
              TFLite export; kept for comparison (benchmarks/README.md).
        training: (keyword) `False` for a forward pass that is traced for
            inference or export (the layer passes Keras' `training` flag):
            where the backend's compiled kernel cannot be read by export
            converters (tensorflow: XLA-compiled functions), such calls use
            `"ops"` instead of `"fused"`. Default `True`.

    Returns:
        A tensor of the shape and dtype of `x`.

    Example:

    >>> from keras_apalu.ops import apalu
    >>> apalu([-1.0, 0.0, 1.0], 1.0, 1.0)  # doctest: +SKIP
    [-0.63212055, 0., 1.8456...]
    """
    implementation = resolve_implementation(
        implementation, custom_gradient, select_free
    )
    x, a, b = _prepare(x, a, b)
    if is_exporting():
        return _forward_select_free(x, a, b)
    if implementation == "fused":
        if fused_enabled():
            from keras_apalu import fused

            out = fused.apalu(x, a, b, training=training)
            if out is not None:
                return out
        implementation = "ops"
    if implementation == "ops":
        return _apalu_ops(x, a, b)
    if implementation == "autodiff":
        return _forward_select_free(x, a, b)
    if implementation == "one_exp":
        return _apalu_lean_one_exp(x, a, b)
    return _forward_one_exp(x, a, b)  # "one_exp_autodiff"
