"""The synthetic targets and the spectral measurement, against independent
float64 NumPy computations (quadrature, direct sums)."""

import math

import numpy as np
import pytest

from applications.lrnn_claims import spectrum
from applications.lrnn_claims import targets

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("kind", targets.KINDS)
@pytest.mark.parametrize("d", [2, 3, 8])
def test_anova_target_has_unit_variance_and_the_stated_orders(kind, d):
    target = targets.AnovaTarget(d, kind, seed=1)
    orders = target.order_variances()
    assert math.isclose(sum(orders.values()), 1.0, rel_tol=1e-12)
    if kind == "decaying":
        assert orders == pytest.approx({1: 0.8, 2: 0.2})
    else:
        assert orders == pytest.approx({1: 0.2, d: 0.8})
    x, y = targets.sample(target, 200_000, seed=0)
    assert abs(np.mean(y)) < 0.01
    assert np.var(y) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("spec", [("cos", 1, 0.3), ("cos", 2, 4.0), ("tanh", 4.0)])
def test_factors_are_zero_mean_unit_variance(spec):
    # Midpoint quadrature on [0, 1]: each term is a pure ANOVA component.
    x = (np.arange(100_000) + 0.5) / 100_000
    f = targets.factor(spec, x)
    assert abs(np.mean(f)) < 1e-6
    assert np.mean(f**2) == pytest.approx(1.0, abs=1e-6)


def test_target_is_the_sum_of_its_terms():
    target = targets.AnovaTarget(4, "decaying", seed=3)
    x = np.random.default_rng(0).uniform(0, 1, (7, 4))
    expected = np.zeros(7)
    for indices, specs, weight in target.terms:
        term = weight * np.ones(7)
        for i, (_, k, theta) in zip(indices, specs, strict=True):
            term *= math.sqrt(2) * np.cos(2 * math.pi * k * x[:, i] + theta)
        expected += term
    np.testing.assert_allclose(target(x), expected, rtol=1e-12)


def test_bad_target_arguments():
    with pytest.raises(ValueError, match="unknown target kind"):
        targets.AnovaTarget(4, "rising")
    with pytest.raises(ValueError, match="d must be >= 2"):
        targets.AnovaTarget(1, "decaying")


def test_amplitudes_recover_known_sinusoids_1d():
    size = 128
    x = np.arange(size) / size
    y = 0.7 * np.sin(2 * math.pi * 5 * x + 1.0) + 0.2 * np.cos(2 * math.pi * 17 * x)
    np.testing.assert_allclose(
        spectrum.amplitudes(y, [5, 17, 30], size), [0.7, 0.2, 0.0], atol=1e-12
    )


def test_amplitudes_recover_known_sinusoids_2d():
    xy, y = targets.signal_2d(16, frequencies=((1, 0), (2, 3)), seed=0)
    np.testing.assert_allclose(
        spectrum.amplitudes(y, [(1, 0), (2, 3), (3, 2)], 16),
        [1.0, 1.0, 0.0],
        atol=1e-12,
    )
    # Row-major (y, x): the first row runs along x.
    assert xy[1, 0] == pytest.approx(1 / 16) and xy[1, 1] == 0.0


def test_relative_residual_is_one_for_nothing_and_zero_for_the_truth():
    _, y = targets.signal_1d(64)
    freqs = list(targets.FREQUENCIES_1D)
    np.testing.assert_allclose(
        spectrum.relative_residual(y, np.zeros_like(y), freqs, 64), 1.0, atol=1e-12
    )
    np.testing.assert_allclose(
        spectrum.relative_residual(y, y, freqs, 64), 0.0, atol=1e-12
    )
    # Removing one component leaves only that frequency's residual.
    x = np.arange(64) / 64
    phase = np.random.default_rng(0).uniform(0, 2 * math.pi, 4)[0]
    partial = y - np.sin(2 * math.pi * 1 * x + phase)
    np.testing.assert_allclose(
        spectrum.relative_residual(y, partial, freqs, 64), [1, 0, 0, 0], atol=1e-9
    )
