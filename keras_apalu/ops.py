"""The APALU function and its gradient, written once in `keras.ops`.

    f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
    f(x) = b * (exp(x) - 1)                 for x <  0

`apalu_forward` evaluates it in the select-free form

    p = relu(x),  n = x - p  (= min(x, 0))
    f(x) = a * p * (1 + sigmoid(1.702 x)) + b * expm1(n)

so that `exp` only ever sees `n <= 0` (no overflow, no NaN gradient through
an unused branch) and the graph converts to TFLite builtins that quantise
well (RELU, SUB, MUL, ADD, LOGISTIC, EXP: no MINIMUM or SELECT, whose int8
kernels force one shared scale). `apalu_vjp` is its analytic
vector-Jacobian product, recomputed from x, a and b alone.

`apalu(x, a, b)` has two paths, chosen by `implementation`:

- "fused" (default): `apalu_forward` and `apalu_vjp`, each compiled by the
  backend's compiler into one pass (`keras_apalu.fused`: XLA on TensorFlow
  and JAX, Inductor on PyTorch), keeping only x, a and b for the backward
  pass. At x = 0 the gradient takes the right-hand slope, df/dx = 1.5 a.
- "plain": the backend differentiates `apalu_forward` itself (at x = 0 it
  takes the left-hand slope, b). Exports, tfmot wrappers and every case the
  fused path does not cover use it.
"""

import os

import keras
from keras import ops

from keras_apalu._exporting import is_exporting

__all__ = [
    "FUSED_ENV",
    "IMPLEMENTATIONS",
    "SIGMOID_SCALE",
    "apalu",
    "apalu_derivatives",
    "apalu_forward",
    "apalu_vjp",
    "apalu_vjp_terms",
]

#: The slope constant of the sigmoid approximation of GELU used by APALU.
SIGMOID_SCALE = 1.702

#: The values of `implementation` (see `apalu`).
IMPLEMENTATIONS = ("fused", "plain")

#: The environment variable that turns the fused path off in this process
#: (`KERAS_APALU_FUSED=0`): `implementation="fused"` then runs "plain".
FUSED_ENV = "KERAS_APALU_FUSED"

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


def apalu_forward(x, a, b):
    """`a * p * (1 + sigmoid(1.702 x)) + b * expm1(x - p)`, `p = relu(x)`.

    The select-free form of APALU (module docstring). Autodiff through it
    takes the left-hand slope `b` at x = 0.

    Args:
        x: floating-point tensor.
        a: positive-side scale of `x`'s dtype, broadcastable to `x`.
        b: negative-side scale, as `a`.
    """
    p = ops.relu(x)
    positive = ops.multiply(p, ops.add(1.0, ops.sigmoid(SIGMOID_SCALE * x)))
    return ops.add(ops.multiply(a, positive), ops.multiply(b, ops.expm1(x - p)))


def _terms(x, a, b):
    """`p = relu(x)`, `E = expm1(min(x, 0))`, `1 + s` and df/dx.

    Shared by the derivatives and the VJP: `t = 1.702 x` is taken from `p`
    and clipped (it is only used where x >= 0), and `1 + s` serves both
    df/dx and df/da.
    """
    p = ops.relu(x)
    n = x - p
    # clip, not minimum: keras' torch minimum turns float64 into float32.
    t = ops.clip(SIGMOID_SCALE * p, 0.0, _DERIVATIVE_CLIP)
    s = ops.sigmoid(t)
    one_plus_s = 1.0 + s
    right = ops.multiply(a, one_plus_s + t * s * (1.0 - s))
    left = ops.multiply(b, ops.exp(n))
    dfdx = ops.where(ops.greater_equal(x, 0), right, left)
    return p, ops.expm1(n), one_plus_s, dfdx


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
    p, e, one_plus_s, dfdx = _terms(x, a, b)
    return dfdx, ops.multiply(p, one_plus_s), e


def _sum_to_shape(g, shape):
    """Sums a broadcast gradient `g` back to a parameter of static `shape`.

    One reduction over every broadcast axis at once (the leading axes
    `shape` lacks and the axes where it is 1). Half-precision terms are
    accumulated in float32 (a float16 sum over a batch loses the small terms
    and can overflow) and rounded once.
    """
    shape = tuple(shape)
    extra = len(g.shape) - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, d in enumerate(shape) if d == 1)
    if axes:
        dtype = keras.backend.standardize_dtype(g.dtype)
        if dtype in ("float16", "bfloat16"):
            g = ops.cast(g, "float32")
        g = ops.cast(ops.sum(g, axis=axes, keepdims=True), dtype)
    if extra:  # (squeeze, not reshape: sizes may be unknown when traced)
        g = ops.squeeze(g, axis=tuple(range(extra)))
    return g


def apalu_vjp(x, a, b, upstream):
    """The vector-Jacobian product of APALU, from x, a and b alone.

    Returns `(upstream * df/dx, sum(upstream * df/da), sum(upstream *
    df/db))` with the derivatives of `apalu_derivatives` (right-hand slope
    `1.5 a` at x = 0), the slope gradients summed back to the shapes of `a`
    and `b`.

    Args:
        x: floating-point tensor.
        a: positive-side scale of `x`'s dtype, broadcastable to `x`.
        b: negative-side scale, as `a`.
        upstream: the gradient of the loss with respect to the output, of
            the shape of `x`.
    """
    dx, da, db = apalu_vjp_terms(x, a, b, upstream)
    return dx, _sum_to_shape(da, a.shape), _sum_to_shape(db, b.shape)


def apalu_vjp_terms(x, a, b, upstream):
    """`apalu_vjp` before the slope sums: three tensors of the shape of `x`.

    Returns `(upstream * df/dx, upstream * df/da, upstream * df/db)`;
    `apalu_vjp` sums the last two back to the shapes of `a` and `b`. A
    backend that reduces them faster its own way (keras_apalu/fused/jax.py)
    starts from here.

    Args:
        x, a, b, upstream: as in `apalu_vjp`.
    """
    p, e, one_plus_s, dfdx = _terms(x, a, b)
    dx = ops.multiply(upstream, dfdx)
    da = ops.multiply(ops.multiply(upstream, p), one_plus_s)
    db = ops.multiply(upstream, e)
    return dx, da, db


def fused_enabled():
    """`False` when $KERAS_APALU_FUSED is 0, false, off or no."""
    value = os.environ.get(FUSED_ENV, "1").strip().lower()
    return value not in ("0", "false", "off", "no")


def check_implementation(implementation):
    """Returns `implementation` if it is "fused" or "plain", else raises.

    Raises:
        ValueError: naming the valid values (and "plain" for the values
            "ops" and "autodiff" of keras_apalu 0.1.0).
    """
    if implementation in IMPLEMENTATIONS:
        return implementation
    hint = ""
    if implementation in ("ops", "autodiff", "one_exp"):
        hint = (
            f" ({implementation!r} was a value of keras_apalu 0.1.0: use "
            "'plain' for the unfused keras.ops form, or the default 'fused')"
        )
    raise ValueError(
        f"APALU: implementation must be 'fused' or 'plain'; got "
        f"{implementation!r}{hint}."
    )


def apalu(x, a, b, *, implementation="fused", training=True):
    """Adaptive Parametric Activation Linear Unit (APALU).

        f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
        f(x) = b * (exp(x) - 1)                 for x <  0

    computed as `a * p * (1 + sigmoid(1.702 x)) + b * expm1(x - p)` with
    `p = relu(x)` (`apalu_forward`).

    Args:
        x: floating-point input tensor of any shape.
        a: scale of the positive side; a scalar or a tensor that broadcasts
            to `x` (for example one value per channel). Cast to `x.dtype`.
        b: scale of the negative side, as `a`. The output lies in `(-b, inf)`.
        implementation: (keyword) how values and gradients are computed;
            the values are the same.
            - `"fused"` (default): `apalu_forward` and its analytic gradient
              `apalu_vjp` (right-hand slope `df/dx = 1.5 a` at x = 0), each
              compiled by the backend into one pass (see
              `keras_apalu.fused`); only `x`, `a` and `b` are kept for the
              backward pass. Runs `"plain"` instead where the fused path
              does not apply: with one warning when the backend cannot
              compile it; silently when the environment variable
              `KERAS_APALU_FUSED=0` is set, for shapes the fused layout
              does not cover (a scalar input, an unknown size where the
              slopes vary), while exporting, and for `training=False` on
              TensorFlow.
            - `"plain"`: the backend differentiates `apalu_forward` (left
              slope `b` at x = 0; the intermediate terms are kept for the
              backward pass).
        training: (keyword) `False` for a forward pass traced for inference
            or export (the layer passes Keras' `training` flag): on
            TensorFlow such calls take `"plain"`, since export converters
            cannot read XLA-compiled functions. Default `True`.

    Returns:
        A tensor of the shape and dtype of `x`.

    Raises:
        TypeError: for an integer, boolean or complex `x`.
        ValueError: for an `implementation` other than "fused" or "plain".

    Example:

    >>> from keras_apalu.ops import apalu
    >>> apalu([-1.0, 0.0, 1.0], 1.0, 1.0)  # doctest: +SKIP
    [-0.63212055, 0., 1.8456...]
    """
    check_implementation(implementation)
    x, a, b = _prepare(x, a, b)
    if implementation == "fused" and fused_enabled() and not is_exporting():
        from keras_apalu import fused

        out = fused.apalu(x, a, b, training=training)
        if out is not None:
            return out
    return apalu_forward(x, a, b)
