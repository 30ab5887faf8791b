"""ProductDense computes the LRNN layer's formula and behaves like a Keras layer.

The reference is an independent float64 NumPy implementation written from the
formula (loops over neurons and functions, no vectorisation shared with the
layer); gradients are checked against central finite differences of it.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from keras_apalu import layers
from tests.backend_utils import gradients
from tests.conftest import REPO

WEIGHT_NAMES = (
    "kernel",
    "bias",
    "function_kernel",
    "function_bias",
    "function_output",
    "function_output_bias",
)

NUMPY_PHI = {
    "sin": lambda t, w0: np.sin(w0 * t),
    "spder": lambda t, w0: np.sin(w0 * t) * np.sqrt(np.abs(w0 * t)),
    "tanh": lambda t, w0: np.tanh(t),
    "relu": lambda t, w0: np.maximum(t, 0.0),
}


def reference(x, weights, units, d, phi, omega_0, share):
    """y[b, l] = prod_j (1 + d**-0.5 * g_lj(z_blj)), in float64 with loops."""
    kernel, bias, u, a, v, c = (np.asarray(w, np.float64) for w in weights)
    x = np.asarray(x, np.float64)
    out = np.ones((x.shape[0], units))
    for l in range(units):
        for j in range(d):
            column = l * d + j
            z = x @ kernel[:, column] + bias[column]
            idx = (j,) if share else (l, j)
            hidden = phi(np.outer(z, u[idx]) + a[idx], omega_0)
            g = hidden @ v[idx] + c[idx]
            out[:, l] *= 1.0 + g / np.sqrt(d)
    return out


def numpy_weights(layer):
    return [
        ops.convert_to_numpy(getattr(layer, name)).astype(np.float64)
        for name in WEIGHT_NAMES
    ]


def randomise(layer, rng, scale=0.7):
    """Gives every weight a random value (the default c is zero)."""
    for name in WEIGHT_NAMES:
        variable = getattr(layer, name)
        variable.assign(rng.normal(0, scale, variable.shape).astype(variable.dtype))


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("inner", ["sin", "spder", "tanh", "relu"])
def test_values_match_numpy_reference(rng, inner, share):
    layer = layers.ProductDense(
        3,
        projection_width=4,
        hidden=5,
        inner_activation=inner,
        omega_0=2.0,
        share_functions=share,
    )
    x = rng.normal(0, 1, (7, 6)).astype("float32")
    layer.build(x.shape)
    randomise(layer, rng)
    want = reference(x, numpy_weights(layer), 3, 4, NUMPY_PHI[inner], 2.0, share)
    got = ops.convert_to_numpy(layer(x))
    assert got.shape == (7, 3)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * np.abs(want).max())


def _finite_differences(f, arrays, eps=1e-6):
    grads = []
    for k, array in enumerate(arrays):
        grad = np.zeros_like(array)
        for i in np.ndindex(array.shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[k][i] += eps
            minus[k][i] -= eps
            grad[i] = (f(*plus) - f(*minus)) / (2 * eps)
        grads.append(grad)
    return grads


# Keras 3 on torch computes matmul and prod of float64 tensors in float32
# (its result_type maps 64-bit to 32-bit types outside TensorFlow), so there
# the check runs in float32 with float32 tolerances.
FLOAT64 = keras.backend.backend() != "torch"


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("inner", ["sin", "tanh"])
def test_gradients_match_finite_differences(rng, x64, inner, share):
    units, d = 2, 3
    dtype = "float64" if FLOAT64 else "float32"
    layer = layers.ProductDense(
        units,
        projection_width=d,
        hidden=2,
        inner_activation=inner,
        omega_0=1.5,
        share_functions=share,
        dtype=dtype,
    )
    x = rng.normal(0, 1, (4, 3))
    layer.build(x.shape)
    randomise(layer, rng)
    weights = numpy_weights(layer)

    def fn(x, *trainable):
        return layer.stateless_call(list(trainable), [], x)[0]

    # Tensors made here: torch would convert float64 NumPy arrays to float32.
    out, grads, w = gradients(
        fn, *(ops.convert_to_tensor(a, dtype) for a in (x, *weights))
    )
    phi = NUMPY_PHI[inner]

    def loss(x, *ws):
        return float(np.sum(reference(x, ws, units, d, phi, 1.5, share) * w))

    # float64: 1e-7, not 1e-15, as XLA's float64 sin and cos on CPU (JAX)
    # are accurate to about 5e-8 only.
    tol = 1e-7 if FLOAT64 else 2e-6
    np.testing.assert_allclose(
        out, reference(x, weights, units, d, phi, 1.5, share), rtol=tol, atol=tol
    )
    want = _finite_differences(loss, [x, *weights])
    rtol, atol = (1e-5, 1e-6) if FLOAT64 else (2e-4, 2e-5)
    for name, got, expected in zip(("x",) + WEIGHT_NAMES, grads, want):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("share", [False, True])
def test_width_one_with_a_fixed_function_is_a_dense_layer(rng, share):
    """d = 1, g(s) = relu(1 * s + 0) * 1 - 1: y = 1 + g(z) = relu(x W + b)."""
    layer = layers.ProductDense(
        5, projection_width=1, hidden=1, inner_activation="relu", share_functions=share
    )
    dense = keras.layers.Dense(5, activation="relu")
    x = rng.normal(0, 1, (9, 4)).astype("float32")
    layer.build(x.shape)
    dense.build(x.shape)
    kernel = rng.normal(0, 1, (4, 5)).astype("float32")
    bias = rng.normal(0, 1, (5,)).astype("float32")
    dense.set_weights([kernel, bias])
    fn_shape = (1, 1) if share else (5, 1, 1)
    layer.set_weights(
        [
            kernel,
            bias,
            np.ones(fn_shape),
            np.zeros(fn_shape),
            np.ones(fn_shape),
            -np.ones(fn_shape[:-1]),
        ]
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x)),
        np.maximum(x.astype(np.float64) @ kernel + bias, 0),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x)),
        ops.convert_to_numpy(dense(x)),
        rtol=1e-5,
        atol=1e-5,
    )


def _init_variances(d, inner):
    # 64 x 128 samples: with an unbounded inner activation (APALU) the
    # product is heavy-tailed, and fewer samples give a noisy variance.
    keras.utils.set_random_seed(0)
    inner = layers.APALU(shared_axes=[3]) if inner == "apalu" else inner
    layer = layers.ProductDense(
        64, projection_width=d, hidden=2, inner_activation=inner
    )
    x = np.random.default_rng(0).normal(0, 1, (128, 16)).astype("float32")
    out, (grad,), _ = gradients(layer, x)
    return float(out.var()), float(grad.var())


@pytest.mark.slow
@pytest.mark.parametrize("inner", ["sin", "apalu"])
def test_variance_at_initialisation_is_bounded_in_d(inner):
    """The paper's lemma: gamma = d**-0.5 keeps Var[y] and Var[dy/dx] O(1).

    With zero-mean g of variance ~1 (the default initialisation),
    E[y^2] = (1 + 1/d)^d <= e, so Var[y] <= e - 1 for every d; without gamma
    Var[y] would be 2^d - 1 (1.2e77 at d = 256).
    """
    widths = [1, 16, 256]
    out_var, grad_var = zip(*(_init_variances(d, inner) for d in widths))
    assert all(0.1 < v < 4.0 for v in out_var), dict(zip(widths, out_var))
    # Input gradients: bounded independently of d (their scale depends on the
    # inner activation's slope, omega_0 for sin).
    assert max(grad_var) / min(grad_var) < 5.0, dict(zip(widths, grad_var))
    assert np.isfinite(grad_var).all()


@pytest.mark.parametrize("share", [False, True])
def test_shapes_and_parameter_count(share):
    layer = layers.ProductDense(6, projection_width=4, hidden=3, share_functions=share)
    out = layer(np.zeros((2, 5, 7), "float32"))
    assert tuple(out.shape) == (2, 5, 6)
    assert layer.compute_output_shape((None, 5, 7)) == (None, 5, 6)
    fn = (4, 3) if share else (6, 4, 3)
    assert [tuple(w.shape) for w in layer.weights] == [
        (7, 24),
        (24,),
        fn,
        fn,
        fn,
        fn[:-1],
    ]
    functions = 4 * (3 * 3 + 1) * (1 if share else 6)
    assert layer.count_params() == 7 * 24 + 24 + functions
    assert layer.gamma == 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0}, "units must be >= 1"),
        ({"units": -3}, "units must be >= 1"),
        ({"units": 2.5}, "units must be a positive integer"),
        ({"units": 4, "projection_width": 0}, "projection_width must be >= 1"),
        ({"units": 4, "hidden": 0}, "hidden must be >= 1"),
        ({"units": 4, "inner_activation": "no_such_thing"}, "unknown inner_activation"),
        ({"units": 4, "inner_activation": None}, "inner_activation cannot be None"),
        ({"units": 4, "omega_0": 0.0}, "omega_0"),
        ({"units": 4, "kernel_initializer": "no_such_thing"}, "kernel_initializer"),
        ({"units": 4, "function_regularizer": "no_such_thing"}, "function_regularizer"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.ProductDense(**kwargs)


def test_unknown_input_size_is_rejected():
    with pytest.raises(ValueError, match="known size"):
        layers.ProductDense(3).build((None, None))


def test_training_fits_a_product_target(rng):
    keras.utils.set_random_seed(0)
    x = rng.uniform(-1, 1, (256, 2)).astype("float32")
    y = (np.sin(3 * x[:, :1]) * np.cos(2 * x[:, 1:])).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((2,)),
            layers.ProductDense(8, projection_width=4, hidden=4, omega_0=3.0),
            keras.layers.LayerNormalization(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    history = model.fit(x, y, epochs=60, batch_size=256, verbose=0)
    assert history.history["loss"][-1] < 0.1 * float(np.var(y))


def _apalu_model():
    return keras.Sequential(
        [
            keras.Input((3,)),
            layers.ProductDense(
                4,
                projection_width=3,
                hidden=2,
                inner_activation=layers.APALU(shared_axes=[3]),
            ),
            keras.layers.LayerNormalization(),
            layers.ProductDense(
                2,
                projection_width=2,
                hidden=3,
                share_functions=True,
                inner_activation="tanh",
                kernel_regularizer="l2",
            ),
        ]
    )


def test_config_round_trip():
    layer = layers.ProductDense(
        5,
        projection_width=3,
        hidden=2,
        inner_activation="spder",
        omega_0=4.0,
        share_functions=True,
        function_output_initializer="ones",
        kernel_regularizer="l2",
        bias_constraint="non_neg",
        name="lrnn",
    )
    clone = layers.ProductDense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    inner = layers.ProductDense(2, inner_activation=layers.APALU(smooth=True))
    config = inner.get_config()
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(inner)
    )
    assert isinstance(clone.inner_layer, layers.APALU) and clone.inner_layer.smooth
    assert clone.get_config()["inner_activation"]["config"]["smooth"]
    assert config["inner_activation"]["class_name"] == "APALU"


def test_save_and_load_round_trip(tmp_path, rng):
    model = _apalu_model()
    x = rng.normal(0, 1, (5, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)),
        ops.convert_to_numpy(model(x)),
        rtol=0,
        atol=1e-6,
    )
    assert isinstance(loaded.layers[0].inner_layer, layers.APALU)


LOAD_SCRIPT = """
import sys, numpy as np, keras
import keras_apalu  # registers the layers
model = keras.saving.load_model(sys.argv[1])
np.save(sys.argv[3], keras.ops.convert_to_numpy(model(np.load(sys.argv[2]))))
print(keras.backend.backend())
"""

# Each backend's model is loaded by the next one: every backend saves once and
# loads once over the three CI passes.
NEXT_BACKEND = {"tensorflow": "jax", "jax": "torch", "torch": "tensorflow"}


@pytest.mark.slow
def test_model_saved_here_loads_under_the_next_backend(tmp_path, rng):
    keras.utils.set_random_seed(5)
    model = _apalu_model()
    x = rng.normal(0, 1, (6, 3)).astype("float32")
    model.compile("adam", "mse")
    model.fit(x, rng.normal(0, 1, (6, 2)), epochs=1, verbose=0)
    want = ops.convert_to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    other = NEXT_BACKEND[keras.backend.backend()]
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_SCRIPT,
            str(tmp_path / "m.keras"),
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
        ],
        cwd=REPO,
        env=dict(os.environ, KERAS_BACKEND=other),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == other
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "policy, dtype, rtol",
    [("mixed_float16", "float16", 2e-2), ("mixed_bfloat16", "bfloat16", 1e-1)],
)
def test_mixed_precision(rng, policy, dtype, rtol):
    keras.config.set_dtype_policy(policy)
    layer = layers.ProductDense(4, projection_width=3, hidden=4, omega_0=2.0)
    x = rng.normal(0, 1, (16, 5)).astype("float32")
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    assert all(w.dtype == "float32" for w in layer.weights)
    want = reference(x, numpy_weights(layer), 4, 3, NUMPY_PHI["sin"], 2.0, False)
    got = ops.convert_to_numpy(ops.cast(out, "float32"))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    model = keras.Sequential(
        [keras.Input((5,)), layer, keras.layers.Dense(1, dtype="float32")]
    )
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, x[:, :1], epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(ops.convert_to_numpy(w)).all() for w in layer.weights)
