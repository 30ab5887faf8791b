"""Adjoint and backprop gradients against finite differences of a NumPy reference."""

import functools

import keras
import numpy as np
import pytest

from applications.neural_ode import gradients
from applications.neural_ode import model
from applications.neural_ode.adjoint import adjoint_gradients
from tests.applications.neural_ode import reference

WIDTH, INPUTS, OUTPUTS, BATCH = 4, 3, 3, 5


def tiny_problem(activation, seed=0):
    config = model.ODEConfig(
        activation=activation,
        width=WIDTH,
        inputs=INPUTS,
        outputs=OUTPUTS,
        dtype="float64",
    )
    outer, theta = model.init_params(config, seed)
    rng = np.random.default_rng(seed + 100)
    x = rng.standard_normal((BATCH, INPUTS))
    labels = rng.integers(0, OUTPUTS, BATCH)
    # Non-zero biases, so that the time and bias terms are exercised.
    theta["c"] = keras.ops.convert_to_tensor(0.3 * rng.standard_normal(WIDTH))
    outer["B0"] = keras.ops.convert_to_tensor(0.1 * rng.standard_normal(OUTPUTS))
    return config, outer, theta, x, labels


def numpy_params(outer, theta):
    return {
        k: keras.ops.convert_to_numpy(v).astype(np.float64)
        for k, v in {**outer, **theta}.items()
    }


@functools.cache
def finite_differences(activation, steps):
    """Central differences of the NumPy loss (RK4, `steps` steps) of tiny_problem."""
    config, outer, theta, x, labels = tiny_problem(activation)
    return reference.finite_difference_gradient(
        lambda p: reference.loss(activation, p, x, labels, WIDTH, INPUTS, steps),
        numpy_params(outer, theta),
    )


# (activation, gradient, solver, steps of the NumPy RK4 differenced, rtol).
# Backprop is the exact gradient of the discrete solve, so it is compared
# with the differences of the same RK4; the adjoint converges to the gradient
# of the exact solution, so it is compared with those of a fine RK4.
CASES = [
    ("apalu_smooth", "backprop", dict(method="rk4", steps=8), 8, 1e-6),
    ("apalu_smooth", "adjoint", dict(method="dopri5", rtol=1e-7, atol=1e-9), 48, 1e-4),
    ("softplus", "adjoint", dict(method="rk4", steps=16), 48, 1e-4),
]


@pytest.mark.slow
@pytest.mark.parametrize("activation, gradient, solver, fd_steps, rtol", CASES)
def test_gradient_matches_finite_differences(
    x64, activation, gradient, solver, fd_steps, rtol
):
    config, outer, theta, x, labels = tiny_problem(activation)
    params = numpy_params(outer, theta)
    expected = finite_differences(activation, fd_steps)
    loss, grads, info = gradients.loss_and_gradients(
        config,
        outer,
        theta,
        keras.ops.convert_to_tensor(x),
        keras.ops.convert_to_tensor(labels),
        gradient=gradient,
        **solver,
    )
    np.testing.assert_allclose(
        float(loss),
        reference.loss(activation, params, x, labels, WIDTH, INPUTS, 48),
        rtol=1e-6,
    )
    scale = max(np.max(np.abs(v)) for v in expected.values())
    for key, value in expected.items():
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(grads[key]),
            value,
            rtol=rtol,
            atol=rtol * scale,
            err_msg=key,
        )
    assert info["forward_steps"] >= 1
    assert (info["backward_steps"] >= 1) == (gradient == "adjoint")


def test_adjoint_of_a_linear_ode_equals_the_matrix_exponential(x64):
    """dh/dt = h W: dL/dh(0) = expm(W) dL/dh(1) for L = <g, h(1)>, and
    dL/dW from the integral formula, summed by a fine quadrature."""
    from scipy.integrate import simpson
    from scipy.linalg import expm

    rng = np.random.default_rng(3)
    w = 0.5 * rng.standard_normal((3, 3))
    h0 = rng.standard_normal((2, 3))
    g = rng.standard_normal((2, 3))

    def field_fn(params, h, t):
        return keras.ops.einsum("bi,ij->bj", h, params[0])

    h1 = h0 @ expm(w)
    grad_h0, (grad_w,), stats = adjoint_gradients(
        field_fn,
        [keras.ops.convert_to_tensor(w)],
        keras.ops.convert_to_tensor(h1),
        keras.ops.convert_to_tensor(g),
        0.0,
        1.0,
        method="rk4",
        steps=40,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(grad_h0), g @ expm(w).T, atol=1e-7
    )
    # dL/dW = int_0^1 h(t)^T a(t) dt with h(t) = h0 e^{tW}, a(t) = g e^{(1-t)W}^T.
    ts = np.linspace(0.0, 1.0, 201)
    integrand = [(h0 @ expm(t * w)).T @ (g @ expm((1 - t) * w).T) for t in ts]
    expected = simpson(integrand, x=ts, axis=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grad_w), expected, atol=1e-6)
    assert stats.steps == 40


@pytest.mark.parametrize("activation", ["apalu", "relu", "gelu"])
def test_every_activation_matches_the_numpy_model(x64, activation):
    config, outer, theta, x, labels = tiny_problem(activation, seed=1)
    params = numpy_params(outer, theta)
    out = model.forward(
        config, outer, theta, keras.ops.convert_to_tensor(x), method="rk4", steps=10
    )
    h = x @ params["A"] / np.sqrt(INPUTS)
    h = reference.rk4(
        lambda t, y: reference.field(activation, params, y, t, WIDTH), h, 0.0, 1.0, 10
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out),
        h @ params["B"] / np.sqrt(WIDTH) + params["B0"],
        rtol=1e-7,
    )


@pytest.mark.slow
def test_kinked_adjoint_and_backprop_agree_as_steps_grow(x64):
    """For a kinked field both gradients still converge to one another."""
    config, outer, theta, x, labels = tiny_problem("relu", seed=2)
    args = (
        config,
        outer,
        theta,
        keras.ops.convert_to_tensor(x),
        keras.ops.convert_to_tensor(labels),
    )
    differences = []
    for steps in (2, 16):
        _, adj, _ = gradients.loss_and_gradients(*args, gradient="adjoint", steps=steps)
        _, bp, _ = gradients.loss_and_gradients(*args, gradient="backprop", steps=steps)
        differences.append(
            max(np.max(np.abs(keras.ops.convert_to_numpy(adj[k] - bp[k]))) for k in adj)
        )
    assert differences[1] < differences[0] and differences[1] < 1e-4, differences


def test_unknown_gradient_method_fails_clearly():
    config, outer, theta, x, labels = tiny_problem("tanh")
    with pytest.raises(ValueError, match="gradient must be one of"):
        gradients.loss_and_gradients(config, outer, theta, x, labels, gradient="fd")


def test_bad_configuration_fails_clearly():
    with pytest.raises(ValueError, match="unknown activation"):
        model.ODEConfig(activation="swish")
    with pytest.raises(ValueError, match="horizon"):
        model.ODEConfig(horizon=0.0)
    with pytest.raises(ValueError, match="dtype"):
        model.ODEConfig(dtype="float16")
