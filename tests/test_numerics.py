"""APALU and its gradients over the whole float range, against float64 NumPy.

The values and the gradients for x, a and b (the vector-Jacobian product of
a random upstream weight) on float32 inputs from -1e4 to 1e4, around zero
and random normals, for both implementations; the slope gradients summed to
every broadcast shape the layer's `shared_axes` give; and float16 / bfloat16
inputs over their whole finite range, which must give no NaN. The reference
is tests/reference.py (float64, written from the paper's piecewise form).
"""

import keras
import numpy as np
import pytest

from keras_apalu import ops as apalu_ops
from tests import reference
from tests.backend_utils import gradients

CHANNELS = 8
RTOL, ATOL = 2e-5, 1e-6
# The backend's autodiff of the keras.ops formula.
PLAIN = "plain"


def _wide_inputs(rng):
    """float32 (rows, CHANNELS): -1e4..1e4, -40..40, +-0, tiny, normals."""
    special = [0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7]
    wide = np.concatenate(
        [np.linspace(-1e4, 1e4, 4001), np.linspace(-40, 40, 4001), special]
    )
    # At least 32,768 elements, so torch takes its compiled (fused) kernel.
    x = np.concatenate([wide, rng.standard_normal(40000 - len(wide)) * 3])
    return x.reshape(-1, CHANNELS).astype("float32")


def _expected(x, a, b, w):
    """float64 value and VJP with upstream `w` (slope gradients summed)."""
    dfdx, dfda, dfdb = reference.derivatives(x, a, b)
    return (
        reference.apalu(x, a, b),
        w * dfdx,
        reference.sum_to_shape(w * dfda, np.shape(a)),
        reference.sum_to_shape(w * dfdb, np.shape(b)),
    )


def _error(got, expected, atol):
    """Largest error in units of the tolerance `atol + RTOL * |expected|`."""
    got = np.asarray(got, np.float64)
    return float(np.max(np.abs(got - expected) / (atol + RTOL * np.abs(expected))))


@pytest.mark.parametrize("implementation", ["fused", PLAIN])
def test_float32_values_and_gradients_over_the_whole_range(rng, implementation):
    x = _wide_inputs(rng)
    a = rng.uniform(0.1, 2.0, CHANNELS).astype("float32")
    b = rng.uniform(0.1, 2.0, CHANNELS).astype("float32")

    def fn(x, a, b):
        return apalu_ops.apalu(x, a, b, implementation=implementation)

    y, (dx, da, db), w = gradients(fn, x, a, b)
    want_y, want_dx, want_da, want_db = _expected(x, a, b, w)
    if implementation != "fused":
        # At exactly x = 0 autodiff takes relu'(0) = 0, the left slope b,
        # where the analytic gradient takes the right one.
        keep = x != 0
        dx, want_dx = dx[keep], want_dx[keep]
    for got in (y, dx, da, db):
        assert np.all(np.isfinite(got))
    assert _error(y, want_y, ATOL) <= 1.0
    assert _error(dx, want_dx, ATOL) <= 1.0
    # A sum over rows of terms up to |2 x w|: its rounding error scales so.
    scale = np.sum(np.abs(w * x) * 2)
    assert _error(da, want_da, ATOL * scale) <= 1.0
    assert _error(db, want_db, ATOL * scale) <= 1.0


@pytest.mark.parametrize(
    "slope_shape", [(1, 1, CHANNELS), (5, 1, CHANNELS), (1, 1, 1), (CHANNELS,), ()]
)
def test_slope_gradients_sum_to_each_broadcast_shape(rng, slope_shape):
    x = (rng.standard_normal((64, 5, 4, CHANNELS)) * 3).astype("float32")
    a = rng.uniform(0.1, 2.0, slope_shape).astype("float32")
    b = rng.uniform(0.1, 2.0, slope_shape).astype("float32")
    _, (_, da, db), w = gradients(apalu_ops.apalu, x, a, b)
    _, _, want_da, want_db = _expected(x, a, b, w)
    assert da.shape == db.shape == slope_shape
    assert _error(da, want_da, 1e-4) <= 10.0
    assert _error(db, want_db, 1e-4) <= 10.0


@pytest.mark.parametrize("implementation", ["fused", PLAIN])
@pytest.mark.parametrize("dtype, top", [("float16", 65504.0), ("bfloat16", 3.0e38)])
def test_half_precision_whole_range_gives_no_nan(implementation, dtype, top):
    xs = np.concatenate([np.linspace(-top, top, 2001), np.linspace(-30, 30, 2001)])
    xs = xs[: len(xs) // CHANNELS * CHANNELS].reshape(-1, CHANNELS)
    ones = np.ones(CHANNELS)

    def fn(x, a, b):
        return apalu_ops.apalu(x, a, b, implementation=implementation)

    cast = [keras.ops.cast(v, dtype) for v in (xs, ones, ones)]
    # Upstream 1: a larger one times x near the top of float16 overflows in
    # any formula's backward pass.
    y, (dx, _, _), _ = gradients(fn, *cast, upstream=1.0)
    assert not np.isnan(y).any()
    assert not np.isnan(dx).any()
    # Away from the top of the range the derivative itself stays finite.
    assert np.isfinite(dx[np.abs(xs) < top / 4]).all()
