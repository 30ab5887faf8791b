"""The solvers against ODEs with known solutions (float64 NumPy/SciPy references)."""

import math

import keras
import numpy as np
import pytest
from scipy.linalg import expm

from applications.neural_ode import solvers

# A damped rotation in 3-d: y(t) = expm(t M) y0.
M = np.array([[-0.3, 1.0, 0.0], [-1.0, -0.3, 0.5], [0.0, -0.5, -0.1]])
Y0 = np.array([[1.0, -0.5, 0.25], [0.3, 0.8, -1.0]])  # two states, as a batch


def linear_field(t, y):
    m = keras.ops.convert_to_tensor(
        M.T.astype(keras.backend.standardize_dtype(y[0].dtype))
    )
    return [keras.ops.einsum("bi,ij->bj", y[0], m)]


def linear_exact(t):
    return Y0 @ expm(t * M).T


def nonautonomous_field(t, y):
    """dy/dt = cos(t) y, solved by y0 exp(sin t)."""
    return [math.cos(t) * y[0]]


def solve_error(method, steps, field=linear_field, t1=2.0):
    y, stats = solvers.odeint(
        field, [keras.ops.convert_to_tensor(Y0)], 0.0, t1, method=method, steps=steps
    )
    exact = linear_exact(t1) if field is linear_field else Y0 * np.exp(np.sin(t1))
    assert stats.steps == steps
    return np.max(np.abs(keras.ops.convert_to_numpy(y[0]) - exact))


@pytest.mark.parametrize("field", [linear_field, nonautonomous_field])
@pytest.mark.parametrize("method, order", [("euler", 1), ("rk4", 4)])
def test_measured_order_of_convergence(x64, method, order, field):
    steps = [16, 32, 64, 128] if method == "rk4" else [64, 128, 256, 512]
    errors = [solve_error(method, n, field) for n in steps]
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.15, (errors, slope)


def test_backwards_integration_returns_to_the_start(x64):
    y0 = [keras.ops.convert_to_tensor(Y0)]
    y1, _ = solvers.odeint(linear_field, y0, 0.0, 1.5, method="rk4", steps=200)
    back, _ = solvers.odeint(linear_field, y1, 1.5, 0.0, method="rk4", steps=200)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back[0]), Y0, atol=1e-10)


def test_list_state_is_integrated_elementwise(x64):
    """Two tensors in the state: each follows its own equation."""
    y0 = [keras.ops.convert_to_tensor(Y0), keras.ops.convert_to_tensor(np.ones((4,)))]
    y1, _ = solvers.odeint(
        lambda t, y: [linear_field(t, y)[0], -2.0 * y[1]],
        y0,
        0.0,
        1.0,
        method="rk4",
        steps=100,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(y1[0]), linear_exact(1.0), atol=1e-9
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(y1[1]), np.exp(-2.0) * np.ones(4), atol=1e-9
    )


@pytest.mark.parametrize("rtol", [1e-3, 1e-5, 1e-7, 1e-9])
@pytest.mark.parametrize("field", [linear_field, nonautonomous_field])
def test_dopri5_respects_its_tolerance(x64, rtol, field):
    atol = rtol * 1e-2
    t1 = 3.0
    y, stats = solvers.odeint(
        field,
        [keras.ops.convert_to_tensor(Y0)],
        0.0,
        t1,
        method="dopri5",
        rtol=rtol,
        atol=atol,
    )
    exact = linear_exact(t1) if field is linear_field else Y0 * np.exp(np.sin(t1))
    error = np.abs(keras.ops.convert_to_numpy(y[0]) - exact)
    # Global error within a small multiple of the local tolerance.
    assert np.all(error <= 10 * (atol + rtol * np.abs(exact))), (error, stats)
    assert stats.steps >= 1 and stats.evaluations >= 6 * stats.steps


def test_dopri5_takes_more_steps_for_tighter_tolerances(x64):
    counts = []
    for rtol in [1e-3, 1e-6, 1e-9]:
        _, stats = solvers.odeint(
            linear_field,
            [keras.ops.convert_to_tensor(Y0)],
            0.0,
            3.0,
            method="dopri5",
            rtol=rtol,
            atol=rtol * 1e-2,
        )
        counts.append(stats.steps)
    assert counts[0] < counts[1] < counts[2], counts


def test_dopri5_backwards(x64):
    y, _ = solvers.odeint(
        linear_field,
        [keras.ops.convert_to_tensor(linear_exact(2.0))],
        2.0,
        0.0,
        method="dopri5",
        rtol=1e-9,
        atol=1e-11,
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y[0]), Y0, atol=1e-7)


def test_float32_state_stays_float32():
    y, _ = solvers.odeint(
        linear_field,
        [keras.ops.convert_to_tensor(Y0.astype("float32"))],
        0.0,
        1.0,
        method="rk4",
        steps=4,
    )
    assert keras.backend.standardize_dtype(y[0].dtype) == "float32"


def test_bad_arguments_fail_clearly():
    y0 = [keras.ops.ones((2,))]
    with pytest.raises(ValueError, match="unknown solver method"):
        solvers.odeint(linear_field, y0, 0.0, 1.0, method="heun", steps=2)
    with pytest.raises(ValueError, match="needs steps"):
        solvers.odeint(linear_field, y0, 0.0, 1.0, method="rk4")
    with pytest.raises(ValueError, match="positive int"):
        solvers.odeint(linear_field, y0, 0.0, 1.0, method="euler", steps=0)
    with pytest.raises(ValueError, match="rtol and atol"):
        solvers.odeint(linear_field, y0, 0.0, 1.0, method="dopri5", rtol=0.0)
    with pytest.raises(ValueError, match="list of tensors"):
        solvers.odeint(
            linear_field, keras.ops.ones((2,)), 0.0, 1.0, method="rk4", steps=2
        )
    with pytest.raises(RuntimeError, match="max_steps"):
        solvers.odeint(
            lambda t, y: [1e3 * keras.ops.sin(1e3 * t + y[0])],
            y0,
            0.0,
            10.0,
            method="dopri5",
            rtol=1e-10,
            atol=1e-12,
            max_steps=5,
        )
