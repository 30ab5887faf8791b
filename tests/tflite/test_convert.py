"""Conversion to .tflite: op structure, parity with the Keras model, export.

Runs under every backend: models built or trained under JAX or PyTorch are
converted in a TensorFlow-backend subprocess by `convert` itself. The
conversions are shared by module-scoped fixtures to keep the suite fast.
"""

import os
import pathlib

import keras
import numpy as np
import pytest

from keras_apalu import tflite
from keras_apalu.layers import APALU
from tests.tflite.reference import run

# Each module fixture converts models (under JAX and torch through a
# TensorFlow subprocess): the fast tier leaves the module out.
pytestmark = pytest.mark.slow

# Every shared_axes variant the layer allows for each input rank.
DENSE_VARIANTS = [None, "all", [1], [-1]]
CONV_VARIANTS = [None, "all", [1, 2], [1], [2], [3], [1, 3], [-1]]
# Ops that would mean APALU was (partly) decomposed in custom mode.
DECOMPOSITION_OPS = {"LOGISTIC", "EXP", "RELU", "MINIMUM", "SELECT", "SELECT_V2", "SUB"}


def _apalu(shared_axes, index, smooth=False):
    return APALU(
        shared_axes=shared_axes,
        smooth=smooth,
        a_initializer=keras.initializers.RandomUniform(0.2, 2.0, seed=index),
        b_initializer=keras.initializers.RandomUniform(0.2, 2.0, seed=50 + index),
        name=f"apalu_{index}",
    )


def _branches(x, variants):
    outputs = [_apalu(axes, i)(x) for i, axes in enumerate(variants)]
    outputs.append(_apalu(None, len(variants), smooth=True)(x))
    return keras.layers.Concatenate()(outputs)


def dense_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((10,))
    x = keras.layers.Dense(12)(inputs)
    x = _branches(x, DENSE_VARIANTS)
    return keras.Model(inputs, keras.layers.Dense(4)(x))


def conv_model():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((6, 5, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = _branches(x, CONV_VARIANTS)
    return keras.Model(inputs, x)


def _train(model, rng):
    """A few steps under the current backend, so a and b leave their init."""
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    x = rng.normal(size=(32, *model.input_shape[1:])).astype(np.float32)
    y = rng.normal(size=(32, *model.output_shape[1:])).astype(np.float32)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.weights]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in model.weights]
    assert any(not np.array_equal(u, v) for u, v in zip(before, after))
    return model


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(7)
    return {"dense": _train(dense_model(), rng), "conv": _train(conv_model(), rng)}


@pytest.fixture(scope="module")
def converted(trained, tmp_path_factory):
    """{(model, mode): flatbuffer}; the conv model goes through a .keras path."""
    folder = tmp_path_factory.mktemp("models")
    conv_path = folder / "conv.keras"
    trained["conv"].save(conv_path)
    sources = {"dense": trained["dense"], "conv": conv_path}
    return {
        (name, mode): tflite.convert(source, mode=mode)
        for name, source in sources.items()
        for mode in ("custom", "builtin")
    }


def _apalu_layer_count(model):
    return sum(isinstance(layer, APALU) for layer in model.layers)


@pytest.mark.parametrize("name", ["dense", "conv"])
def test_custom_mode_has_one_apalu_op_per_layer(trained, converted, name):
    names = tflite.op_names(converted[name, "custom"])
    assert names.count("APALU") == _apalu_layer_count(trained[name])
    assert not [n for n in names if n.startswith("Flex")]
    assert not DECOMPOSITION_OPS & set(names), names


@pytest.mark.parametrize("name", ["dense", "conv"])
def test_builtin_mode_has_builtin_ops_only(converted, name):
    names = tflite.op_names(converted[name, "builtin"])
    assert "APALU" not in names
    assert not [n for n in names if n.startswith("Flex")]
    from ai_edge_litert import schema_py_generated as schema

    builtin = set(vars(schema.BuiltinOperator))
    assert set(names) <= builtin, set(names) - builtin
    assert {"EXP", "LOGISTIC"} <= set(names)


@pytest.mark.parametrize("mode", ["custom", "builtin"])
@pytest.mark.parametrize("name", ["dense", "conv"])
@pytest.mark.parametrize("batch", [1, 5])
def test_interpreter_matches_keras_model(trained, converted, name, mode, batch):
    model = trained[name]
    rng = np.random.default_rng(batch)
    x = rng.normal(scale=2.0, size=(batch, *model.input_shape[1:]))
    x = x.astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    interpreter = tflite.interpreter(model_content=converted[name, mode])
    got = run(interpreter, x)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-5


def test_tensorflow_interpreter_runs_the_custom_op(trained, converted):
    x = np.random.default_rng(3).normal(size=(2, 10)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(trained["dense"](x))
    interpreter = tflite.interpreter(
        model_content=converted["dense", "custom"], runtime="tensorflow"
    )
    assert np.max(np.abs(run(interpreter, x) - expected)) <= 1e-5


@pytest.mark.parametrize("quantize,tolerance", [("float16", 0.05), ("dynamic", 0.1)])
def test_quantized_export_keeps_the_custom_op(trained, quantize, tolerance):
    if keras.backend.backend() != "tensorflow":
        # The converter options do not depend on the backend, and the
        # subprocess path is covered above; saves two conversions per backend.
        pytest.skip("quantisation options are tested under TensorFlow")
    model = trained["dense"]
    content = tflite.convert(model, quantize=quantize)
    assert tflite.op_names(content).count("APALU") == _apalu_layer_count(model)
    x = np.random.default_rng(4).normal(size=(3, 10)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(x))
    got = run(tflite.interpreter(model_content=content), x)
    scale = np.max(np.abs(expected))
    assert np.max(np.abs(got - expected)) <= tolerance * scale


def test_missing_kernel_error_says_how_to_register(converted):
    with pytest.raises(tflite.KernelUnavailableError, match="AddCustom") as info:
        tflite.interpreter(
            model_content=converted["dense", "custom"], register_kernel=False
        )
    assert "keras_apalu.tflite.interpreter" in str(info.value)
    assert "mode='builtin'" in str(info.value)


def test_failed_kernel_build_says_how_to_register(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises(tflite.KernelUnavailableError, match="AddCustom"):
        tflite.build_library(directory=tmp_path / "cache")


def test_export_writes_atomically(trained, converted, tmp_path, monkeypatch):
    from keras_apalu.tflite import _convert

    # The conversions themselves are tested above; here only the writing.
    monkeypatch.setattr(
        _convert, "convert", lambda *args, **kwargs: converted["dense", "builtin"]
    )
    path = tmp_path / "model.tflite"
    written = tflite.export(trained["dense"], path, mode="builtin")
    assert written == path
    before = path.read_bytes()
    assert before == converted["dense", "builtin"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600

    def broken(*args, **kwargs):
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(_convert, "convert", broken)
    with pytest.raises(RuntimeError, match="conversion failed"):
        tflite.export(trained["dense"], path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


def test_export_command_line(converted, tmp_path):
    """`python -m keras_apalu.tflite convert` (under the TensorFlow backend)."""
    import os
    import subprocess
    import sys

    if keras.backend.backend() != "tensorflow":
        pytest.skip("one run of the command is enough (TensorFlow backend)")
    keras_path = tmp_path / "dense.keras"
    dense_model().save(keras_path)
    out = tmp_path / "out" / "dense.tflite"
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_apalu.tflite",
            "convert",
            str(keras_path),
            str(out),
            "--mode",
            "custom",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert tflite.op_names(out).count("APALU") == len(DENSE_VARIANTS) + 1


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"quantize": "int8"}, ValueError, "needs representative_data"),
        ({"quantize": "int4"}, ValueError, "quantize must be"),
        ({"mode": "fused"}, ValueError, "mode must be"),
        (
            {"representative_data": [np.zeros((1, 10))]},
            ValueError,
            "representative_data",
        ),
    ],
)
def test_bad_arguments(trained, kwargs, error, message):
    with pytest.raises(error, match=message):
        tflite.convert(trained["dense"], **kwargs)


def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError):
        tflite.convert(tmp_path / "missing.keras")
    (tmp_path / "model.h5").write_bytes(b"")
    with pytest.raises(ValueError, match=".keras"):
        tflite.convert(tmp_path / "model.h5")
    with pytest.raises(TypeError, match="keras.Model"):
        tflite.convert(42)


def test_training_path_is_unchanged_after_conversion(trained, converted):
    layer = trained["dense"].get_layer("apalu_0")
    assert "call" not in vars(layer)
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(1, 12)
    a, b = (keras.ops.convert_to_numpy(t) for t in layer.slopes())
    from tests.tflite.reference import apalu_reference

    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)),
        apalu_reference(x, a, b),
        rtol=1e-5,
        atol=1e-6,
    )


def test_import_does_not_import_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, keras_apalu, keras_apalu.tflite; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    root = pathlib.Path(__file__).resolve().parents[2]
    env = {"KERAS_BACKEND": "jax", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
