"""ODE solvers in `keras.ops`: fixed-step Euler and RK4, adaptive Dormand-Prince.

All solve `dy/dt = f(t, y)` from `t0` to `t1` (`t1 < t0` integrates
backwards, as the adjoint method does) for a state `y` that is a list of
tensors (so the adjoint's augmented state [h, a, g_1, ..., g_k] needs no
packing). `f(t, y)` takes a Python float `t` and returns a list of tensors
of the shapes of `y`. Every step is plain `keras.ops` arithmetic, so
backpropagation through a solve works on any backend (see `vjp`).

    euler:   y_{n+1} = y_n + dt f(t_n, y_n)                     (order 1)
    rk4:     the classical Runge-Kutta method                   (order 4)
    dopri5:  Dormand-Prince 5(4) with local error control: a step is
             accepted when the RMS norm of err / (atol + rtol max(|y_n|,
             |y_{n+1}|)) is <= 1; the next step is dt * clip(0.9 norm^(-1/5),
             0.2, 10) (order 5, first same as last)

A fixed-step Euler solve with `steps = L` is a residual network of depth L
with shared weights: h_{k+1} = h_k + (T / L) f(h_k, t_k).
"""

import dataclasses

import numpy as np
from keras import ops

METHODS = ("euler", "rk4", "dopri5")


@dataclasses.dataclass
class SolveStats:
    """What a solve cost: accepted and rejected steps, evaluations of f."""

    steps: int = 0
    rejected: int = 0
    evaluations: int = 0


def _scale(c, x):
    """`c * x` with the float `c` taken in x's dtype: keras' torch backend
    turns a Python float into a float32 tensor first, which would round RK
    coefficients such as 1/3 in a float64 solve."""
    return ops.multiply(ops.convert_to_tensor(c, dtype=x.dtype), x)


def _axpy(y, dt, terms):
    """`y + dt * sum_i c_i k_i` for `terms = [(c_i, k_i), ...]`, list-wise."""
    out = []
    for j, yj in enumerate(y):
        total = None
        for c, k in terms:
            if c == 0.0:
                continue
            term = _scale(c * dt, k[j])
            total = term if total is None else ops.add(total, term)
        out.append(yj if total is None else ops.add(yj, total))
    return out


def _euler_step(f, t, y, dt, stats):
    stats.evaluations += 1
    return _axpy(y, dt, [(1.0, f(t, y))])


def _rk4_step(f, t, y, dt, stats):
    k1 = f(t, y)
    k2 = f(t + dt / 2, _axpy(y, dt, [(0.5, k1)]))
    k3 = f(t + dt / 2, _axpy(y, dt, [(0.5, k2)]))
    k4 = f(t + dt, _axpy(y, dt, [(1.0, k3)]))
    stats.evaluations += 4
    return _axpy(y, dt, [(1 / 6, k1), (1 / 3, k2), (1 / 3, k3), (1 / 6, k4)])


def _check_state(y0):
    if not isinstance(y0, (list, tuple)) or not y0:
        raise ValueError(
            "neural_ode solvers: the state y0 must be a non-empty list of "
            f"tensors; got {type(y0).__name__}."
        )
    return [ops.convert_to_tensor(y) for y in y0]


def solve_fixed(f, y0, t0, t1, steps, method="rk4"):
    """Integrates with `steps` equal steps of Euler or RK4.

    Args:
        f: the vector field, `f(t, y) -> list of tensors`.
        y0: list of tensors, the state at `t0`.
        t0, t1: start and end times (floats; `t1 < t0` goes backwards).
        steps: number of steps, a positive int.
        method: `"euler"` or `"rk4"`.

    Returns:
        `(y1, stats)`: the list of tensors at `t1` and a `SolveStats`.
    """
    if method not in ("euler", "rk4"):
        raise ValueError(
            f"neural_ode: fixed-step method must be 'euler' or 'rk4'; got {method!r}."
        )
    if int(steps) != steps or steps < 1:
        raise ValueError(f"neural_ode: steps must be a positive int; got {steps!r}.")
    step = _euler_step if method == "euler" else _rk4_step
    y = _check_state(y0)
    t0, t1 = float(t0), float(t1)
    dt = (t1 - t0) / steps
    stats = SolveStats()
    for n in range(int(steps)):
        y = step(f, t0 + n * dt, y, dt, stats)
        stats.steps += 1
    return y, stats


# Dormand-Prince 5(4) coefficients (Dormand & Prince 1980).
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
# Fifth-order weights (= the last row of _A) minus the fourth-order ones.
_E = (
    35 / 384 - 5179 / 57600,
    0.0,
    500 / 1113 - 7571 / 16695,
    125 / 192 - 393 / 640,
    -2187 / 6784 + 92097 / 339200,
    11 / 84 - 187 / 2100,
    -1 / 40,
)


def _to_float(x):
    return float(np.asarray(ops.convert_to_numpy(ops.stop_gradient(x))))


def _error_norm(err, y, y_new, rtol, atol):
    total, count = 0.0, 0
    for e, a, b in zip(err, y, y_new):
        scale = ops.add(atol, ops.multiply(rtol, ops.maximum(ops.abs(a), ops.abs(b))))
        total += _to_float(ops.sum(ops.square(ops.divide(e, scale))))
        count += int(np.prod(e.shape))
    return (total / max(count, 1)) ** 0.5


def _initial_step(f, t0, y0, f0, direction, rtol, atol, order=5):
    """Hairer, Norsett & Wanner's starting step (Solving ODEs I, II.4)."""

    def rms(values, ref):
        total, count = 0.0, 0
        for v, r in zip(values, ref):
            scale = ops.add(atol, ops.multiply(rtol, ops.abs(r)))
            total += _to_float(ops.sum(ops.square(ops.divide(v, scale))))
            count += int(np.prod(v.shape))
        return (total / max(count, 1)) ** 0.5

    d0, d1 = rms(y0, y0), rms(f0, y0)
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    y1 = _axpy(y0, direction * h0, [(1.0, f0)])
    f1 = f(t0 + direction * h0, y1)
    d2 = rms([ops.subtract(a, b) for a, b in zip(f1, f0)], y0) / h0
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / order)
    return min(100 * h0, h1)


def solve_adaptive(
    f, y0, t0, t1, rtol=1e-6, atol=1e-8, max_steps=10000, first_step=None
):
    """Integrates with the adaptive Dormand-Prince 5(4) method.

    Local error control per step: the step is accepted when
    `sqrt(mean((err / (atol + rtol * max(|y_n|, |y_{n+1}|)))^2)) <= 1`, the
    mean running over every element of every tensor of the state.
    Backpropagating through the solve differentiates the accepted steps (the
    step sizes, chosen from the values, are treated as constants).

    Args:
        f: the vector field, `f(t, y) -> list of tensors`.
        y0: list of tensors, the state at `t0`.
        t0, t1: start and end times (floats; `t1 < t0` goes backwards).
        rtol, atol: relative and absolute tolerances (positive floats).
        max_steps: maximum number of attempted steps before an error.
        first_step: the first step size, or `None` for the automatic choice.

    Returns:
        `(y1, stats)`: the list of tensors at `t1` and a `SolveStats` with
        the accepted (`steps`) and rejected step counts.
    """
    if not (rtol > 0 and atol > 0):
        raise ValueError(
            f"neural_ode: rtol and atol must be positive; got rtol={rtol}, atol={atol}."
        )
    y = _check_state(y0)
    t0, t1 = float(t0), float(t1)
    stats = SolveStats()
    if t0 == t1:
        return y, stats
    direction = 1.0 if t1 > t0 else -1.0
    k1 = f(t0, y)
    stats.evaluations += 1
    if first_step is None:
        h = _initial_step(f, t0, y, k1, direction, rtol, atol)
        stats.evaluations += 1
    else:
        h = abs(float(first_step))
    t = t0
    attempts = 0
    while direction * (t1 - t) > 0:
        if attempts >= max_steps:
            raise RuntimeError(
                f"neural_ode: dopri5 took more than max_steps={max_steps} steps "
                f"(reached t={t:.6g} of {t1:.6g}); loosen rtol/atol or raise max_steps."
            )
        attempts += 1
        h = min(h, abs(t1 - t))
        dt = direction * h
        ks = [k1]
        for i in range(1, 7):
            y_i = _axpy(y, dt, list(zip(_A[i], ks)))
            if i == 6:
                y_new = y_i
            ks.append(f(t + _C[i] * dt, y_i))
        stats.evaluations += 6
        err = _axpy([ops.zeros_like(v) for v in y], dt, list(zip(_E, ks)))
        norm = _error_norm(err, y, y_new, rtol, atol)
        if norm <= 1.0:
            t = t1 if h >= abs(t1 - t) else t + dt
            y, k1 = y_new, ks[6]
            stats.steps += 1
        else:
            stats.rejected += 1
        factor = 10.0 if norm == 0.0 else 0.9 * norm**-0.2
        h = h * min(10.0, max(0.2, factor))
    return y, stats


def odeint(
    f, y0, t0, t1, method="rk4", steps=None, rtol=1e-6, atol=1e-8, max_steps=10000
):
    """Solves `dy/dt = f(t, y)` from `t0` to `t1` by `method`.

    Args:
        f: the vector field, `f(t, y) -> list of tensors`.
        y0: list of tensors, the state at `t0`.
        t0, t1: start and end times.
        method: `"euler"`, `"rk4"` (both need `steps`) or `"dopri5"`
            (adaptive, uses `rtol`, `atol`, `max_steps`).
        steps: number of fixed steps (Euler, RK4).
        rtol, atol, max_steps: Dormand-Prince settings.

    Returns:
        `(y1, stats)`, the state at `t1` and a `SolveStats`.
    """
    if method == "dopri5":
        return solve_adaptive(f, y0, t0, t1, rtol=rtol, atol=atol, max_steps=max_steps)
    if method in ("euler", "rk4"):
        if steps is None:
            raise ValueError(f"neural_ode: method {method!r} needs steps=<int>.")
        return solve_fixed(f, y0, t0, t1, steps, method)
    raise ValueError(
        f"neural_ode: unknown solver method {method!r}; use one of {METHODS}."
    )
