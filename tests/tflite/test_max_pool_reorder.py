"""APALU applied after the max-pooling that follows it (convert's default).

Which layers move is decided from the graph and the slope values alone
(`max_pool_pairs`, checked under every backend without converting); the
converted model must give the float64 NumPy reference's values whether a
layer moved or not, and `reorder_max_pool=False` must keep the model's order.
"""

import keras
import numpy as np
import pytest

from keras_apalu import tflite
from keras_apalu.layers import APALU
from keras_apalu.tflite._convert import apalu_layers
from keras_apalu.tflite._pooling import max_pool_pairs
from tests.reference import apalu as apalu_reference
from tests.tflite.reference import run


def _apalu(name, shared_axes, index):
    return APALU(
        shared_axes=shared_axes,
        a_initializer=keras.initializers.RandomUniform(0.2, 2.0, seed=index),
        b_initializer=keras.initializers.RandomUniform(0.2, 2.0, seed=50 + index),
        name=name,
    )


# name: (shared_axes, pooling, expected to move after the pooling)
BRANCHES = {
    "per_channel": ([1, 2], dict(pool_size=2), True),
    "same_padding": ([1, 2], dict(pool_size=3, strides=2, padding="same"), True),
    "per_element": (None, dict(pool_size=2), False),
    "rows_only": ([1], dict(pool_size=2), False),  # slopes vary along width
    "negative_slope": ("all", dict(pool_size=2), False),
}


def reorder_model():
    """One input, a branch per case, every branch flattened and joined."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 3))
    outputs = []
    for index, (name, (axes, pooling, _)) in enumerate(BRANCHES.items()):
        x = _apalu(name, axes, index)(inputs)
        outputs.append(
            keras.layers.Flatten()(
                keras.layers.MaxPooling2D(**pooling, name=f"{name}_pool")(x)
            )
        )
    # A second consumer keeps the order.
    x = _apalu("two_consumers", [1, 2], 10)(inputs)
    outputs.append(keras.layers.Flatten()(keras.layers.MaxPooling2D()(x)))
    outputs.append(keras.layers.GlobalAveragePooling2D()(x))
    # 1-D pooling over a sequence, slopes per feature: moves.
    x = keras.layers.Reshape((64, 3))(inputs)
    x = _apalu("sequence", [1], 11)(x)
    outputs.append(keras.layers.Flatten()(keras.layers.MaxPooling1D(2)(x)))
    model = keras.Model(inputs, keras.layers.Concatenate()(outputs))
    layer = model.get_layer("negative_slope")
    layer.a.assign(-0.5 * keras.ops.ones(layer.a.shape))
    return model


MOVED = {name for name, (_, _, moves) in BRANCHES.items() if moves}
MOVED.add("sequence")


def _max_pool(x, pool_size, strides, padding):
    """float64 max-pooling over the spatial axes of channels-last `x`."""
    spatial = x.shape[1:-1]
    if padding == "same":
        out = [-(-n // s) for n, s in zip(spatial, strides)]
        pads = [
            max((o - 1) * s + k - n, 0)
            for o, s, k, n in zip(out, strides, pool_size, spatial)
        ]
        width = [(0, 0)] + [(p // 2, p - p // 2) for p in pads] + [(0, 0)]
        x = np.pad(x, width, constant_values=-np.inf)
    else:
        out = [(n - k) // s + 1 for n, s, k in zip(spatial, strides, pool_size)]
    result = np.full((x.shape[0], *out, x.shape[-1]), -np.inf)
    for offset in np.ndindex(*pool_size):
        window = tuple(
            slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, strides, out)
        )
        result = np.maximum(result, x[(slice(None), *window)])
    return result


def reference_output(model, x):
    """The model's output from NumPy float64, in the model's own order."""
    x = np.asarray(x, np.float64)

    def slopes(name):
        a, b = model.get_layer(name).slopes()
        return keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)

    parts = []
    for name, (_, pooling, _) in BRANCHES.items():
        y = apalu_reference(x, *slopes(name))
        size = pooling["pool_size"]
        stride = pooling.get("strides", size)
        pooled = _max_pool(
            y, (size, size), (stride, stride), pooling.get("padding", "valid")
        )
        parts.append(pooled.reshape(len(x), -1))
    y = apalu_reference(x, *slopes("two_consumers"))
    parts.append(_max_pool(y, (2, 2), (2, 2), "valid").reshape(len(x), -1))
    parts.append(y.mean(axis=(1, 2)))
    y = apalu_reference(x.reshape(len(x), 64, 3), *slopes("sequence"))
    parts.append(_max_pool(y, (2,), (2,), "valid").reshape(len(x), -1))
    return np.concatenate(parts, axis=1)


def test_pairs_follow_the_graph_and_the_slopes():
    model = reorder_model()
    pairs = max_pool_pairs(model, apalu_layers(model))
    assert {layer.name for layer, _ in pairs} == MOVED
    for _layer, pool in pairs:
        assert isinstance(pool, (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D))


def test_model_output_and_channels_first_keep_their_order():
    inputs = keras.Input((4, 6, 6))
    out_too = _apalu("out_too", [2, 3], 0)(inputs)
    pooled = keras.layers.MaxPooling2D(data_format="channels_first")(out_too)
    # channels_first pools axes 2, 3: slopes per (axis-1) channel move...
    moving = _apalu("channels_first", [2, 3], 1)(inputs)
    moved = keras.layers.MaxPooling2D(data_format="channels_first")(moving)
    # ... slopes shared over the channel axis instead do not.
    wrong = _apalu("wrong_axes", [1, 2], 2)(inputs)
    kept = keras.layers.MaxPooling2D(data_format="channels_first")(wrong)
    model = keras.Model(inputs, [out_too, pooled, moved, kept])
    pairs = max_pool_pairs(model, apalu_layers(model))
    assert [layer.name for layer, _ in pairs] == ["channels_first"]


def _apalu_after_max_pool(content):
    """How many APALU ops read the output of a max-pooling op.

    MaxPooling1D converts to RESHAPE, MAX_POOL_2D, RESHAPE: reshapes are
    looked through, and so are the DELEGATE nodes XNNPACK adds (they list
    the original ops' outputs again).
    """
    interpreter = tflite.interpreter(model_content=content)
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    producer = {t: op for op in ops for t in op["outputs"]}

    def pooled(tensor):
        op = producer.get(tensor)
        while op is not None and op["op_name"] == "RESHAPE":
            op = producer.get(op["inputs"][0])
        return op is not None and op["op_name"] == "MAX_POOL_2D"

    return sum(op["op_name"] == "APALU" and pooled(op["inputs"][0]) for op in ops)


@pytest.fixture(scope="module")
def model():
    return reorder_model()


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(7)
    return rng.normal(scale=2.0, size=(3, 8, 8, 3)).astype(np.float32)


@pytest.mark.parametrize("mode", ["custom", "builtin"])
def test_reordered_model_matches_reference(model, inputs, mode):
    content = tflite.convert(model, mode=mode)
    if mode == "custom":
        assert tflite.op_names(content).count("APALU") == 7
        assert _apalu_after_max_pool(content) == len(MOVED)
    got = run(tflite.interpreter(model_content=content), inputs)
    want = reference_output(model, inputs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_keep_max_pool_order(model, inputs):
    content = tflite.convert(model, reorder_max_pool=False)
    assert tflite.op_names(content).count("APALU") == 7
    assert _apalu_after_max_pool(content) == 0
    got = run(tflite.interpreter(model_content=content), inputs)
    np.testing.assert_allclose(
        got, reference_output(model, inputs), rtol=1e-5, atol=1e-5
    )
