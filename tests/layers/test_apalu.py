"""The APALU layer behaves like a Keras layer, and computes APALU."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_apalu import layers
from keras_apalu.constraints import StrictlyPositive
from tests import reference


def weights(layer):
    a = ops.convert_to_numpy(layer.a).astype(np.float64)
    b = 1.5 * a if layer.smooth else ops.convert_to_numpy(layer.b)
    return a, np.asarray(b, np.float64)


def test_defaults_follow_the_paper():
    layer = layers.APALU()
    layer.build((None, 1000))
    a, b = weights(layer)
    assert a.shape == b.shape == (1000,)
    # RandomUniform(0, 2), clipped from below by the default constraint.
    for w in (a, b):
        assert 0.0 <= w.min() and w.max() < 2.0
        assert 0.85 < w.mean() < 1.15
    assert isinstance(layer.a_constraint, StrictlyPositive)
    assert isinstance(layer.b_constraint, StrictlyPositive)


@pytest.mark.parametrize(
    "input_shape, shared_axes, param_shape",
    [
        ((None, 16), None, (16,)),
        ((None, 16), [1], (1,)),
        ((None, 16), "all", (1,)),
        ((None, 8, 8, 3), None, (8, 8, 3)),
        ((None, 8, 8, 3), [1, 2], (1, 1, 3)),
        ((None, 8, 8, 3), [-3, -2], (1, 1, 3)),
        ((None, 8, 8, 3), [3], (8, 8, 1)),
        ((None, 8, 8, 3), "all", (1, 1, 1)),
        ((None, 8, 8, 3), 1, (1, 8, 3)),
    ],
)
def test_shared_axes_shapes_and_values(rng, input_shape, shared_axes, param_shape):
    layer = layers.APALU(shared_axes=shared_axes)
    layer.build(input_shape)
    assert tuple(layer.a.shape) == param_shape
    assert tuple(layer.b.shape) == param_shape
    x = rng.normal(0, 2, (2, *input_shape[1:])).astype("float32")
    a, b = weights(layer)
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x)),
        reference.apalu(x, a, b),
        rtol=2e-6,
        atol=2e-6,
    )


@pytest.mark.parametrize("shared_axes", [0, [0, 1], [4], [-5], ["x"]])
def test_bad_shared_axes_are_rejected(shared_axes):
    with pytest.raises(ValueError, match="shared_axes"):
        layer = layers.APALU(shared_axes=shared_axes)
        layer.build((None, 8, 8, 3))


def test_unknown_axis_size_needs_sharing():
    with pytest.raises(ValueError, match="unknown size"):
        layers.APALU().build((None, None, 3))
    layers.APALU(shared_axes=[1]).build((None, None, 3))


@pytest.mark.parametrize(
    "argument",
    [
        "a_initializer",
        "b_initializer",
        "a_constraint",
        "b_constraint",
        "a_regularizer",
        "b_regularizer",
    ],
)
def test_unknown_names_are_rejected(argument):
    with pytest.raises(ValueError, match=argument):
        layers.APALU(**{argument: "no_such_thing"})


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool"])
def test_integer_input_is_rejected(dtype):
    with pytest.raises(TypeError, match="floating-point"):
        layers.APALU()(ops.cast(np.ones((2, 3)), dtype))


def test_constraint_keeps_parameters_strictly_positive():
    constraint = StrictlyPositive(1e-3)
    out = ops.convert_to_numpy(constraint(np.array([-2.0, 0.0, 5e-4, 0.5])))
    np.testing.assert_allclose(out, [1e-3, 1e-3, 1e-3, 0.5], rtol=1e-6)
    with pytest.raises(ValueError, match="min_value"):
        StrictlyPositive(0.0)


def test_smooth_variant_ties_b_to_a(rng):
    layer = layers.APALU(smooth=True, shared_axes="all")
    x = rng.normal(0, 2, (4, 5)).astype("float32")
    out = ops.convert_to_numpy(layer(x))
    assert [w.name for w in layer.weights] == ["a"]
    a, b = weights(layer)
    np.testing.assert_allclose(b, 1.5 * a)
    np.testing.assert_allclose(out, reference.apalu(x, a, b), rtol=2e-6, atol=2e-6)


def _make_models():
    def act():
        return layers.APALU(
            shared_axes="all", a_initializer="ones", b_initializer="ones"
        )

    sequential = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(32), act(), keras.layers.Dense(1)]
    )
    inputs = keras.Input((2,))
    outputs = keras.layers.Dense(1)(act()(keras.layers.Dense(32)(inputs)))
    functional = keras.Model(inputs, outputs)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(32)
            self.activation = act()
            self.out = keras.layers.Dense(1)

        def call(self, x):
            return self.out(self.activation(self.hidden(x)))

    return {
        "sequential": sequential,
        "functional": functional,
        "subclassed": Subclassed(),
    }


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_fit_learns_a_nonlinear_target_and_moves_a_and_b(kind, rng):
    keras.utils.set_random_seed(0)
    model = _make_models()[kind]
    x = rng.uniform(-2, 2, (512, 2)).astype("float32")
    y = (x[:, :1] ** 2 + np.abs(x[:, 1:])).astype("float32")
    # The best any linear model can do (least squares, float64).
    design = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    linear_mse = float(np.mean((design @ coef - y) ** 2))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model(x[:1])
    activation = [l for l in model._flatten_layers() if isinstance(l, layers.APALU)][0]
    a0, b0 = weights(activation)
    history = model.fit(x, y, epochs=60, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.1 * linear_mse
    a1, b1 = weights(activation)
    assert abs(a1 - a0).max() > 1e-3 and abs(b1 - b0).max() > 1e-3


def test_fused_and_plain_train_identically(rng):
    x = rng.normal(0, 1, (64, 4)).astype("float32")
    y = rng.normal(0, 1, (64, 1)).astype("float32")
    results = []
    for implementation in ("fused", "plain"):
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(8),
                layers.APALU(implementation=implementation),
                keras.layers.Dense(1),
            ]
        )
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False)
        results.append([ops.convert_to_numpy(w) for w in model.weights])
    for fused, plain in zip(*results):
        np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-6)


def test_config_round_trip():
    layer = layers.APALU(
        a_initializer="ones",
        b_initializer=keras.initializers.Constant(0.5),
        a_regularizer="l2",
        b_constraint=None,
        shared_axes=[1, 2],
        smooth=False,
        implementation="plain",
        name="act",
    )
    clone = layers.APALU.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.b_constraint is None and clone.shared_axes == [1, 2]
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, layers.APALU)


def test_save_and_load_round_trip(tmp_path, rng):
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3),
            layers.APALU(shared_axes=[1, 2]),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    x = rng.normal(0, 1, (5, 6, 6, 2)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)),
        ops.convert_to_numpy(model(x)),
        rtol=0,
        atol=1e-6,
    )
    assert isinstance(loaded.layers[1], layers.APALU)


@pytest.mark.parametrize(
    "policy, dtype, rtol",
    [("mixed_float16", "float16", 3e-3), ("mixed_bfloat16", "bfloat16", 2e-2)],
)
def test_mixed_precision(policy, dtype, rtol, rng):
    keras.config.set_dtype_policy(policy)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16),
            layers.APALU(),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    activation = model.layers[1]
    assert activation.a.dtype == "float32" and activation.b.dtype == "float32"
    x = rng.normal(0, 3, (32, 8)).astype("float32")
    hidden = activation(model.layers[0](x))
    assert keras.backend.standardize_dtype(hidden.dtype) == dtype
    pre = ops.convert_to_numpy(ops.cast(model.layers[0](x), "float32")).astype(
        np.float64
    )
    a, b = weights(activation)
    want = reference.apalu(pre, a, b)
    got = ops.convert_to_numpy(ops.cast(hidden, "float32"))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, x[:, :1], epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert activation.a.dtype == "float32"
    assert np.isfinite(weights(activation)[0]).all()
