"""The fused path (keras_apalu/fused/) against the float64 NumPy reference,
against the unfused path, and in the situations a layer meets in training.

The compiled kernels are shared by every test of the process (one per dtype,
dynamic sizes), so these tests add little compilation of their own.
"""

import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from keras import ops

from keras_apalu import fused
from keras_apalu import layers
from keras_apalu.ops import apalu
from tests import reference
from tests.backend_utils import gradients
from tests.conftest import REPO

BACKEND = keras.backend.backend()

#: (x shape, a/b shape): per element, per channel (NHWC), shared, shared
#: along the channels only (slopes vary along a middle axis), per unit.
LAYOUTS = {
    "element": ((3, 4, 5), (4, 5)),
    "channel": ((2, 3, 4, 5), (5,)),
    "shared": ((2, 3, 4, 5), ()),
    "middle": ((2, 3, 4, 5), (3, 4, 1)),
    "unit": ((37, 6), (6,)),
}


@pytest.fixture(autouse=True)
def _fuse_small_inputs(monkeypatch):
    """The tests' tensors are small: fuse them anyway (torch otherwise runs
    inputs below MIN_ELEMENTS uncompiled, faster there)."""
    module = fused._backend_module()
    if hasattr(module, "MIN_ELEMENTS"):
        monkeypatch.setattr(module, "MIN_ELEMENTS", 0)


@pytest.mark.skipif(BACKEND != "torch", reason="torch's small-input path")
def test_small_inputs_run_the_same_math_uncompiled(rng, monkeypatch):
    """Below MIN_ELEMENTS torch runs the fused forward and VJP uncompiled:
    the same values and the same gradient (right-hand slope at 0)."""
    module = fused._backend_module()
    monkeypatch.setattr(module, "MIN_ELEMENTS", 10**9)
    monkeypatch.setattr(
        fused, "cached", lambda *args: pytest.fail("compiled kernel used")
    )
    x, a, b = _case(rng, "channel")
    out, grads, w = gradients(apalu, x, a, b)
    for got, ref in zip([out, *grads], _reference(x, a, b, w)):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def _case(rng, layout, dtype="float32", scale=3.0):
    x_shape, p_shape = LAYOUTS[layout]
    x = rng.normal(0.0, scale, x_shape)
    x.flat[:3] = [0.0, -0.0, 1e-30]  # the kink: right-hand slope at 0
    a = rng.uniform(0.1, 2.0, p_shape)
    b = rng.uniform(0.1, 2.0, p_shape)
    return x.astype(dtype), a.astype(dtype), b.astype(dtype)


def _reference(x, a, b, w, left_at_zero=False):
    """Values and gradients of sum(w * apalu), float64; `left_at_zero`: the
    plain path's slope `b` at exactly x = 0 instead of the right-hand one."""
    dx, da, db = reference.derivatives(x, a, b)
    if left_at_zero:
        dx = np.where(x == 0, np.broadcast_to(b, np.shape(x)), dx)
    return (
        reference.apalu(x, a, b),
        w * dx,
        reference.sum_to_shape(w * da, np.shape(a)),
        reference.sum_to_shape(w * db, np.shape(b)),
    )


def _fused_used(monkeypatch):
    """Counts (by dtype) the calls that reach the backend's compiled kernel."""
    calls = []
    module = fused._backend_module()
    original = module.kernel

    def counting(x, training):
        kernel = original(x, training)
        if kernel is not None and kernel is not getattr(module, "_eager", None):
            calls.append(keras.backend.standardize_dtype(x.dtype))
        return kernel

    monkeypatch.setattr(module, "kernel", counting)
    return calls


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_fused_matches_reference_and_unfused(rng, layout, monkeypatch):
    x, a, b = _case(rng, layout)
    calls = _fused_used(monkeypatch)
    out, grads, w = gradients(apalu, x, a, b)
    assert calls, "the default did not take the fused path"
    want = _reference(x, a, b, w)
    for got, ref in zip([out, *grads], want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    out_ops, grads_ops, _ = gradients(
        lambda *t: apalu(*t, implementation="plain"), x, a, b
    )
    # (at the kink the plain path takes the left slope: compared apart)
    kink = np.zeros_like(x, bool)
    kink.flat[:2] = True
    grads[0][kink] = grads_ops[0][kink] = 0.0
    for got, other in zip([out, *grads], [out_ops, *grads_ops]):
        np.testing.assert_allclose(got, other, rtol=1e-5, atol=1e-5)


def test_fused_float64_is_exact(x64, rng, monkeypatch):
    x, a, b = _case(rng, "channel", "float64")
    calls = _fused_used(monkeypatch)
    out, grads, w = gradients(apalu, x, a, b)
    assert set(calls) == {"float64"}
    for got, ref in zip([out, *grads], _reference(x, a, b, w)):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [("float16", 3e-3), ("bfloat16", 2e-2)])
def test_fused_half_precision(rng, dtype, tol, monkeypatch):
    x, a, b = _case(rng, "channel", "float32", scale=2.0)
    xt, at, bt = (ops.cast(v, dtype) for v in (x, a, b))
    xq, aq, bq = (
        np.asarray(ops.convert_to_numpy(ops.cast(v, "float32")), np.float64)
        for v in (xt, at, bt)
    )
    calls = _fused_used(monkeypatch)
    out, grads, w = gradients(apalu, xt, at, bt)
    assert set(calls) == {dtype}
    ref = _reference(xq, aq, bq, w)
    np.testing.assert_allclose(out, ref[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(grads[0], ref[1], rtol=tol, atol=tol)
    # The slope gradients sum 24 terms (accumulated in float32, rounded once).
    for got, want in zip(grads[1:], ref[2:]):
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_fused_large_inputs_stay_finite(dtype, monkeypatch):
    x = np.concatenate(
        [np.linspace(-1e4, 1e4, 201), [-88.0, -1e-30, 0.0, 1e-30, 88.0]]
    ).astype("float32")
    xt = ops.cast(x, dtype)
    a = ops.cast(np.full(x.shape, 1.5), dtype)
    b = ops.cast(np.full(x.shape, 1.5), dtype)
    calls = _fused_used(monkeypatch)
    out, grads, w = gradients(apalu, xt, a, b)
    assert set(calls) == {dtype}
    for value in [out, *grads]:
        assert np.all(np.isfinite(value))
    xq = np.asarray(ops.convert_to_numpy(ops.cast(xt, "float32")), np.float64)
    tol = {"float32": 2e-6, "float16": 3e-3, "bfloat16": 2e-2}[dtype]
    full = np.full(x.shape, 1.5)
    for got, want in zip([out, *grads], _reference(xq, full, full, w)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_environment_variable_turns_it_off(rng, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the fused path was taken")

    monkeypatch.setattr(fused, "apalu", fail)
    monkeypatch.setenv("KERAS_APALU_FUSED", "0")
    x, a, b = _case(rng, "unit")
    out, _, _ = gradients(apalu, x, a, b)
    np.testing.assert_allclose(out, reference.apalu(x, a, b), rtol=2e-6, atol=2e-6)
    layer = layers.APALU(implementation="fused")
    layer(x)
    monkeypatch.delenv("KERAS_APALU_FUSED")
    with pytest.raises(AssertionError, match="fused path was taken"):
        apalu(x, a, b)


def test_unavailable_compiler_falls_back_with_one_warning(rng, monkeypatch):
    module = fused._backend_module()
    builds = []

    def broken():
        builds.append(1)
        raise fused.Unavailable("test: no compiler")

    monkeypatch.setattr(
        module, "kernel", lambda x, training: fused.cached("test", broken)
    )
    monkeypatch.setattr(fused, "_KERNELS", {})
    monkeypatch.setattr(fused, "_WARNED", set())
    x, a, b = _case(rng, "unit")
    with pytest.warns(RuntimeWarning, match="KERAS_APALU_FUSED=0") as record:
        out, grads, w = gradients(apalu, x, a, b)
        gradients(apalu, x, a, b)
    assert len([r for r in record if "test: no compiler" in str(r.message)]) == 1
    assert len(builds) == 1  # the failure is remembered, not retried
    for got, ref in zip([out, *grads], _reference(x, a, b, w, left_at_zero=True)):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # ... and `fit` runs through on the fallback.
    model = keras.Sequential([keras.Input((6,)), layers.APALU(), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        model.fit(x, x[:, :1], epochs=1, batch_size=16, verbose=0)


def test_layouts_that_do_not_fit_take_the_unfused_path():
    assert fused.rows_layout((), (), ()) is None
    assert fused.rows_layout((4,), (2, 4), ()) is None
    assert fused.rows_layout((None, None, 3), (1, 1, 3), ()) == 2
    assert fused.rows_layout((None, None, None), (), ()) is None
    assert fused.rows_layout((2, 3, 4, 5), (3, 4, 1), (1,)) == 1
    assert fused.rows_layout((2, 3, 4, 5), (), ()) == 3
    out = apalu(np.float32(-1.0), 1.0, 1.0)  # scalar input
    np.testing.assert_allclose(ops.convert_to_numpy(out), np.expm1(-1.0), rtol=1e-6)


def _model(implementation, small=False):
    if small:  # a Dense model: far less for torch.compile to compile
        inputs = keras.Input((6, 6, 2))
        x = keras.layers.Flatten()(inputs)
        x = keras.layers.Dense(8)(x)
        x = layers.APALU(implementation=implementation)(x)
        return keras.Model(inputs, keras.layers.Dense(1)(x))
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = layers.APALU(shared_axes=[1, 2], implementation=implementation)(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8)(x)
    x = layers.APALU(smooth=True, implementation=implementation)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


@pytest.mark.slow
@pytest.mark.parametrize("jit_compile", ["auto", True])
def test_fit_matches_unfused_with_a_partial_last_batch(rng, jit_compile):
    """Training with the fused layer gives the weights the unfused layer
    gives (in Keras' default mode), with batches of 16 and a last one of 4,
    in Keras' default mode and in a model compiled with jit_compile=True
    (nested compilation); then no new graph is compiled for other batch
    sizes."""
    if jit_compile is True and BACKEND == "jax":
        pytest.skip("jax's default ('auto') is jit_compile=True: tested once")
    x = rng.normal(0, 1, (36, 6, 6, 2)).astype("float32")
    y = rng.normal(0, 1, (36, 1)).astype("float32")
    small = jit_compile is True and BACKEND == "torch"
    if small:
        # Each batch size costs torch.compile a full compilation of the
        # train step (half a minute or more on 2 cores): a Dense model and
        # full batches; the partial last batch is tested in the default mode.
        x, y = x[:32], y[:32]
    weights = {}
    for implementation in ("fused", "plain"):
        keras.utils.set_random_seed(5)
        model = _model(implementation, small)
        # A rate at which training does not diverge: diverging weights
        # (1e9 after three steps at 0.05) amplify rounding differences.
        model.compile(
            keras.optimizers.SGD(0.005),
            "mse",
            jit_compile=jit_compile if implementation == "fused" else "auto",
        )
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
        weights[implementation] = [ops.convert_to_numpy(w) for w in model.weights]
        if implementation == "fused" and jit_compile == "auto":
            compiled = fused.cache_size()
            model.fit(x[:30], y[:30], epochs=1, batch_size=7, verbose=0)
            model.predict(x[:5], batch_size=3, verbose=0)
            if BACKEND != "jax":  # jax: the kernel is inlined in Keras' jit
                assert fused.cache_size() == compiled
    for got, want in zip(weights["fused"], weights["plain"]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_fit_is_finite(rng, policy, monkeypatch):
    keras.config.set_dtype_policy(policy)
    calls = _fused_used(monkeypatch)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16),
            layers.APALU(shared_axes=[1]),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    model.compile("adam", "mse")
    x = rng.normal(0, 3, (40, 8)).astype("float32")
    history = model.fit(x, x[:, :1], epochs=1, batch_size=16, verbose=0)
    assert calls and set(calls) == {policy.split("_")[1]}
    assert np.isfinite(history.history["loss"]).all()
    assert model.layers[1].a.dtype == "float32"


@pytest.mark.parametrize("training", [True, False])
def test_inference_calls_match_reference(rng, training, monkeypatch):
    """`training=False` (predict, export traces) gives the same values; on
    TensorFlow and JAX it takes the plain path, which export converters read
    (tf2onnx, the TFLite converter, jax2onnx); torch compiles inference too."""
    x, a, b = _case(rng, "channel")
    calls = _fused_used(monkeypatch)
    out = apalu(x, a, b, training=training)
    if BACKEND in ("tensorflow", "jax"):
        assert bool(calls) == training
    else:
        assert calls
    np.testing.assert_allclose(
        ops.convert_to_numpy(out), reference.apalu(x, a, b), rtol=2e-6, atol=2e-6
    )


@pytest.mark.parametrize(
    "old, new",
    [
        ({"custom_gradient": True}, "fused"),
        ({"custom_gradient": False}, "plain"),
        ({"implementation": "ops"}, "plain"),
        ({"implementation": "autodiff"}, "plain"),
        ({"implementation": "one_exp"}, "fused"),
        ({"implementation": "fused"}, "fused"),
        ({"implementation": "fused", "custom_gradient": False}, "plain"),
    ],
)
def test_old_configs_are_translated(old, new):
    """0.1.0 configs (and those from before `implementation`) load with the
    value of today, silently."""
    base = {
        "name": "apalu",
        "trainable": True,
        "dtype": "float32",
        "shared_axes": [1, 2],
        "smooth": False,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = layers.APALU.from_config(dict(base, **old))
    assert layer.implementation == new
    config = layer.get_config()
    assert "custom_gradient" not in config
    assert config["implementation"] == new
    assert layers.APALU.from_config(config).implementation == new


@pytest.mark.parametrize("value", ["ops", "autodiff", "one_exp", "xla"])
def test_removed_values_are_refused_by_the_constructor(value):
    with pytest.raises(ValueError, match="'fused' or 'plain'") as error:
        layers.APALU(implementation=value)
    if value in ("ops", "autodiff"):
        assert "use 'plain'" in str(error.value)
    # (Keras' own check of unknown layer keywords)
    with pytest.raises(ValueError, match="custom_gradient"):
        layers.APALU(custom_gradient=False)


def test_environment_variable_in_a_fresh_process():
    """KERAS_APALU_FUSED=0 set before the process starts: no backend module
    is imported and no kernel built; the layer still says "fused"."""
    script = (
        "import numpy as np, keras\n"
        "from keras_apalu import fused, layers\n"
        "x = np.zeros((4, 40000), 'float32')\n"
        "layer = layers.APALU(shared_axes='all', a_initializer='ones',\n"
        "                     b_initializer='ones')\n"
        "y = keras.ops.convert_to_numpy(layer(x))\n"
        "print(layer.implementation, fused._MODULES == {},\n"
        "      fused._KERNELS == {}, np.allclose(y, 0.0))\n"
    )
    env = dict(
        os.environ,
        KERAS_APALU_FUSED="0",
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-4:] == ["fused", "True", "True", "True"]
