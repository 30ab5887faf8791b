"""Earlier ways of computing APALU, kept here (not in the library) so that
the formulations benchmark can compare them with the library's paths.

A private copy, in keras.ops, of the forms keras_apalu/ops.py held before it
kept one path (issue 21). Each function takes `(x, a, b)` tensors of one
float dtype with `a` and `b` broadcastable to `x`:

* `select_free_custom_gradient`: `a p (1 + sigmoid(1.702 x)) + b expm1(x - p)`
  with `p = relu(x)`, and a custom gradient that recomputes the analytic
  derivatives from x, a and b (the torch and tensorflow default before the
  fused path);
* `select_free`: the same formula differentiated by the backend (left slope
  b at x = 0);
* `right_slope`: the same values with `n = -relu(-x)`, `p = x - n`, whose
  autodiff takes the right slope 1.5 a at 0 (the jax default before);
* `one_exp_custom_gradient` / `one_exp`: one transcendental for both sides,
  `u = x` (x < 0) or `-1.702 x`, `E = expm1(u)`, `s = 1 / (2 + E)`,
  `f = where(x < 0, b E, a x (1 + s))`, with a custom gradient from the same
  E and s, or differentiated by the backend.
"""

from keras import ops

K = 1.702
_DERIVATIVE_CLIP = 30.0  # t s (1 - s) < 3e-12 beyond; keeps float16 finite
_EXPONENT_CLIP = 40.0  # expm1(-40) = -1 in float64


def _select_free(x, a, b, p, n):
    positive = ops.multiply(p, ops.add(1.0, ops.sigmoid(K * x)))
    return ops.add(ops.multiply(a, positive), ops.multiply(b, ops.expm1(n)))


def select_free(x, a, b):
    p = ops.relu(x)
    return _select_free(x, a, b, p, ops.subtract(x, p))


def right_slope(x, a, b):
    n = ops.negative(ops.relu(ops.negative(x)))
    return _select_free(x, a, b, ops.subtract(x, n), n)


def _sum_to_shape(g, shape):
    """Sums a broadcast gradient back to a parameter of static `shape`."""
    shape = tuple(shape)
    extra = len(g.shape) - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, d in enumerate(shape) if d == 1)
    return ops.reshape(ops.sum(g, axis=axes) if axes else g, shape)


def _select_free_vjp(x, a, b, upstream):
    p = ops.relu(x)
    n = ops.subtract(x, p)
    t = ops.clip(K * p, 0.0, _DERIVATIVE_CLIP)
    s = ops.sigmoid(t)
    one_plus_s = 1.0 + s
    right = a * (one_plus_s + t * s * (1.0 - s))
    dfdx = ops.where(ops.greater_equal(x, 0), right, b * ops.exp(n))
    da = upstream * p * one_plus_s
    db = upstream * ops.expm1(n)
    return (
        upstream * dfdx,
        _sum_to_shape(da, a.shape),
        _sum_to_shape(db, b.shape),
    )


def _one_exp_terms(x):
    negative = ops.less(x, 0)
    u = ops.clip(ops.where(negative, x, -K * x), -_EXPONENT_CLIP, 0.0)
    e = ops.expm1(u)
    return negative, u, e, ops.reciprocal(2.0 + e)


def one_exp(x, a, b):
    negative, _, e, s = _one_exp_terms(x)
    return ops.where(negative, b * e, a * (x + x * s))


def _one_exp_vjp(x, a, b, upstream):
    # t = -u, 1 - s = (1 + E) s and exp(x) = 1 + E on x < 0.
    negative, u, e, s = _one_exp_terms(x)
    one_plus_e = 1.0 + e
    one_plus_s = 1.0 + s
    right = a * (one_plus_s - u * (one_plus_e * s) * s)
    dx = upstream * ops.where(negative, b * one_plus_e, right)
    da = upstream * ops.relu(x) * one_plus_s
    db = ops.where(negative, upstream * e, 0.0)
    return dx, _sum_to_shape(da, a.shape), _sum_to_shape(db, b.shape)


def _with_gradient(forward, vjp):
    """`forward` with the custom gradient `vjp(x, a, b, upstream)`: only x, a
    and b are kept for the backward pass."""

    @ops.custom_gradient
    def fn(x, a, b):
        def grad(*args, upstream=None):
            return vjp(x, a, b, args[0] if upstream is None else upstream)

        return forward(x, a, b), grad

    return fn


select_free_custom_gradient = _with_gradient(select_free, _select_free_vjp)
one_exp_custom_gradient = _with_gradient(one_exp, _one_exp_vjp)
