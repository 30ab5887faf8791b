"""Max-pooling before or after APALU: same values and same gradients.

With a, b >= 0 APALU is non-decreasing, so it commutes with a maximum, and
the gradient reaches the same (arg-max) element through either order. The
TFLite export relies on the values; a model built as Conv-BN-MaxPool-APALU
relies on both, and trains at a quarter of the activation's cost
(benchmarks/README.md). Both orders are checked against float64 NumPy.
"""

import numpy as np
import pytest
from keras import ops

from keras_apalu.ops import apalu
from tests import reference
from tests.backend_utils import gradients


def _pool(t):
    return ops.max_pool(t, pool_size=2, strides=2, padding="valid")


ORDERS = {
    "apalu_then_pool": lambda x, a, b, impl: _pool(apalu(x, a, b, implementation=impl)),
    "pool_then_apalu": lambda x, a, b, impl: apalu(_pool(x), a, b, implementation=impl),
}


def _reference(x, a, b, w):
    """Pooled APALU and the gradients of sum(w * out), float64 NumPy."""
    n, h, wd, c = x.shape
    windows = x.reshape(n, h // 2, 2, wd // 2, 2, c).transpose(0, 1, 3, 5, 2, 4)
    windows = windows.reshape(n, h // 2, wd // 2, c, 4)
    arg = windows.argmax(axis=-1)
    top = np.take_along_axis(windows, arg[..., None], -1)[..., 0]
    out = reference.apalu(top, a, b)
    dfdx, dfda, dfdb = reference.derivatives(top, a, b)
    gx = np.zeros_like(windows)
    np.put_along_axis(gx, arg[..., None], (w * dfdx)[..., None], -1)
    gx = gx.reshape(n, h // 2, wd // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    gx = gx.reshape(x.shape)
    ga = reference.sum_to_shape(w * dfda, a.shape)
    gb = reference.sum_to_shape(w * dfdb, b.shape)
    return out, gx, ga, gb


@pytest.mark.parametrize("implementation", ["fused", "plain"])
@pytest.mark.parametrize("order", sorted(ORDERS))
def test_either_order_matches_reference(rng, order, implementation):
    x = rng.normal(scale=2.0, size=(2, 6, 8, 3)).astype(np.float32)
    a = rng.uniform(0.2, 2.0, size=(1, 1, 3)).astype(np.float32)
    b = rng.uniform(0.2, 2.0, size=(1, 1, 3)).astype(np.float32)
    fn = ORDERS[order]
    out, (gx, ga, gb), w = gradients(
        lambda x, a, b: fn(x, a, b, implementation), x, a, b
    )
    want = _reference(
        x.astype(np.float64), a.astype(np.float64), b.astype(np.float64), w
    )
    for got, expected in zip((out, gx, ga, gb), want):
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)
