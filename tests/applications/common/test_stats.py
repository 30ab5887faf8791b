"""The shared statistics against scipy.stats, and their one-seed behaviour."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from applications.common import stats

pytestmark = pytest.mark.backend_independent

SAMPLES = [
    ([0.91, 0.93, 0.90, 0.95, 0.92], [0.88, 0.90, 0.87, 0.91, 0.86, 0.89]),
    ([1.0, 2.0], [10.0, 30.0, 20.0]),
    ([3.1e-5, 2.9e-5, 3.3e-5], [1.0e-5, 1.2e-5]),
    ([5.0, 5.0, 5.0], [4.0, 6.0, 5.5, 4.5]),  # no spread on one side only
]


@pytest.mark.parametrize("x, y", SAMPLES)
def test_mean_std_and_interval_against_scipy(x, y):
    for values in (x, y):
        summary = stats.summarize(values)
        assert summary["n"] == len(values)
        assert summary["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert summary["std"] == pytest.approx(
            np.std(values, ddof=1), rel=1e-12, abs=1e-300
        )
        if np.std(values) == 0:  # scipy gives NaN for a zero scale
            assert summary["ci_low"] == summary["ci_high"] == values[0]
        else:
            low, high = scipy_stats.t.interval(
                0.95,
                len(values) - 1,
                loc=np.mean(values),
                scale=scipy_stats.sem(values),
            )
            assert summary["ci_low"] == pytest.approx(low, rel=1e-9)
            assert summary["ci_high"] == pytest.approx(high, rel=1e-9)
    low, high = stats.confidence_interval(y, level=0.99)
    assert (low, high) == pytest.approx(
        scipy_stats.t.interval(
            0.99, len(y) - 1, loc=np.mean(y), scale=scipy_stats.sem(y)
        ),
        rel=1e-9,
    )


@pytest.mark.parametrize("x, y", SAMPLES)
@pytest.mark.filterwarnings(
    "ignore:Precision loss:RuntimeWarning"
)  # scipy, on [5, 5, 5]
def test_welch_against_scipy(x, y):
    expected = scipy_stats.ttest_ind(x, y, equal_var=False).pvalue
    assert stats.welch_p(x, y) == pytest.approx(expected, rel=1e-8)
    assert stats.welch_p(y, x) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("df", [0.7, 1, 2.5, 4, 30, 1e4])
def test_student_t_against_scipy(df):
    for t in (-7.0, -1.3, 0.0, 0.4, 2.0, 12.0):
        assert stats.t_sf(t, df) == pytest.approx(
            scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-15
        )
    for p in (0.005, 0.3, 0.5, 0.9, 0.975, 0.9995):
        assert stats.t_quantile(p, df) == pytest.approx(
            scipy_stats.t.ppf(p, df), rel=1e-8, abs=1e-12
        )


def test_one_seed_is_defined_not_a_crash():
    one = stats.summarize([0.9])
    assert one["n"] == 1 and one["mean"] == 0.9
    assert all(math.isnan(one[k]) for k in ("std", "ci_low", "ci_high"))
    assert math.isnan(stats.std([0.9]))
    assert stats.format_mean_std([0.9]) == "0.9000 (n=1)"
    assert stats.format_mean_std([1.5e-4], 2, scientific=True) == "1.50e-04 (n=1)"
    assert math.isnan(stats.welch_p([0.9], [0.8, 0.7]))
    assert stats.format_p(stats.welch_p([0.9], [0.8, 0.7])) == "-"


def test_undefined_cases_give_nan():
    none = stats.summarize([])
    assert (
        none["n"] == 0 and math.isnan(none["mean"]) and stats.format_mean_std([]) == "-"
    )
    assert math.isnan(stats.welch_p([1.0, 1.0], [1.0, 1.0]))  # no spread at all
    assert math.isnan(stats.welch_p([1.0, float("nan")], [1.0, 2.0]))
    assert math.isnan(stats.confidence_interval([2.0])[0])


def test_formatting():
    assert stats.format_mean_std([1.0, 1.2, 1.1]) == "1.1000 ± 0.1000"
    assert stats.format_mean_std([1.0, 1.2, 1.1], 2) == "1.10 ± 0.10"
    assert (
        stats.format_mean_std([1e-3, 3e-3], 2, scientific=True) == "2.00e-03 ± 1.4e-03"
    )
    assert stats.format_mean_std([float("nan"), 1.0]) == "nan ± -"
    assert stats.format_p(0.0004) == "<0.001" and stats.format_p(0.04567) == "0.046"
    assert stats.format_p(None) == "-" and stats.format_p(float("nan")) == "-"
