"""Independent float64 NumPy reference of APALU, written from the paper's
piecewise definition (not from keras_apalu's select-free form)."""

import numpy as np

K = 1.702


def _sigmoid(z):
    # Stable in float64 for any finite z.
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def apalu(x, a, b):
    x = np.asarray(x, np.float64)
    a = np.broadcast_to(np.asarray(a, np.float64), x.shape)
    b = np.broadcast_to(np.asarray(b, np.float64), x.shape)
    out = np.empty_like(x)
    pos = x >= 0
    xp = x[pos]
    out[pos] = a[pos] * (xp + xp * _sigmoid(K * xp))
    out[~pos] = b[~pos] * (np.exp(x[~pos]) - 1.0)
    return out


def derivatives(x, a, b):
    """(df/dx, df/da, df/db), elementwise, float64."""
    x = np.asarray(x, np.float64)
    a = np.broadcast_to(np.asarray(a, np.float64), x.shape)
    b = np.broadcast_to(np.asarray(b, np.float64), x.shape)
    s = _sigmoid(K * x)
    pos = x >= 0
    dx = np.where(pos, a * (1 + s + K * x * s * (1 - s)), 0.0)
    dx[~pos] = b[~pos] * np.exp(x[~pos])
    da = np.where(pos, x + x * s, 0.0)
    db = np.zeros_like(x)
    db[~pos] = np.expm1(x[~pos])
    return dx, da, db


def sum_to_shape(g, shape):
    """Sums a broadcast array back to `shape` (the rule for parameter grads)."""
    g = np.asarray(g, np.float64)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, d in enumerate(shape):
        if d == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g
