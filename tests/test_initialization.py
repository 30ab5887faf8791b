"""Fitted initialisation: keras_apalu.initialization and APALU(init=...).

The fits are checked against an independent bounded least-squares solve
(scipy.optimize.least_squares on the paper's piecewise APALU of
tests/reference.py, targets written here with scipy.special).
"""

import keras
import numpy as np
import pytest
from scipy import optimize
from scipy import special

from keras_apalu import initialization
from keras_apalu.layers import APALU
from tests import reference

_TARGETS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.minimum(np.maximum(x, 0.0), 6.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1.0),
    "gelu": lambda x: x * special.ndtr(x),
    "silu": lambda x: x * special.expit(x),
    "swish": lambda x: x * special.expit(x),
}


def _independent_fit(target, x_range=(-4.0, 4.0), smooth=False, points=4001):
    x = np.linspace(*x_range, points)
    t = target(x)
    if smooth:
        residual = lambda p: reference.apalu(x, p[0], 1.5 * p[0]) - t  # noqa: E731
        solved = optimize.least_squares(
            residual, [1.0], bounds=([1e-3], [np.inf]), xtol=1e-14, ftol=1e-14
        )
        return solved.x[0], 1.5 * solved.x[0], x, t
    residual = lambda p: reference.apalu(x, p[0], p[1]) - t  # noqa: E731
    solved = optimize.least_squares(
        residual,
        [1.0, 1.0],
        bounds=([1e-3, 1e-3], [np.inf, np.inf]),
        xtol=1e-14,
        ftol=1e-14,
    )
    return solved.x[0], solved.x[1], x, t


@pytest.mark.parametrize("name", sorted(_TARGETS))
def test_named_fit_matches_an_independent_least_squares(name):
    a, b, x, t = _independent_fit(_TARGETS[name])
    result = initialization.fit(name)
    np.testing.assert_allclose([result.a, result.b], [a, b], rtol=1e-6, atol=1e-7)
    residual = reference.apalu(x, result.a, result.b) - t
    assert result.rms_error == pytest.approx(np.sqrt(np.mean(residual**2)), rel=1e-6)
    assert result.max_error == pytest.approx(np.max(np.abs(residual)), rel=1e-6)


def test_relu_fit_sits_on_the_constraint():
    # ReLU is 0 for x < 0; the unconstrained best b is 0, the floor is 1e-3.
    assert initialization.fit("relu").b == initialization.MIN_VALUE


@pytest.mark.parametrize("x_range", [(-2.0, 2.0), (-1.0, 6.0)])
def test_smooth_and_other_ranges(x_range):
    a, b, _, _ = _independent_fit(_TARGETS["gelu"], x_range, smooth=True)
    result = initialization.fit("gelu", x_range=x_range, smooth=True)
    np.testing.assert_allclose([result.a, result.b], [a, b], rtol=1e-6)
    a, b, _, _ = _independent_fit(_TARGETS["elu"], x_range)
    result = initialization.fit("elu", x_range=x_range)
    np.testing.assert_allclose([result.a, result.b], [a, b], rtol=1e-6)


def test_callable_target():
    def softsign(x):
        return x / (1.0 + np.abs(x))

    a, b, _, _ = _independent_fit(softsign)
    result = initialization.fit(softsign)
    np.testing.assert_allclose([result.a, result.b], [a, b], rtol=1e-6)
    assert result.target == "softsign"
    # A keras.activations function is accepted too (float32 under JAX).
    keras_fit = initialization.fit(keras.activations.elu)
    np.testing.assert_allclose(
        [keras_fit.a, keras_fit.b], [initialization.fit("elu").a, 1.0], rtol=1e-4
    )


def test_named_fits_are_cached():
    assert initialization.fit("gelu") is initialization.fit("gelu")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(target="tanh"), ValueError, "Unknown target activation 'tanh'"),
        (dict(target=3), TypeError, "activation name or a callable"),
        (dict(target="relu", x_range=(0.0, 4.0)), ValueError, "contain 0"),
        (dict(target="relu", num_points=2), ValueError, "num_points"),
        (dict(target=lambda x: x[:3]), ValueError, "elementwise"),
    ],
)
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        initialization.fit(**kwargs)


@pytest.mark.parametrize("name", ["relu", "gelu", "silu"])
def test_layer_starts_as_the_fit(name):
    layer = APALU(init=name, shared_axes=[1])
    x = np.linspace(-4.0, 4.0, 801, dtype="float32").reshape(1, -1, 1)
    y = keras.ops.convert_to_numpy(layer(x)).ravel()
    result = initialization.fit(name)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.a), result.a, rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.b), result.b, rtol=1e-6)
    expected = _TARGETS[name](x.astype(np.float64).ravel())
    assert np.max(np.abs(y - expected)) <= result.max_error + 1e-5


def test_layer_config_round_trip_and_saving(tmp_path):
    layer = APALU(init="elu", smooth=True)
    config = layer.get_config()
    assert config["init"] == "elu"
    assert config["a_initializer"] is None
    clone = APALU.from_config(config)
    model = keras.Sequential([keras.Input((3,)), clone])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone.a),
        initialization.fit("elu", smooth=True).a,
        rtol=1e-6,
    )
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.layers[-1].init == "elu"


def test_layer_with_callable_init_keeps_the_constants_in_its_config():
    layer = APALU(init=lambda x: np.where(x > 0, x, 0.3 * x))
    config = layer.get_config()
    assert config["init"] is None
    clone = APALU.from_config(config)
    clone.build((None, 2))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone.b),
        _independent_fit(lambda x: np.where(x > 0, x, 0.3 * x))[1],
        rtol=1e-5,
    )


def test_layer_rejects_init_with_initializers():
    with pytest.raises(ValueError, match="either init='relu' or a_initializer"):
        APALU(init="relu", a_initializer="ones")
