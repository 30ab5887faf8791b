"""The APALU function, written once in `keras.ops` and shared by every user.

    f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
    f(x) = b * (exp(x) - 1)                 for x <  0

Both sides come from one transcendental. With

    u = x                   for x <  0
    u = -1.702 x            for x >= 0     (u <= 0 always; clipped at -40)
    E = expm1(u)            in (-1, 0]
    s = 1 / (2 + E)         = sigmoid(1.702 x) for x >= 0, without cancellation

the function is `where(x < 0, b * E, a * x * (1 + s))`, and the derivatives
reuse E and s (`1 - s = (1 + E) * s`, `exp(x) = 1 + E` for x < 0).

`exp` only ever sees u <= 0, so nothing overflows and no unused branch can
turn a gradient into NaN. The clip at -40 changes no value (expm1(-40) rounds
to -1 even in float64, and 40 e^-40 is below 1e-16) but keeps `t * (1 - s)`
finite where 1.702 x overflows (float16).

TFLite's builtin int8 kernels for SELECT and MINIMUM force one shared scale on
input and output, which clips every positive activation to 0 after full-integer
quantisation. `apalu(..., select_free=True)` therefore evaluates the older
select-free form instead,

    p = relu(x),  n = x - p  (= min(x, 0))
    f(x) = a * p * (1 + sigmoid(1.702 x)) + b * expm1(n)

(two transcendentals, same values); the TFLite export uses it.
"""

import keras
from keras import ops

#: The slope constant of the sigmoid approximation of GELU used by APALU.
SIGMOID_SCALE = 1.702

# u = -1.702 x is clipped at -40: expm1(-40) is -1 in float64, and the term
# t * s * (1 - s) = t e^-t / (1 + e^-t)^2 of df/dx is below 2e-16 there.
_EXPONENT_CLIP = 40.0


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


def _exponent_terms(x):
    """`negative = x < 0`, `u`, `E = expm1(u)` and `s = 1 / (2 + E)`.

    u = x for x < 0 and -1.702 x for x >= 0, clipped to [-40, 0]. (`where`,
    not `minimum`: keras' torch `minimum` turns float64 into float32.)
    """
    negative = ops.less(x, 0)
    u = ops.clip(
        ops.where(negative, x, -SIGMOID_SCALE * x), -_EXPONENT_CLIP, 0.0
    )
    e = ops.expm1(u)
    s = ops.reciprocal(2.0 + e)
    return negative, u, e, s


def _forward(x, a, b):
    negative, _, e, s = _exponent_terms(x)
    return ops.where(negative, b * e, a * (x + x * s))


def _forward_select_free(x, a, b):
    """APALU without SELECT or MINIMUM (for TFLite int8; two transcendentals).

        a * p * (1 + sigmoid(1.702 x)) + b * expm1(x - p),  p = relu(x)
    """
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


def _shared_terms(x, a, b):
    """df/dx and the pieces df/da and df/db share with it.

    Returns `(negative, E, 1 + s, df/dx)`. With t = -u = 1.702 x on x >= 0
    and 1 - s = (1 + E) s:

        df/dx = a * (1 + s - u * (1 + E) * s * s)   for x >= 0
              = b * (1 + E)                          for x <  0
    """
    negative, u, e, s = _exponent_terms(x)
    one_plus_e = 1.0 + e
    one_plus_s = 1.0 + s
    right = a * (one_plus_s - u * (one_plus_e * s) * s)
    dfdx = ops.where(negative, b * one_plus_e, right)
    return negative, e, one_plus_s, dfdx


def apalu_derivatives(x, a, b):
    """Analytic partial derivatives of APALU, recomputed from the inputs only.

    Returns `(df/dx, df/da, df/db)`, each broadcast to the shape of `x`:

        df/dx = a * (1 + s + t * s * (1 - s))   for x >= 0, t = 1.702 x,
                                                 s = sigmoid(t)
              = b * exp(x)                      for x <  0
        df/da = x * (1 + s)                     for x >= 0, else 0
        df/db = exp(x) - 1                      for x <  0, else 0

    At x = 0 they take the x >= 0 side (df/dx = 1.5 a).

    Args:
        x: floating-point tensor.
        a: positive-side scale, broadcastable to `x`.
        b: negative-side scale, broadcastable to `x`.
    """
    x, a, b = _prepare(x, a, b)
    negative, e, one_plus_s, dfdx = _shared_terms(x, a, b)
    dfda = ops.relu(x) * one_plus_s
    dfdb = ops.where(negative, e, 0.0)
    return dfdx, dfda, dfdb


def _apalu_vjp(x, a, b, upstream):
    """`upstream` times the derivatives, summed back to the shapes of a, b."""
    negative, e, one_plus_s, dfdx = _shared_terms(x, a, b)
    dx = upstream * dfdx
    da = upstream * ops.relu(x) * one_plus_s
    db = ops.where(negative, upstream * e, 0.0)
    return dx, _sum_to_shape(da, a.shape), _sum_to_shape(db, b.shape)


def _grad_fn(x, a, b):
    # Only x, a and b are captured: everything else is recomputed in the
    # backward pass, so training keeps one tensor per APALU call.
    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        return _apalu_vjp(x, a, b, upstream)

    return grad


@ops.custom_gradient
def _apalu_lean(x, a, b):
    return _forward(x, a, b), _grad_fn(x, a, b)


@ops.custom_gradient
def _apalu_lean_select_free(x, a, b):
    return _forward_select_free(x, a, b), _grad_fn(x, a, b)


def apalu(x, a, b, custom_gradient=True, select_free=False):
    """Adaptive Parametric Activation Linear Unit (APALU).

        f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
        f(x) = b * (exp(x) - 1)                 for x <  0

    Args:
        x: floating-point input tensor of any shape.
        a: scale of the positive side; a scalar or a tensor that broadcasts
            to `x` (for example one value per channel). Cast to `x.dtype`.
        b: scale of the negative side, as `a`. The output lies in `(-b, inf)`.
        custom_gradient: if `True` (default) the backward pass recomputes the
            analytic derivatives from `x`, `a` and `b`, so only the inputs are
            kept for the gradient. If `False`, the backend differentiates the
            formula itself (more memory, same values).
        select_free: if `True`, the forward pass is computed without select
            or minimum, as `a * p * (1 + sigmoid(1.702 x)) + b * expm1(x - p)`
            with `p = relu(x)` (two transcendentals instead of one; same
            values). For graphs that must quantise to TFLite int8 builtins.

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
        if select_free:
            return _apalu_lean_select_free(x, a, b)
        return _apalu_lean(x, a, b)
    if select_free:
        return _forward_select_free(x, a, b)
    return _forward(x, a, b)
