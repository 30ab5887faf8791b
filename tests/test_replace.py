"""keras_apalu.replace_activations on small models and on keras.applications."""

import keras
import numpy as np
import pytest

from keras_apalu import initialization
from keras_apalu import replace_activations
from keras_apalu.layers import APALU
from tests import reference


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


def _apalus(model):
    found = []
    for layer in model.layers:
        if isinstance(layer, APALU):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(_apalus(layer))
    return found


def test_dense_activation_is_split_off_and_weights_are_kept():
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(4, activation="relu", name="hidden"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    new = replace_activations(model)
    assert [layer.name for layer in new.layers] == ["hidden", "hidden_apalu", "out"]
    assert isinstance(new, keras.Sequential)
    x = np.random.default_rng(0).normal(size=(6, 5))
    w1, b1 = (_numpy(v) for v in model.layers[0].weights)
    w2, b2 = (_numpy(v) for v in model.layers[1].weights)
    fit = initialization.fit("relu")
    expected = reference.apalu(x @ w1 + b1, fit.a, fit.b) @ w2 + b2
    np.testing.assert_allclose(
        _numpy(new(x.astype("float32"))), expected, rtol=1e-4, atol=1e-5
    )
    # The original is untouched and does not share weights with the copy.
    assert model.layers[0].get_config()["activation"] == "relu"
    assert new.layers[0].weights[0] is not model.layers[0].weights[0]


def _functional():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(6.0, name="relu6")(x)
    x = keras.layers.Conv2D(4, 1, data_format="channels_first", name="conv_cf")(x)
    x = keras.layers.Activation("gelu", name="gelu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3),
            keras.layers.LeakyReLU(0.3, name="leaky"),
        ],
        name="head",
    )
    outputs = keras.layers.Dense(2, activation="softmax", name="probabilities")(head(x))
    return keras.Model(inputs, outputs)


def test_functional_and_nested_model():
    model = _functional()
    bn = model.get_layer("bn")
    bn.set_weights([w + 0.5 for w in bn.get_weights()])
    new = replace_activations(model, target="all")
    layers = {layer.name: layer for layer in _apalus(new)}
    assert set(layers) == {"conv_apalu", "relu6", "gelu", "leaky"}
    # One (a, b) per channel: the last axis, or axis 1 after channels_first.
    assert layers["conv_apalu"].shared_axes == [1, 2]
    assert layers["gelu"].shared_axes == [2, 3]
    assert tuple(layers["relu6"].a.shape) == (1, 1, 4)
    assert layers["leaky"].shared_axes is None
    for name, target in (("conv_apalu", "relu"), ("relu6", "relu6"), ("gelu", "gelu")):
        np.testing.assert_allclose(
            _numpy(layers[name].a), initialization.fit(target).a, rtol=1e-6
        )
    # LeakyReLU(0.3) is fitted with its own slope.
    slope = initialization.fit(lambda x: np.where(x >= 0, x, 0.3 * x))
    np.testing.assert_allclose(_numpy(layers["leaky"].b), slope.b, rtol=1e-5)
    # The softmax is no target; BatchNormalization keeps its statistics.
    assert new.get_layer("probabilities").get_config()["activation"] == "softmax"
    for old, cloned in zip(bn.get_weights(), new.get_layer("bn").get_weights()):
        np.testing.assert_array_equal(cloned, old)
    assert isinstance(new.get_layer("head"), keras.Sequential)


def test_each_apalu_matches_what_it_replaces_within_the_fit_error():
    model = _functional()
    new = replace_activations(model, target=["relu6", "gelu"])
    grid = np.linspace(-4.0, 4.0, 4 * 101, dtype="float32")
    # relu6 follows a channels_last layer, gelu a channels_first one.
    for name, x in (
        ("relu6", grid.reshape(1, 101, 1, 4)),
        ("gelu", grid.reshape(1, 4, 101, 1)),
    ):
        original = _numpy(model.get_layer(name)(x))
        swapped = _numpy(new.get_layer(name)(x))
        assert (
            np.max(np.abs(swapped - original))
            <= initialization.fit(name).max_error + 1e-5
        )


def test_only_the_targets_are_replaced_and_init_none_keeps_the_initializers():
    model = _functional()
    new = replace_activations(model, target="relu", init=None, implementation="plain")
    names = [layer.name for layer in _apalus(new)]
    assert names == ["conv_apalu"]
    layer = _apalus(new)[0]
    assert layer.init is None and layer.implementation == "plain"
    assert isinstance(layer.a_initializer, keras.initializers.RandomUniform)


def test_shared_layer_gets_one_apalu_per_call():
    relu = keras.layers.Activation("relu", name="shared_relu")
    inputs = keras.Input((3,))
    x = relu(keras.layers.Dense(4)(inputs))
    x = relu(keras.layers.Dense(5)(x))
    model = keras.Model(inputs, x)
    new = replace_activations(model)
    assert sorted(layer.name for layer in _apalus(new)) == [
        "shared_relu",
        "shared_relu_2",
    ]
    assert new.output.shape == (None, 5)


class _Block(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(3)
        self.act = keras.layers.ReLU()

    def call(self, x):
        return self.act(self.dense(x))


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3, activation="relu")

    def call(self, x):
        return self.dense(x)


def test_errors_name_the_problem():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, _Block(name="my_block")(inputs))
    with pytest.raises(ValueError, match="cannot rewrite layer 'my_block'.*own `call`"):
        replace_activations(model)
    subclassed = _Subclassed()
    subclassed(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match="cannot rewrite model .*_Subclassed"):
        replace_activations(subclassed)
    with pytest.raises(ValueError, match="unknown target 'tanh'"):
        replace_activations(_functional(), target="tanh")
    with pytest.raises(ValueError, match=r"no silu activation.*found: .*relu \(1\)"):
        replace_activations(_functional(), target="silu")
    with pytest.raises(ValueError, match="not built"):
        replace_activations(
            keras.Sequential([keras.layers.Dense(3, activation="relu")])
        )


# -- keras.applications (weights=None, small inputs) ------------------------

_APPLICATIONS = {
    # name: (constructor kwargs, activation it uses)
    "MobileNetV2": (dict(alpha=0.35), "relu6"),
    "ResNet50": ({}, "relu"),
    "EfficientNetB0": ({}, "silu"),
}


def _relative(y, reference_y):
    return float(np.linalg.norm(y - reference_y) / np.linalg.norm(reference_y))


# Each backend's pass swaps one of them, so each model is swapped once per
# suite run and each backend swaps one: the swap is Keras graph surgery, the
# same on every backend (APALU's numerics per backend: tests/layers), and
# building these models three times (JAX compiles each) was the suite's
# largest cost.
_SWAPPED_UNDER = {
    "tensorflow": "EfficientNetB0",
    "jax": "MobileNetV2",
    "torch": "ResNet50",
}


@pytest.fixture(scope="module", params=[_SWAPPED_UNDER[keras.backend.backend()]])
def application(request):
    kwargs, target = _APPLICATIONS[request.param]
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, request.param)(
        weights=None,
        input_shape=(32, 32, 3),
        classes=10,
        classifier_activation=None,
        **kwargs,
    )
    x = np.random.default_rng(0).uniform(-1.0, 1.0, (4, 32, 32, 3)).astype("float32")
    if request.param == "EfficientNetB0":  # it rescales [0, 255] itself
        x = (x + 1.0) * 127.5
    swapped = replace_activations(model, target=target)
    # predict_on_batch compiles the forward pass once (much faster than
    # running it eagerly on JAX); the random variant reuses it.
    before, after = model.predict_on_batch(x), swapped.predict_on_batch(x)
    # The same model with the paper's random U(0, 2) slopes, for scale.
    fitted = [(v, _numpy(v)) for v in swapped.weights if v.path.split("/")[-1] in "ab"]
    rng = np.random.default_rng(1)
    for variable, value in fitted:
        variable.assign(rng.uniform(0.0, 2.0, value.shape).astype("float32"))
    random = swapped.predict_on_batch(x)
    for variable, value in fitted:
        variable.assign(value)
    return dict(
        name=request.param,
        model=model,
        swapped=swapped,
        x=x,
        target=target,
        before=before,
        after=after,
        random=random,
    )


def _originals(model):
    return {layer.name: layer for layer in model._flatten_layers(include_self=False)}


@pytest.mark.slow
def test_application_swap(application):
    model, swapped = application["model"], application["swapped"]
    originals = _originals(model)
    apalus = _apalus(swapped)
    assert len(apalus) > 10
    bound = initialization.fit(application["target"]).max_error + 1e-4
    for layer in apalus:
        # Each APALU reproduces what it replaced within the fit's error on
        # [-4, 4], per channel.
        channels = layer.a.shape[-1]
        x = np.linspace(-4.0, 4.0, 41 * channels, dtype="float32").reshape(
            1, 41, 1, channels
        )
        if layer.name in originals:
            expected = originals[layer.name](x)
        else:
            conv = originals[layer.name.removesuffix("_apalu")]
            expected = conv.activation(x)
        error = np.max(np.abs(_numpy(layer(x)) - _numpy(expected)))
        assert error <= bound, (layer.name, error)
    # Every weight of the original is in the copy, unchanged.
    copies = {v.path: _numpy(v) for v in swapped.weights}
    for variable in model.weights:
        np.testing.assert_array_equal(
            copies[variable.path], _numpy(variable), err_msg=variable.path
        )
    # The whole model: the fitted start is orders of magnitude closer to the
    # original than the paper's random one (figures: docs/toolkit.md).
    fitted = _relative(application["after"], application["before"])
    random = _relative(application["random"], application["before"])
    assert np.isfinite(fitted) and fitted < 1e-2 * random, (fitted, random)


@pytest.mark.slow
def test_application_trains_saves_and_loads(application, tmp_path):
    swapped, x = application["swapped"], application["x"]
    swapped.compile(
        optimizer=keras.optimizers.SGD(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    layer = _apalus(swapped)[0]
    a_before = _numpy(layer.a)
    loss = swapped.train_on_batch(x, np.arange(4) % 10)
    assert np.isfinite(loss)
    assert not np.array_equal(_numpy(layer.a), a_before)
    path = tmp_path / "swapped.keras"
    swapped.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [
        type(layer) for layer in swapped.layers
    ]
    assert [layer.get_config() for layer in _apalus(loaded)] == [
        layer.get_config() for layer in _apalus(swapped)
    ]
    for saved, restored in zip(swapped.weights, loaded.weights):
        assert saved.path == restored.path
        np.testing.assert_array_equal(
            _numpy(restored), _numpy(saved), err_msg=saved.path
        )
