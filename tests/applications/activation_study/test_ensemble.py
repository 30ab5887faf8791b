"""Side-by-side branches: each branch's gradient and training are its own."""

import keras
import numpy as np
import pytest
from scipy.special import log_softmax

from applications.activation_study import ensemble
from applications.activation_study import models
from keras_apalu.layers import APALU


def _numpy_activation(name, layer):
    """(f, f') in float64 for the tiny reference network."""
    if name == "relu":
        return (lambda z: np.maximum(z, 0.0)), (lambda z: (z > 0).astype(np.float64))
    if name == "tanh":
        return np.tanh, (lambda z: 1.0 - np.tanh(z) ** 2)
    a, b = (
        np.asarray(keras.ops.convert_to_numpy(v), np.float64) for v in layer.slopes()
    )

    def sig(z):
        return 1.0 / (1.0 + np.exp(-1.702 * z))

    def f(z):
        return np.where(z >= 0, a * (z + z * sig(z)), b * np.expm1(np.minimum(z, 0)))

    def df(z):
        s = sig(z)
        return np.where(
            z >= 0, a * (1 + s + 1.702 * z * s * (1 - s)), b * np.exp(np.minimum(z, 0))
        )

    return f, df


def _reference_kernel_grad_norms(layers, name, x, y):
    """Backpropagation of the mean cross-entropy in float64 NumPy."""
    dense = [l for l in layers if isinstance(l, keras.layers.Dense)]
    act = [l for l in layers if not isinstance(l, keras.layers.Dense)]
    w = [np.asarray(keras.ops.convert_to_numpy(d.kernel), np.float64) for d in dense]
    c = [np.asarray(keras.ops.convert_to_numpy(d.bias), np.float64) for d in dense]
    hs, zs = [np.asarray(x, np.float64)], []
    fns = [_numpy_activation(name, layer) for layer in act]
    for i in range(len(dense) - 1):
        zs.append(hs[-1] @ w[i] + c[i])
        hs.append(fns[i][0](zs[-1]))
    logits = hs[-1] @ w[-1] + c[-1]
    p = np.exp(log_softmax(logits, axis=1))
    delta = (p - np.eye(logits.shape[1])[y]) / len(y)
    grads = [hs[-1].T @ delta]
    for i in range(len(dense) - 2, -1, -1):
        delta = (delta @ w[i + 1].T) * fns[i][1](zs[i])
        grads.insert(0, hs[i].T @ delta)
    return [float(np.linalg.norm(g)) for g in grads]


@pytest.mark.parametrize("name", ["relu", "tanh", "apalu"])
def test_gradient_norms_match_numpy_backpropagation(name, rng):
    keras.utils.set_random_seed(5)
    branches = [(f"b{k}", models.mlp_layers(3, 5, 2, name)) for k in range(2)]
    net = ensemble.SideBySide((4,), branches)
    x = rng.normal(size=(7, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=7).astype(np.int32)
    norms = net.gradient_norms(x, y)
    assert set(norms) == {"b0", "b1"}
    for branch, layers in net.layers.items():
        if name == "apalu":
            assert any(isinstance(l, APALU) for l in layers)
        expected = _reference_kernel_grad_norms(layers, name, x, y)
        np.testing.assert_allclose(norms[branch], expected, rtol=2e-4)
    assert norms["b0"] != norms["b1"]


@pytest.mark.slow
def test_branches_train_as_if_alone(rng):
    """Two branches side by side end where the first alone ends (same start, batches)."""
    x = rng.normal(size=(24, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=24).astype(np.int32)
    data = {"x_train": x, "y_train": y}
    keras.utils.set_random_seed(2)
    pair = ensemble.SideBySide(
        (4,), [(f"b{k}", models.mlp_layers(3, 6, 2, "apalu")) for k in range(2)]
    )
    alone = ensemble.SideBySide((4,), [("b0", models.mlp_layers(3, 6, 2, "apalu"))])
    for target, source in zip(
        alone.model.trainable_variables,
        [v for l in pair.layers["b0"] for v in l.trainable_variables],
    ):
        target.assign(np.array(keras.ops.convert_to_numpy(source), copy=True))
    for net in (pair, alone):
        net.compile(0.05)
        net.fit(data, epochs=3, batch_size=8, seed=11)
    for got, want in zip(
        [v for l in pair.layers["b0"] for v in l.trainable_variables],
        alone.model.trainable_variables,
    ):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(got),
            keras.ops.convert_to_numpy(want),
            rtol=1e-4,
            atol=1e-5,
        )
    moved = pair.evaluate(data, parts=("train",))
    assert moved["b0"]["train_loss"] == pytest.approx(
        alone.evaluate(data, parts=("train",))["b0"]["train_loss"], rel=1e-4
    )


def test_cross_entropy_and_accuracy_against_scipy(rng):
    z = rng.normal(size=(9, 4)) * 5
    y = rng.integers(0, 4, size=9)
    loss, accuracy = ensemble.cross_entropy_and_accuracy(z, y)
    assert loss == pytest.approx(
        -log_softmax(z, axis=1)[np.arange(9), y].mean(), rel=1e-12
    )
    assert accuracy == pytest.approx(np.mean(z.argmax(1) == y))
    z[0, 0] = np.nan
    assert np.isnan(ensemble.cross_entropy_and_accuracy(z, y)[0])


def test_branch_names_must_be_unique():
    with pytest.raises(ValueError, match="unique"):
        ensemble.SideBySide(
            (2,), [("a", [keras.layers.Dense(1)]), ("a", [keras.layers.Dense(1)])]
        )
