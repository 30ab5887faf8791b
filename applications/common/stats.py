"""Statistics over seeds, the same in every application.

A study repeats each configuration over a few seeds and reports

- the mean `m = sum(x) / n`,
- the sample standard deviation `s = sqrt(sum((x - m)^2) / (n - 1))`,
- the two-sided confidence interval of the mean `m ± t(1 - α/2, n - 1) s / sqrt(n)`
  (Student's t with n - 1 degrees of freedom; 95 % by default),
- Welch's t-test of `mean(x) != mean(y)` (unequal variances):
  `t = (mx - my) / sqrt(vx/nx + vy/ny)`, degrees of freedom
  `(vx/nx + vy/ny)^2 / ((vx/nx)^2/(nx-1) + (vy/ny)^2/(ny-1))`
  (Welch–Satterthwaite), p = 2 P(T > |t|).

Defined behaviour for few values, never an exception: with one value the
standard deviation, the interval and any test are not available: NaN in
numbers and results.json, `n=1` in tables (`0.9 (n=1)`); with no value the
mean is NaN too. Welch's test is NaN when either side has fewer than two
values, a value is not finite, or both sides have no spread (identical runs).

Pure Python and NumPy: the Student t distribution is computed here from the
regularised incomplete beta function (no scipy needed at run time); the
tests check it against `scipy.stats`.
"""

import math

import numpy as np

NAN = float("nan")


def _values(values):
    return np.asarray(list(values), dtype=np.float64).ravel()


def mean(values):
    """Mean of `values` (NaN when empty)."""
    x = _values(values)
    return float(x.mean()) if x.size else NAN


def std(values):
    """Sample standard deviation (ddof=1) of `values`; NaN for fewer than two."""
    x = _values(values)
    return float(x.std(ddof=1)) if x.size >= 2 else NAN


def _incomplete_beta_fraction(a, b, x):
    # Continued fraction of I_x(a, b), evaluated with the modified Lentz
    # method; converges fast for x < (a + 1) / (a + b + 2).
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return result


def regularized_beta(a, b, x):
    """The regularised incomplete beta function `I_x(a, b)`, 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + a * math.log(x)
        + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _incomplete_beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _incomplete_beta_fraction(b, a, 1.0 - x) / b


def t_sf(t, df):
    """`P(T > t)` for Student's t with `df` (> 0, real) degrees of freedom."""
    if math.isnan(t) or not df > 0:
        return NAN
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_quantile(p, df):
    """The `t` with `P(T <= t) = p` (0 < p < 1), by bisection on `t_sf`."""
    if not 0.0 < p < 1.0 or not df > 0:
        return NAN
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_sf(high, df) > 1.0 - p:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if t_sf(middle, df) > 1.0 - p:
            low = middle
        else:
            high = middle
        if high - low <= 1e-13 * max(1.0, high):
            break
    return 0.5 * (low + high)


def confidence_interval(values, level=0.95):
    """`(low, high)`: the t confidence interval of the mean of `values`.

    Args:
        values: the numbers (one per seed).
        level: the confidence level, 0 < level < 1.

    Returns:
        `m ∓ t(1 - (1 - level)/2, n - 1) s / sqrt(n)`; `(NaN, NaN)` for fewer
        than two values.
    """
    x = _values(values)
    if x.size < 2:
        return (NAN, NAN)
    half = t_quantile(0.5 + level / 2.0, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return (float(x.mean() - half), float(x.mean() + half))


def welch_p(x, y):
    """Two-sided p-value of Welch's t-test that `mean(x) != mean(y)`.

    NaN when undefined: fewer than two values on a side, a value that is not
    finite, or no spread on either side.
    """
    x, y = _values(x), _values(y)
    if (
        x.size < 2
        or y.size < 2
        or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)))
    ):
        return NAN
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if vx + vy == 0.0:
        return NAN
    t = (x.mean() - y.mean()) / math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    return float(min(1.0, 2.0 * t_sf(abs(t), df)))


def summarize(values, level=0.95):
    """`{"mean", "std", "n", "ci_low", "ci_high"}` of `values` (see the module
    docstring for one or no value: NaN where not available)."""
    x = _values(values)
    low, high = confidence_interval(x, level)
    return {
        "mean": mean(x),
        "std": std(x),
        "n": int(x.size),
        "ci_low": low,
        "ci_high": high,
    }


def _number(value, digits, scientific):
    return f"{value:.{digits}e}" if scientific else f"{value:.{digits}f}"


def format_mean_std(values, digits=4, scientific=False):
    """`mean ± std` as text, e.g. `0.9120 ± 0.0100`.

    Args:
        values: the numbers, or a `summarize` dict.
        digits: decimals (of the mantissa when `scientific`).
        scientific: `1.23e-04 ± 4.5e-05` style.

    Returns:
        The text; `0.9120 (n=1)` for a single value (no spread to show) and
        `-` for none.
    """
    summary = values if isinstance(values, dict) else summarize(values)
    if summary["n"] == 0:
        return "-"
    shown = _number(summary["mean"], digits, scientific)
    if summary["n"] < 2:
        return f"{shown} (n=1)"
    spread_digits = max(digits - 1, 1) if scientific else digits
    spread = summary["std"]
    spread_text = (
        _number(spread, spread_digits, scientific) if math.isfinite(spread) else "-"
    )
    return f"{shown} ± {spread_text}"


def format_p(p):
    """A p-value as text: `-` when not available (None or NaN), `<0.001`,
    or three decimals."""
    if p is None or not math.isfinite(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
