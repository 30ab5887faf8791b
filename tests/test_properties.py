"""Property tests (hypothesis) of the facts in shared/docs/apalu-math.md."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from keras import ops

from keras_apalu.ops import apalu
from tests import reference

finite_x = st.floats(-1e4, 1e4, allow_nan=False, width=32)
positive = st.floats(0.01, 5.0, allow_nan=False).map(np.float32)


def f(x, a, b):
    x = np.asarray(x, np.float32)
    return ops.convert_to_numpy(apalu(x, np.float32(a), np.float32(b)))


@given(st.lists(finite_x, min_size=2, max_size=64), positive, positive)
def test_monotonic_in_x(xs, a, b):
    x = np.sort(np.asarray(xs, np.float32))
    y = f(x, a, b)
    # Non-decreasing in float32 (strictly increasing where rounding allows).
    assert np.all(np.diff(y) >= 0), (x, y)


@given(positive, positive, st.floats(1e-30, 1e-3))
def test_continuous_at_zero(a, b, eps):
    left, zero, right = f([-eps, 0.0, eps], a, b)
    assert zero == 0.0
    # |f(±eps)| <= max slope * eps
    assert abs(left) <= 1.01 * b * eps and abs(right) <= 1.01 * 1.5 * a * eps


@given(st.lists(finite_x, min_size=1, max_size=64), positive, positive)
def test_output_bounded_below_by_minus_b(xs, a, b):
    x = np.asarray(xs, np.float32)
    y = f(x, a, b)
    assert np.all(y >= -np.float32(b))
    # Strictly above -b wherever float32 can still tell b * (1 - exp(x))
    # from b (exp(x) above half an ulp of 1).
    assert np.all(y[x > -15] > -np.float32(b))


@given(st.lists(finite_x, min_size=1, max_size=32), positive, positive)
def test_matches_reference(xs, a, b):
    x = np.asarray(xs, np.float32)
    np.testing.assert_allclose(
        f(x, a, b), reference.apalu(x, a, b), rtol=2e-6, atol=1e-6
    )


@given(positive)
def test_smooth_variant_has_equal_slopes_at_zero(a):
    b = 1.5 * a
    h = 1e-4
    x = np.array([-h, 0.0, h], np.float64)
    y = reference.apalu(x, a, b)  # sanity of the premise, float64
    assert abs((y[1] - y[0]) / h - (y[2] - y[1]) / h) < 1e-3 * a
    y = ops.convert_to_numpy(
        apalu(x.astype(np.float32), np.float32(a), np.float32(b))
    ).astype(np.float64)
    left, right = (y[1] - y[0]) / h, (y[2] - y[1]) / h
    np.testing.assert_allclose(left, right, rtol=2e-3)
    np.testing.assert_allclose(right, 1.5 * a, rtol=2e-3)


@given(positive, positive)
def test_unsmooth_slopes_at_zero_are_b_and_1_5a(a, b):
    h = 1e-3
    y = f([-h, 0.0, h], a, b).astype(np.float64)
    np.testing.assert_allclose((y[1] - y[0]) / h, b, rtol=2e-3)
    np.testing.assert_allclose((y[2] - y[1]) / h, 1.5 * a, rtol=2e-3)
