"""keras_apalu.ops.apalu against the float64 NumPy reference."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_apalu.ops import apalu
from keras_apalu.ops import apalu_derivatives
from keras_apalu.ops import apalu_vjp
from tests import reference
from tests.backend_utils import gradients

TOLERANCE = {
    "float64": dict(rtol=1e-12, atol=1e-12),
    "float32": dict(rtol=2e-6, atol=2e-6),
    "float16": dict(rtol=2e-3, atol=2e-3),
    "bfloat16": dict(rtol=1.6e-2, atol=1.6e-2),
}


def to_f64(t):
    if keras.backend.standardize_dtype(t.dtype) in ("float16", "bfloat16"):
        t = ops.cast(t, "float32")
    return np.asarray(ops.convert_to_numpy(t), np.float64)


def random_case(rng, shape, param):
    x = rng.normal(0.0, 3.0, shape)
    if param == "scalar":
        pshape = ()
    elif param == "channel":
        pshape = (shape[-1],)
    else:
        pshape = shape[1:]
    a = rng.uniform(0.1, 2.0, pshape)
    b = rng.uniform(0.1, 2.0, pshape)
    return x, a, b


IMPLEMENTATIONS = ["fused", "plain"]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(7,), (4, 9), (2, 5, 6, 3)])
@pytest.mark.parametrize("param", ["scalar", "channel", "full"])
def test_forward_matches_reference(x64, rng, dtype, shape, param, implementation):
    x, a, b = random_case(rng, shape, param)
    # Round the inputs to the tested dtype first so only the op's own error
    # is measured.
    xt = ops.cast(ops.convert_to_tensor(x, "float64"), dtype)
    xq = to_f64(xt)
    out = apalu(
        xt, ops.cast(a, dtype), ops.cast(b, dtype), implementation=implementation
    )
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    assert tuple(out.shape) == shape
    aq, bq = to_f64(ops.cast(a, dtype)), to_f64(ops.cast(b, dtype))
    np.testing.assert_allclose(
        to_f64(out), reference.apalu(xq, aq, bq), **TOLERANCE[dtype]
    )


def test_known_values(x64):
    # f(1) = 1 + sigmoid(1.702), f(-1) = exp(-1) - 1 for a = b = 1.
    out = ops.convert_to_numpy(apalu(np.array([-1.0, 0.0, 1.0]), 1.0, 1.0))
    s = 1.0 / (1.0 + np.exp(-1.702))
    np.testing.assert_allclose(out, [np.exp(-1) - 1, 0.0, 1 + s], rtol=1e-12)


@pytest.mark.parametrize("kink", [True, False])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("param", ["scalar", "channel", "full"])
def test_gradients_match_analytic_reference(x64, rng, implementation, param, kink):
    x, a, b = random_case(rng, (3, 4, 5), param)
    x[1, 1, :2] = [-45.0, 45.0]  # both sides far out
    if kink:
        x[0, 0, :2] = 0.0

    def fn(x, a, b):
        return apalu(x, a, b, implementation=implementation)

    out, (gx, ga, gb), w = gradients(fn, x, a, b)
    dx, da, db = reference.derivatives(x, a, b)
    if implementation == "plain":
        # Autodiff through relu takes the left slope b at exactly 0 (and
        # the slope gradients there are 0 either way); the fused VJP takes
        # the right one, 1.5 a, as the reference does.
        dx = np.where(x == 0, np.broadcast_to(b, x.shape), dx)
    np.testing.assert_allclose(out, reference.apalu(x, a, b), rtol=1e-12)
    np.testing.assert_allclose(gx, w * dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        ga, reference.sum_to_shape(w * da, a.shape), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        gb, reference.sum_to_shape(w * db, b.shape), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("param", ["channel", "full"])
def test_fused_agrees_with_plain(rng, param):
    x, a, b = random_case(rng, (6, 8), param)
    x = x.astype("float32")
    a, b = a.astype("float32"), b.astype("float32")
    _, fused, _ = gradients(lambda *t: apalu(*t, implementation="fused"), x, a, b)
    _, plain, _ = gradients(lambda *t: apalu(*t, implementation="plain"), x, a, b)
    for g_fused, g_plain in zip(fused, plain):
        np.testing.assert_allclose(g_fused, g_plain, rtol=2e-5, atol=1e-6)


def test_fused_gradient_agrees_with_finite_differences(x64, rng):
    x, a, b = random_case(rng, (5,), "scalar")
    x = np.where(np.abs(x) < 1e-3, 0.5, x)  # keep away from the kink at 0
    _, (gx, ga, gb), w = gradients(apalu, x, a, b)
    eps = 1e-6

    def loss(x_, a_, b_):
        x_, a_, b_ = (
            ops.convert_to_tensor(np.asarray(v, np.float64)) for v in (x_, a_, b_)
        )
        return float(np.sum(ops.convert_to_numpy(apalu(x_, a_, b_)) * w))

    fd_x = np.array(
        [
            (loss(x + eps * e, a, b) - loss(x - eps * e, a, b)) / (2 * eps)
            for e in np.eye(x.size)
        ]
    )
    fd_a = (loss(x, a + eps, b) - loss(x, a - eps, b)) / (2 * eps)
    fd_b = (loss(x, a, b + eps) - loss(x, a, b - eps)) / (2 * eps)
    np.testing.assert_allclose(gx, fd_x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ga, fd_a, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gb, fd_b, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("layout", ["flat", "matrix"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "dtype, limit", [("float32", 1e4), ("float16", 1e4), ("bfloat16", 1e4)]
)
def test_no_nan_or_inf_for_large_inputs(dtype, limit, implementation, layout):
    # a = b = 1.5 keeps f(x) = 2 a x and each element's gradient within
    # float16's range for |x| <= 1e4; a and b are per element, since the sum
    # of 2000 gradients into one scalar would be out of range by itself.
    x = np.concatenate(
        [
            np.linspace(-limit, limit, 2001),
            [-limit, -88.0, -20.0, -1e-30, 0.0, 1e-30, 20.0, 88.0, limit],
        ]
    ).astype("float32")
    if layout == "matrix":  # per-element slopes of a (batch, features) input
        x = x.reshape(2, -1)
    xt = ops.cast(x, dtype)
    a = ops.cast(np.full(x.shape, 1.5), dtype)
    b = ops.cast(np.full(x.shape, 1.5), dtype)

    def fn(x_, a_, b_):
        return apalu(x_, a_, b_, implementation=implementation)

    out, grads, _ = gradients(fn, xt, a, b)
    for value in [out, *grads]:
        assert np.all(np.isfinite(np.asarray(value, np.float32))), dtype
    # Saturation: f(-1e4) = -b exactly, f(1e4) = 2 a x.
    out = np.asarray(out).reshape(-1)
    assert np.float32(out[0]) == pytest.approx(-1.5, rel=1e-2)
    assert np.float32(out[2000]) == pytest.approx(3.0 * limit, rel=1e-2)


def test_no_nan_or_inf_float32_scalar_parameters():
    x = np.array([-1e4, -100.0, -1e-30, 0.0, 1e-30, 100.0, 1e4], "float32")
    for implementation in IMPLEMENTATIONS:

        def fn(*t, impl=implementation):
            return apalu(*t, implementation=impl)

        out, grads, _ = gradients(fn, x, np.float32(1.0), np.float32(1.0))
        for value in [out, *grads]:
            assert np.all(np.isfinite(value))


def test_derivatives_match_reference(x64, rng):
    x, a, b = random_case(rng, (50,), "full")
    for got, want in zip(apalu_derivatives(x, a, b), reference.derivatives(x, a, b)):
        np.testing.assert_allclose(ops.convert_to_numpy(got), want, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_integer_input_is_rejected(dtype):
    with pytest.raises(TypeError, match="floating-point"):
        apalu(ops.cast(np.arange(4), dtype), 1.0, 1.0)


def test_complex_input_is_rejected():
    if keras.backend.backend() == "jax":
        x = np.array([1 + 1j, -1j], np.complex64)
    else:
        x = ops.convert_to_tensor(np.array([1 + 1j, -1j], np.complex64))
    with pytest.raises(TypeError, match="complex"):
        apalu(x, 1.0, 1.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["rows", "channel", "scalar"])
def test_vjp_matches_reference(x64, rng, dtype, layout):
    """`apalu_vjp` itself (what every fused kernel compiles), with |x| up
    to 1e4 and the kink, against the float64 reference."""
    shape, pshape = {
        "rows": ((41, 6), (1, 6)),
        "channel": ((3, 5, 7, 6), (6,)),
        "scalar": ((41, 6), ()),
    }[layout]
    x = rng.normal(0.0, 3.0, shape)
    x.flat[:6] = [0.0, -0.0, 1e4, -1e4, 60.0, -60.0]
    a = rng.uniform(0.1, 2.0, pshape)
    b = rng.uniform(0.1, 2.0, pshape)
    w = rng.normal(0.0, 1.0, shape)
    dx, da, db = apalu_vjp(
        *[ops.convert_to_tensor(np.asarray(v, dtype)) for v in (x, a, b, w)]
    )
    ref_dx, ref_da, ref_db = reference.derivatives(x, a, b)
    want = (
        w * ref_dx,
        reference.sum_to_shape(w * ref_da, pshape),
        reference.sum_to_shape(w * ref_db, pshape),
    )
    tol = (
        dict(rtol=1e-5, atol=1e-3)
        if dtype == "float32"
        else dict(rtol=1e-10, atol=1e-9)
    )
    for got, ref in zip((dx, da, db), want):
        assert tuple(got.shape) == np.shape(ref)
        np.testing.assert_allclose(to_f64(got), ref, **tol)


@pytest.mark.parametrize("dtype, tol", [("float16", 2e-3), ("bfloat16", 1e-2)])
def test_vjp_sums_half_precision_slopes_in_float32(rng, dtype, tol):
    """2048 slope-gradient terms per channel: summed in float16 the small
    ones would be lost; the sums are accumulated in float32, rounded once."""
    x = rng.normal(0.0, 2.0, (2048, 4))
    w = rng.uniform(0.5, 1.5, x.shape)
    a = np.full((4,), 1.5)
    xt, wt = (ops.cast(v, dtype) for v in (x, w))
    xq, wq = (to_f64(v) for v in (xt, wt))
    _, da, db = apalu_vjp(xt, ops.cast(a, dtype), ops.cast(a, dtype), wt)
    assert keras.backend.standardize_dtype(da.dtype) == dtype
    _, ref_da, ref_db = reference.derivatives(xq, a, a)
    for got, ref in ((da, ref_da), (db, ref_db)):
        np.testing.assert_allclose(to_f64(got), (wq * ref).sum(axis=0), rtol=tol)


@pytest.mark.parametrize("value", ["ops", "autodiff", "one_exp", "xla", None])
def test_removed_implementations_are_rejected(value):
    with pytest.raises(ValueError, match="'fused' or 'plain'") as error:
        apalu(np.ones(3, "float32"), 1.0, 1.0, implementation=value)
    if value in ("ops", "autodiff"):
        assert "use 'plain'" in str(error.value)


def test_removed_keywords_are_rejected():
    x = np.ones(3, "float32")
    with pytest.raises(TypeError, match="custom_gradient"):
        apalu(x, 1.0, 1.0, custom_gradient=False)
    with pytest.raises(TypeError, match="select_free"):
        apalu(x, 1.0, 1.0, select_free=True)
    with pytest.raises(TypeError):
        apalu(x, 1.0, 1.0, False)  # 0.1.0's positional custom_gradient
