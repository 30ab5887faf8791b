"""The networks' parameter counts, the frozen variants, the width study's
measurements against a float64 NumPy reference, and the verdict logic on
records with known answers."""

import math

import keras
import numpy as np
import pytest

from applications.lrnn_claims import dimension
from applications.lrnn_claims import models
from applications.lrnn_claims import width

ALL = models.MODELS + models.FROZEN


@pytest.mark.parametrize("name", ALL)
def test_parameter_formula_counts_the_built_network(name):
    for w in (2, 5):
        net = models.network(name, 3, w, seed=0)
        # Fourier features' fixed frequencies are not counted (an input map).
        fixed = 3 * models.FOURIER_FEATURES if name == "fourier" else 0
        assert models.parameter_count(name, 3, w) == models.total_count(net) - fixed
        out = keras.ops.convert_to_numpy(net(np.zeros((4, 3), "float32")))
        assert out.shape == (4, 1) and np.isfinite(out).all()


def test_width_for_picks_the_closest_parameter_count():
    for name in models.MODELS:
        for n in (2, 64):
            w = models.width_for(name, n, 800)
            best = abs(models.parameter_count(name, n, w) - 800)
            for other in (w - 1, w + 1):
                if other >= 1:
                    assert best <= abs(models.parameter_count(name, n, other) - 800)


@pytest.mark.parametrize("name", models.FROZEN)
def test_frozen_variants_train_only_projection_and_output(name):
    net = models.network(name, 3, 4, seed=0)
    layer = models.product_layer(net)
    trainable = {id(v) for v in net.trainable_weights}
    assert id(layer.kernel) in trainable and id(layer.bias) in trainable
    assert id(layer.function_kernel) not in trainable
    assert id(layer.function_output) not in trainable
    n, w = 3, 4
    d = models.PROJECTION_WIDTH
    assert models.trainable_count(net) == n * w * d + w * d + w + 1


def _reference_layer(layer, x, gamma):
    """ProductDense (sin inner activation) in float64 NumPy from its weights."""
    get = lambda v: np.asarray(keras.ops.convert_to_numpy(v), np.float64)  # noqa: E731
    kernel, bias = get(layer.kernel), get(layer.bias)
    u, a = get(layer.function_kernel), get(layer.function_bias)
    v, c = get(layer.function_output), get(layer.function_output_bias)
    r, d = layer.units, layer.projection_width

    def forward(x):
        z = (x @ kernel + bias).reshape(len(x), r, d)
        g = np.sum(v * np.sin(layer.omega_0 * (u * z[..., None] + a)), -1) + c
        return np.prod(1.0 + gamma * g, axis=-1)

    y = forward(x)
    eps, grad = 1e-6, np.zeros_like(x)
    for i in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, i] = eps
        grad[:, i] = (
            forward(x + step).mean(axis=1) - forward(x - step).mean(axis=1)
        ) / (2 * eps)
    return np.var(y), np.var(grad)


@pytest.mark.parametrize("init, gamma", [("controlled", 0.5), ("uncontrolled", 1.0)])
def test_width_variances_match_a_numpy_reference(init, gamma):
    keras.utils.set_random_seed(0)
    layer = width._product_dense_class(init)(3, projection_width=4, hidden=4)
    x = np.random.default_rng(1).uniform(-1, 1, (64, 5))
    layer.build((None, 5))
    assert layer.gamma == gamma
    var_y, var_grad = width.variances(layer, x)
    ref_y, ref_grad = _reference_layer(layer, x, gamma)
    assert var_y == pytest.approx(ref_y, rel=1e-4)
    assert var_grad == pytest.approx(ref_grad, rel=1e-3)


def test_irrelevance_ratio():
    kernel = np.array([[3.0, 4.0], [0.0, 5.0], [1.0, 0.0], [0.0, 0.0]])
    assert width.irrelevance_ratio(kernel) == pytest.approx(0.5 / 5.0)


def _dimension_records(slopes_by_kind, dims, n=100, seeds=5):
    rng = np.random.default_rng(0)
    records = {}
    for kind, slopes in slopes_by_kind.items():
        for name, slope in slopes.items():
            per_seed = slope + 0.01 * rng.standard_normal(seeds)
            for d in dims:
                errors = 0.1 * np.exp(per_seed * math.log(d))
                records[dimension.job_key(kind, d, n, name)] = {
                    "test_rel_mse": errors.tolist()
                }
    return records


def _settings(dims):
    return {
        "dims": dims,
        "n_train": [100],
        "models": ["lrnn_sin", "mlp_relu", "mlp_gelu", "mlp_apalu"],
        "kinds": ["decaying", "control"],
    }


def test_growth_slopes_recover_power_laws():
    dims = [2, 4, 8, 16]
    records = _dimension_records({"decaying": {"mlp_relu": 0.7}}, dims)
    slopes = dimension.growth_slopes(records, "decaying", dims, 100, "mlp_relu")
    assert np.allclose(slopes, 0.7, atol=0.05) and len(slopes) == 5


@pytest.mark.parametrize(
    "control_lrnn, expected",
    [(1.0, "holds for lrnn_sin"), (0.1, "does not hold as stated")],
)
def test_dimension_verdict(control_lrnn, expected):
    dims = [2, 4, 8, 16]
    mlps = {"mlp_relu": 1.0, "mlp_gelu": 0.9, "mlp_apalu": 1.1}
    records = _dimension_records(
        {
            "decaying": {"lrnn_sin": 0.1, **mlps},
            "control": {"lrnn_sin": control_lrnn, **mlps},
        },
        dims,
    )
    out = dimension.verdict(records, _settings(dims))
    assert out["verdict"].startswith(expected), out["verdict"]


def test_dimension_verdict_when_lrnn_grows_as_fast():
    dims = [2, 4, 8, 16]
    same = {"lrnn_sin": 1.0, "mlp_relu": 1.0, "mlp_gelu": 1.0, "mlp_apalu": 1.0}
    records = _dimension_records({"decaying": same, "control": same}, dims)
    out = dimension.verdict(records, _settings(dims))
    assert out["verdict"].startswith("does not hold here")
