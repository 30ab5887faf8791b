"""The APALU function, written once in `keras.ops` and shared by every user.

    f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
    f(x) = b * (exp(x) - 1)                 for x <  0

It is evaluated in the select-free form

    p = relu(x),  n = x - p  (= min(x, 0))
    f(x) = a * p * (1 + sigmoid(1.702 x)) + b * expm1(n)

so that `exp` only ever sees `n <= 0` (no overflow, no NaN gradient through an
unused branch) and the graph converts to TFLite builtins that quantise well
(no MINIMUM or SELECT, whose int8 kernels force one shared scale).
"""

import keras
from keras import ops

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


def _forward(x, a, b):
    p = ops.relu(x)
    n = ops.subtract(x, p)
    positive = ops.multiply(p, ops.add(1.0, ops.sigmoid(SIGMOID_SCALE * x)))
    return ops.add(ops.multiply(a, positive), ops.multiply(b, ops.expm1(n)))


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


@ops.custom_gradient
def _apalu_lean(x, a, b):
    # Only x, a and b are captured by `grad`: everything else is recomputed
    # in the backward pass, so training keeps one tensor per APALU call.
    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        return _apalu_vjp(x, a, b, upstream)

    return _forward(x, a, b), grad


def apalu(x, a, b, custom_gradient=True):
    """Adaptive Parametric Activation Linear Unit (APALU).

        f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
        f(x) = b * (exp(x) - 1)                 for x <  0

    computed without select or minimum as
    `a * p * (1 + sigmoid(1.702 x)) + b * expm1(x - p)` with `p = relu(x)`.

    Args:
        x: floating-point input tensor of any shape.
        a: scale of the positive side; a scalar or a tensor that broadcasts
            to `x` (for example one value per channel). Cast to `x.dtype`.
        b: scale of the negative side, as `a`. The output lies in `(-b, inf)`.
        custom_gradient: if `True` (default) the backward pass recomputes the
            analytic derivatives from `x`, `a` and `b`, so only the inputs are
            kept for the gradient. If `False`, the backend differentiates the
            formula itself (more memory, same values).

    Returns:
        A tensor of the shape and dtype of `x`.

    Example:

    >>> from keras_apalu.ops import apalu
    >>> apalu([-1.0, 0.0, 1.0], 1.0, 1.0)  # doctest: +SKIP
    [-0.63212055, 0., 1.8456...]
    """
    x, a, b = _prepare(x, a, b)
    if custom_gradient:
        # Every backend's custom gradient needs the inputs broadcastable as
        # given; the gradients are summed back to the shapes of a and b.
        return _apalu_lean(x, a, b)
    return _forward(x, a, b)
