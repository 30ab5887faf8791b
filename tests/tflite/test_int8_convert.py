"""Full-integer conversion: structure of the int8 flatbuffers, accuracy on
real sign-language images, the positive side of the builtin form, and bad
representative data.

Runs under every backend (models of JAX and PyTorch are converted in a
TensorFlow-backend subprocess by `convert`).
"""

import keras
import numpy as np
import pytest

from keras_apalu import tflite
from keras_apalu.layers import APALU
from keras_apalu.tflite import int8
from tests.tflite import sign_language
from tests.tflite.reference import apalu_reference

# Each module fixture converts models (under JAX and torch through a
# TensorFlow subprocess): the fast tier leaves the module out.
pytestmark = pytest.mark.slow


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


@pytest.fixture(scope="module")
def sign_data(sign_language_dir):
    return sign_language.load(str(sign_language_dir))


@pytest.fixture(scope="module")
def sign_model(sign_language_dir, sign_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("sign") / "sign.keras"
    sign_language.trained_model_file(sign_language_dir, path)
    return keras.saving.load_model(path)


@pytest.fixture(scope="module")
def int8_models(sign_model, sign_data):
    x_train = sign_data[0]
    calibration = x_train[::6]  # ~240 training images
    return {
        mode: tflite.convert(
            sign_model, mode=mode, quantize="int8", representative_data=calibration
        )
        for mode in ("custom", "builtin")
    }


@pytest.mark.parametrize("mode", ["custom", "builtin"])
def test_int8_matches_float_on_sign_language(mode, sign_model, sign_data, int8_models):
    _, _, x_test, y_test = sign_data
    expected = keras.ops.convert_to_numpy(sign_model.predict(x_test, verbose=0))
    runner = tflite.interpreter(model_content=int8_models[mode])
    logits = sign_language.run_int8(runner, x_test)
    rel_rmse = np.sqrt(np.mean((logits - expected) ** 2) / np.mean(expected**2))
    agreement = np.mean(logits.argmax(1) == expected.argmax(1))
    assert rel_rmse < 0.05, f"relative RMSE {rel_rmse:.4f}"
    assert agreement >= 0.97, f"top-1 agreement {agreement:.3f}"
    # The small model does learn the task (held-out signers).
    assert np.mean(expected.argmax(1) == y_test) > 0.6


@pytest.mark.parametrize("mode", ["custom", "builtin"])
def test_int8_model_has_no_float_tensor(mode, int8_models):
    content = int8_models[mode]
    assert int8.float_tensors(content) == []
    names = tflite.op_names(content)
    assert not {"DEQUANTIZE", "QUANTIZE"} & set(names), names
    assert not {"MINIMUM", "SELECT", "SELECT_V2"} & set(names), names
    if mode == "custom":
        assert names.count("APALU") == 3
    else:
        assert "APALU" not in names


def test_custom_int8_apalu_reads_and_writes_int8(int8_models):
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(int8_models["custom"], 0)
    subgraph = model.subgraphs[0]
    names = tflite.op_names(int8_models["custom"])
    apalu_ops = [op for op, name in zip(subgraph.operators, names) if name == "APALU"]
    for op in apalu_ops:
        x, a, b = (subgraph.tensors[i] for i in op.inputs)
        (y,) = (subgraph.tensors[i] for i in op.outputs)
        assert x.type == y.type == schema.TensorType.INT8
        assert a.type == b.type == schema.TensorType.INT32
        for tensor in (x, y, a, b):
            assert len(tensor.quantization.scale) == 1
            assert tensor.quantization.scale[0] > 0


def _constant_bytes(content):
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    return sum(len(b.data) for b in model.buffers if b.data is not None)


def test_int8_weights_take_under_30_percent(sign_model, int8_models):
    # Constant data (weights, int32 biases and APALU parameters) against the
    # 4 bytes per parameter of the float32 model. (The whole file of this
    # small model is dominated by the graph itself; see the benchmark.)
    float_bytes = 4 * sign_model.count_params()
    for content in int8_models.values():
        assert _constant_bytes(content) < 0.3 * float_bytes


def _single_apalu(a, b):
    inputs = keras.Input((64,))
    layer = APALU(
        a_initializer=keras.initializers.Constant(a),
        b_initializer=keras.initializers.Constant(b),
        shared_axes="all",
    )
    return keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize("mode", ["custom", "builtin"])
def test_int8_keeps_the_positive_side(mode, rng):
    # TFLite's int8 MINIMUM/SELECT force one scale on input and output; a
    # form using them clips every positive activation to 0. The select-free
    # form (builtin) and the int8 kernel (custom) must not.
    a, b = 0.8, 1.3
    model = _single_apalu(a, b)
    data = rng.normal(scale=2.0, size=(64, 64)).astype(np.float32)
    content = tflite.convert(
        model, mode=mode, quantize="int8", representative_data=data
    )
    runner = tflite.interpreter(model_content=content)
    x = np.linspace(-4, 4, 64, dtype=np.float32)[None]
    y = sign_language.run_int8(runner, x)[0]
    out_scale = runner.get_output_details()[0]["quantization"][0]
    expected = apalu_reference(x[0], a, b)
    assert np.all(y[x[0] > 0.2] > 0)
    # Within a few output steps (input and output both quantised).
    assert np.max(np.abs(y - expected)) <= 4 * out_scale + 0.05 * np.abs(expected).max()


def test_int8_needs_representative_data():
    model = _single_apalu(1.0, 1.0)
    with pytest.raises(ValueError, match="representative_data"):
        tflite.convert(model, quantize="int8")
    with pytest.raises(ValueError, match="shape"):
        tflite.convert(
            model, quantize="int8", representative_data=np.zeros((4, 63), np.float32)
        )
    with pytest.raises(ValueError, match="only used by quantize='int8'"):
        tflite.convert(model, representative_data=np.zeros((4, 64)))


def test_custom_int8_rejects_chained_apalu_clearly(rng):
    inputs = keras.Input((16,))
    x = APALU(shared_axes="all")(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, APALU(shared_axes="all")(x))
    data = rng.normal(size=(16, 16)).astype(np.float32)
    with pytest.raises((ValueError, RuntimeError), match="mode='builtin'"):
        tflite.convert(model, quantize="int8", representative_data=data)
