"""Independent float64 NumPy reference of the neural ODE (model and RK4).

Written from the formulas in applications/neural_ode/model.py's docstring,
not from its code: the vector field, the embedding and readout, a classical
RK4 loop and the softmax cross-entropy, all in NumPy.
"""

import math

import numpy as np

from tests import reference as apalu_reference


def activation(name, x, params):
    if name == "apalu_smooth":
        return apalu_reference.apalu(x, params["a"], 1.5 * params["a"])
    if name == "apalu":
        return apalu_reference.apalu(x, params["a"], params["b"])
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "softplus":
        return np.logaddexp(0.0, x)
    if name == "tanh":
        return np.tanh(x)
    if name == "gelu":
        erf = np.vectorize(math.erf)
        return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    raise ValueError(name)


def field(name, p, h, t, width, horizon=1.0):
    pre = h @ p["U"] / math.sqrt(width) + (t / horizon) * p["w"] + p["c"]
    return activation(name, pre, p) @ p["V"] / math.sqrt(width * horizon)


def rk4(f, y, t0, t1, steps):
    dt = (t1 - t0) / steps
    for n in range(steps):
        t = t0 + n * dt
        k1 = f(t, y)
        k2 = f(t + dt / 2, y + dt / 2 * k1)
        k3 = f(t + dt / 2, y + dt / 2 * k2)
        k4 = f(t + dt, y + dt * k3)
        y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def loss(name, p, x, labels, width, inputs, steps, horizon=1.0):
    """Mean softmax cross-entropy of the neural ODE solved by RK4."""
    h = x @ p["A"] / math.sqrt(inputs)
    h = rk4(lambda t, y: field(name, p, y, t, width, horizon), h, 0.0, horizon, steps)
    logits = h @ p["B"] / math.sqrt(width) + p["B0"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels].mean()


def finite_difference_gradient(fn, params, eps=1e-6):
    """Central differences of the scalar `fn(params)` for every entry."""
    grads = {}
    for key, value in params.items():
        g = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][index] += eps
            minus[key][index] -= eps
            g[index] = (fn(plus) - fn(minus)) / (2 * eps)
        grads[key] = g
    return grads
