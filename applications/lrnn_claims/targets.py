"""Synthetic targets with known structure (NumPy, float64).

ANOVA targets on `[0, 1]^d` (inputs uniform). Every term is a product of
zero-mean, unit-variance univariate factors on distinct coordinates, so a
term on the index set `u` is a pure `|u|`-order functional-ANOVA component
(it integrates to zero over any of its variables) of variance `weight^2`, and
terms on distinct sets are orthogonal. Factors:

- `cos(k, theta)`: `sqrt(2) cos(2 pi k x + theta)`, integer `k >= 1`;
- `tanh(beta)`: `tanh(beta (2x - 1)) / s`, `s^2 = 1 - tanh(beta) / beta`
  (the mean of `tanh^2(beta u)` over `u` in `[-1, 1]`): a smooth sign.

Two kinds of target, each with total variance 1 and mean 0:

- `"decaying"`: the variance decays with the order: `V1 = 0.8` spread over
  the `d` first-order terms `sqrt(0.8 / d) cos(k_i, theta_i)(x_i)`
  (`k_i = 1 + i mod 2`), `V2 = 0.2` over the second-order terms on the
  neighbouring pairs `(i, i + 1 mod d)` (one pair for `d = 2`), each
  `sqrt(0.2 / m) cos(1, .)(x_i) cos(1, .)(x_j)`; no higher order.
- `"control"`: the negative control, a strong high-order interaction: the
  same first-order terms with `V1 = 0.2`, and `V_d = 0.8` in the single
  pure `d`-th-order term `sqrt(0.8) prod_i tanh(4)(x_i)` (a smooth parity).

Signals for the spectral-bias study: sums of sinusoids of unit amplitude at
known integer frequencies on a periodic grid, in 1-D and 2-D.
"""

import math

import numpy as np

KINDS = ("decaying", "control")
#: Variance per ANOVA order of each kind (order -> variance; "d" is the input
#: dimension's own order).
ORDER_VARIANCE = {"decaying": {1: 0.8, 2: 0.2}, "control": {1: 0.2, "d": 0.8}}
TANH_BETA = 4.0


def tanh_scale(beta=TANH_BETA):
    """`s` with `tanh(beta (2x - 1)) / s` of unit variance on U[0, 1]."""
    return math.sqrt(1.0 - math.tanh(beta) / beta)


def factor(spec, x):
    """One univariate factor (see the module docstring) of `x` in [0, 1]."""
    name, *args = spec
    if name == "cos":
        k, theta = args
        return math.sqrt(2.0) * np.cos(2.0 * math.pi * k * x + theta)
    if name == "tanh":
        (beta,) = args
        return np.tanh(beta * (2.0 * x - 1.0)) / tanh_scale(beta)
    raise ValueError(f"unknown factor {name!r}")


class AnovaTarget:
    """A sum of weighted products of univariate factors on `[0, 1]^d`.

    Args:
        d: input dimension (>= 2).
        kind: `"decaying"` or `"control"` (module docstring).
        seed: seed of the phases `theta` (the target, not the data).

    Attributes:
        terms: list of `(indices, factor specs, weight)`.
    """

    def __init__(self, d, kind, seed=0):
        if kind not in KINDS:
            raise ValueError(f"unknown target kind {kind!r}; choose {KINDS}")
        if d < 2:
            raise ValueError(f"d must be >= 2; got {d}")
        self.d, self.kind = int(d), kind
        rng = np.random.default_rng([seed, d, KINDS.index(kind)])
        v1 = ORDER_VARIANCE[kind][1]
        self.terms = []
        for i in range(d):
            spec = ("cos", 1 + i % 2, float(rng.uniform(0, 2 * math.pi)))
            self.terms.append(((i,), (spec,), math.sqrt(v1 / d)))
        if kind == "decaying":
            pairs = [(0, 1)] if d == 2 else [(i, (i + 1) % d) for i in range(d)]
            weight = math.sqrt(ORDER_VARIANCE[kind][2] / len(pairs))
            for pair in pairs:
                specs = tuple(
                    ("cos", 1, float(rng.uniform(0, 2 * math.pi))) for _ in pair
                )
                self.terms.append((tuple(sorted(pair)), specs, weight))
        else:
            specs = tuple(("tanh", TANH_BETA) for _ in range(d))
            self.terms.append(
                (tuple(range(d)), specs, math.sqrt(ORDER_VARIANCE[kind]["d"]))
            )

    def order_variances(self):
        """`{order: variance}` as constructed (sum of squared weights)."""
        out = {}
        for indices, _, weight in self.terms:
            out[len(indices)] = out.get(len(indices), 0.0) + weight**2
        return out

    def __call__(self, x):
        """Values at `x` of shape `(n, d)` in [0, 1], float64 `(n,)`."""
        x = np.asarray(x, np.float64)
        y = np.zeros(x.shape[0])
        for indices, specs, weight in self.terms:
            term = np.full(x.shape[0], weight)
            for i, spec in zip(indices, specs, strict=True):
                term = term * factor(spec, x[:, i])
            y += term
        return y


def sample(target, n, seed):
    """`(x, y)`: `n` uniform points of `[0, 1]^d` (seeded) and the target."""
    x = np.random.default_rng(seed).uniform(0.0, 1.0, (n, target.d))
    return x, target(x)


#: Frequencies (cycles over the unit period) of the spectral signals.
FREQUENCIES_1D = (1, 4, 12, 32)
#: 2-D frequencies (k_x, k_y) on the unit square; |k| about 1, 3.6, 7.8, 15.
FREQUENCIES_2D = ((1, 0), (2, 3), (6, 5), (12, 9))


def signal_1d(size, frequencies=FREQUENCIES_1D, seed=0):
    """`(x, y)`: `sum_k sin(2 pi k x + phi_k)` on `x = j / size`, `j < size`."""
    phases = np.random.default_rng(seed).uniform(0, 2 * math.pi, len(frequencies))
    x = np.arange(size) / size
    y = sum(
        np.sin(2 * math.pi * k * x + p)
        for k, p in zip(frequencies, phases, strict=True)
    )
    return x[:, None], y


def signal_2d(size, frequencies=FREQUENCIES_2D, seed=0):
    """`(xy, y)`: `sum sin(2 pi (k_x x + k_y y) + phi)` on a `size^2` grid.

    `xy` has shape `(size * size, 2)`, rows in row-major order of `(y, x)`
    (so `values.reshape(size, size)[iy, ix]`)."""
    phases = np.random.default_rng(seed).uniform(0, 2 * math.pi, len(frequencies))
    g = np.arange(size) / size
    yy, xx = np.meshgrid(g, g, indexing="ij")
    values = sum(
        np.sin(2 * math.pi * (kx * xx + ky * yy) + p)
        for (kx, ky), p in zip(frequencies, phases, strict=True)
    )
    return np.stack([xx.ravel(), yy.ravel()], axis=1), values.ravel()
