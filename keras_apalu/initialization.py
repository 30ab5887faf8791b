"""Starting APALU as the activation it replaces: least-squares fits of (a, b).

For a fixed input `x`, APALU is linear in its two parameters:

    f(x) = a * g(x) + b * h(x)
    g(x) = x + x * sigmoid(1.702 x)   for x >= 0, else 0
    h(x) = exp(x) - 1                 for x <  0, else 0

so the least-squares fit of a target activation `t` over an input range is a
two-parameter linear least-squares problem. `g` and `h` never overlap (one
lives on `x >= 0`, the other on `x < 0`), so the two parameters separate:

    a = sum(g t) / sum(g g)   over the grid points x >= 0
    b = sum(h t) / sum(h h)   over the grid points x <  0

Each is then clipped to the layer's default constraint `>= 1e-3`, which is
the exact constrained optimum because each problem is a 1-D parabola (ReLU's
left side is 0, so its fitted `b` is that floor). With `smooth=True` (the
layer's `b = 1.5 a`) it is one column, `g + 1.5 h`, and one parameter.

The fit is computed in float64 on `num_points` equally spaced points of
`x_range` (default 4001 points on [-4, 4], which covers the pre-activations
of a batch-normalised network), once per (target, range, smooth, points):
named targets are cached.

Fit errors on the default range (root-mean-square and largest absolute
error over the grid; `python -m keras_apalu.initialization` prints this
table):

| target | a | b | RMS error | max error |
|---|---|---|---|---|
| relu | 0.5040 | 0.0010 | 0.0289 | 0.0766 |
| relu6 | 0.5040 | 0.0010 | 0.0289 | 0.0766 |
| leaky_relu (slope 0.2) | 0.5040 | 0.5593 | 0.0915 | 0.2510 |
| elu | 0.5040 | 1.0000 | 0.0289 | 0.0766 |
| gelu | 0.4980 | 0.0587 | 0.0607 | 0.1399 |
| silu / swish | 0.4731 | 0.2187 | 0.0953 | 0.1481 |

(relu6 equals relu on [-4, 4]: its cap at 6 lies outside the range.)
"""

import dataclasses
import functools
import math

import numpy as np

from keras_apalu.ops import SIGMOID_SCALE

#: The input interval of the fits, unless one is given.
DEFAULT_RANGE = (-4.0, 4.0)
#: Grid points of the fits, unless a number is given.
DEFAULT_POINTS = 4001
#: The smallest `a` and `b` of a fit: the layer's default constraint.
MIN_VALUE = 1e-3
#: `b / a` of a `smooth=True` layer (see `keras_apalu.layers.apalu`).
SMOOTH_RATIO = 1.5
#: `negative_slope` of the named target `"leaky_relu"` (as
#: `keras.activations.leaky_relu`).
LEAKY_RELU_SLOPE = 0.2


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _relu(x):
    return np.maximum(x, 0.0)


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


def _leaky_relu(x):
    return np.where(x >= 0, x, LEAKY_RELU_SLOPE * x)


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _gelu(x):
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _silu(x):
    return x * _sigmoid(x)


#: Targets known by name, as float64 NumPy functions (exact GELU, ELU with
#: alpha 1, leaky ReLU with slope 0.2).
TARGETS = {
    "relu": _relu,
    "relu6": _relu6,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "silu": _silu,
    "swish": _silu,
}


@dataclasses.dataclass(frozen=True)
class APALUFit:
    """The fitted parameters and how well APALU matches the target.

    Attributes:
        a, b: the fitted parameters (`b = 1.5 a` for a smooth fit).
        rms_error: root-mean-square of `f(x) - t(x)` over the grid.
        max_error: largest `|f(x) - t(x)|` over the grid.
        target: the target's name (or the callable's `__name__`).
        x_range: the fitted interval.
        smooth: whether `b` was tied to `1.5 a`.
    """

    a: float
    b: float
    rms_error: float
    max_error: float
    target: str
    x_range: tuple
    smooth: bool


def basis(x):
    """The two columns `g(x)` (a's) and `h(x)` (b's) of APALU, float64."""
    x = np.asarray(x, np.float64)
    positive = np.maximum(x, 0.0)
    g = positive * (1.0 + _sigmoid(SIGMOID_SCALE * positive))
    h = np.expm1(np.minimum(x, 0.0))
    return g, h


def _target_values(target, x):
    if isinstance(target, str):
        return TARGETS[target](x)
    values = target(x)
    if not isinstance(values, np.ndarray):
        import keras

        values = keras.ops.convert_to_numpy(values)
    values = np.asarray(values, np.float64)
    if values.shape != x.shape:
        raise ValueError(
            f"The target {target!r} returned shape {values.shape} for an "
            f"input of shape {x.shape}; it must act elementwise."
        )
    return values


def _check(target, x_range, num_points):
    if isinstance(target, str):
        if target not in TARGETS:
            raise ValueError(
                f"Unknown target activation {target!r}; known names: "
                f"{', '.join(sorted(TARGETS))}, or pass a callable."
            )
    elif not callable(target):
        raise TypeError(
            "The target must be an activation name or a callable taking a "
            f"float64 NumPy array; got {target!r}."
        )
    low, high = (float(v) for v in x_range)
    if not low < 0.0 < high:
        raise ValueError(
            f"x_range must contain 0 inside it (low < 0 < high), so that "
            f"both a and b are determined; got {x_range!r}."
        )
    if int(num_points) < 3:
        raise ValueError(f"num_points must be >= 3; got {num_points}.")
    return (low, high), int(num_points)


def fit(target, x_range=DEFAULT_RANGE, smooth=False, num_points=DEFAULT_POINTS):
    """Least-squares (a, b) of APALU that best match `target` on `x_range`.

    Minimises `sum_i (a g(x_i) + b h(x_i) - t(x_i))^2` over `num_points`
    equally spaced `x_i` of `x_range`, in float64, with `a, b >= 1e-3`; see
    the module docstring for the closed form and the fit errors.

    Args:
        target: a name of `TARGETS` (`"relu"`, `"relu6"`, `"leaky_relu"`,
            `"elu"`, `"gelu"`, `"silu"`, `"swish"`), or a callable mapping
            a float64 NumPy array elementwise to an array of the same shape
            (a `keras.activations` function works too; under JAX without
            x64 it computes in float32).
        x_range: `(low, high)` with `low < 0 < high`.
        smooth: fit with `b = 1.5 a` (the layer's `smooth=True`).
        num_points: grid points, `>= 3`.

    Returns:
        An `APALUFit`. Named targets are computed once and cached.

    Raises:
        ValueError: unknown name, a range without 0 inside, too few points,
            or a callable that does not act elementwise.
    """
    x_range, num_points = _check(target, x_range, num_points)
    if isinstance(target, str):
        return _cached_fit(target, x_range, bool(smooth), num_points)
    return _fit(target, x_range, bool(smooth), num_points)


@functools.cache
def _cached_fit(target, x_range, smooth, num_points):
    return _fit(target, x_range, smooth, num_points)


def _fit(target, x_range, smooth, num_points):
    x = np.linspace(x_range[0], x_range[1], num_points, dtype=np.float64)
    t = _target_values(target, x)
    g, h = basis(x)
    if smooth:
        column = g + SMOOTH_RATIO * h
        a = max(float(column @ t / (column @ column)), MIN_VALUE)
        b = SMOOTH_RATIO * a
    else:
        a = max(float(g @ t / (g @ g)), MIN_VALUE)
        b = max(float(h @ t / (h @ h)), MIN_VALUE)
    residual = a * g + b * h - t
    name = (
        target if isinstance(target, str) else getattr(target, "__name__", repr(target))
    )
    return APALUFit(
        a=a,
        b=b,
        rms_error=float(np.sqrt(np.mean(residual**2))),
        max_error=float(np.max(np.abs(residual))),
        target=name,
        x_range=x_range,
        smooth=smooth,
    )


def error_table(x_range=DEFAULT_RANGE):
    """Markdown table of the fit of every named target (the module docstring's)."""
    rows = ["| target | a | b | RMS error | max error |", "|---|---|---|---|---|"]
    for name in TARGETS:
        if name == "swish":
            continue
        result = fit(name, x_range)
        label = {
            "silu": "silu / swish",
            "leaky_relu": f"leaky_relu (slope {LEAKY_RELU_SLOPE})",
        }.get(name, name)
        rows.append(
            f"| {label} | {result.a:.4f} | {result.b:.4f} | "
            f"{result.rms_error:.4f} | {result.max_error:.4f} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(error_table())
