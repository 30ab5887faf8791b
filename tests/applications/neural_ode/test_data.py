"""The digits subset: balanced, reproducible, centred, clear errors."""

import numpy as np
import pytest

from applications.neural_ode import data

# The digits subset is NumPy only: no Keras backend involved;
# runs in one backend's pass only (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


def test_subset_is_balanced_reproducible_and_scaled():
    x, y = data.digits(100, seed=3)
    assert x.shape == (100, 64) and x.dtype == np.float32 and y.dtype == np.int32
    assert np.all(np.bincount(y, minlength=10) == 10)
    x2, y2 = data.digits(100, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(data.digits(100, seed=4)[0], x)
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_bad_size_fails_clearly():
    with pytest.raises(ValueError, match="n must be in 10..1797"):
        data.digits(5)
