"""Every export format with APALU, run in its real runtime, on this backend.

The table of tested cells is docs/deployment.md's. A cell Keras exports from
this backend is tested with a plain `model.export(...)`; a cell Keras cannot
do is tested through `keras_apalu.export.export`'s subprocess route, and the
ReLU control shows that Keras refuses it for a model without APALU too.
"""

import keras
import numpy as np
import pytest

from keras_apalu import export
from tests import reference

BACKEND = keras.backend.backend()
TOLERANCE = 1e-5
# What Keras 3.15 raises for the pairs `export.ROUTES` sends elsewhere (the
# same for a ReLU model): its own checks, or the converter it calls.
KERAS_REFUSALS = {
    ("jax", "litert"): "ValueError",  # needs TensorFlow or PyTorch
    ("jax", "openvino"): "OpConversionFailure",  # openvino: XlaCallModule
    ("torch", "tf_saved_model"): "UserError",  # torch._dynamo: dynamic_shapes
    ("torch", "litert"): "ImportError",  # litert-torch not installed
    ("tensorflow", "torch"): "ValueError",  # needs PyTorch
    ("jax", "torch"): "ValueError",  # needs PyTorch
}


def _conv_valid(x, kernel, bias):
    windows = np.lib.stride_tricks.sliding_window_view(
        x, kernel.shape[:2], axis=(1, 2)
    )  # (n, h', w', c, kh, kw)
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel) + bias


def float64_forward(model, x):
    """The test model (see conftest.build_model) in float64 NumPy."""
    h = np.asarray(x, np.float64)
    for layer in model.layers[1:]:
        weights = [np.asarray(w, np.float64) for w in layer.get_weights()]
        kind = type(layer).__name__
        if kind == "Conv2D":
            h = _conv_valid(h, *weights)
        elif kind == "Dense":
            h = h @ weights[0] + weights[1]
        elif kind == "GlobalAveragePooling2D":
            h = h.mean(axis=(1, 2))
        elif kind == "APALU":
            a = weights[0]
            b = 1.5 * a if layer.smooth else weights[1]
            h = reference.apalu(h, a, b)
        else:
            raise AssertionError(f"unexpected layer {kind}")
    return h


def _keras_cells():
    return [f for f in export.FORMATS if export.route(f)[1] is None]


def _routed_cells():
    return [f for f in export.FORMATS if export.route(f)[1] is not None]


def test_keras_model_matches_float64_reference(model, inputs):
    """The oracle of every cell below, checked against NumPy float64."""
    got = np.asarray(model.predict(inputs, verbose=0))
    np.testing.assert_allclose(
        got, float64_forward(model, inputs), atol=TOLERANCE, rtol=0
    )


def _parity(model, path, fmt, inputs):
    expected = np.asarray(model.predict(inputs, verbose=0))
    got = export.load(path, fmt)(inputs)
    assert got.shape == expected.shape
    error = np.max(np.abs(got - expected))
    assert error <= TOLERANCE, f"{fmt}: max abs error {error:.2e}"


@pytest.mark.slow
@pytest.mark.parametrize("fmt", export.FORMATS)
def test_plain_model_export_runs_in_its_runtime(fmt, model, inputs, tmp_path):
    """`model.export(path, format=fmt)` as a user writes it, loaded in the
    format's runtime (onnxruntime, OpenVINO, LiteRT, tf.saved_model.load,
    torch.export.load): max abs error <= 1e-5 against Keras."""
    if fmt not in _keras_cells():
        pytest.skip(
            f"Keras cannot export {fmt} from {BACKEND}: "
            f"{export.route(fmt)[1]} (covered by the routed test)"
        )
    path = tmp_path / f"model{export.SUFFIXES[fmt]}"
    model.export(str(path), format=fmt, verbose=False)
    _parity(model, path, fmt, inputs)


@pytest.fixture(scope="module")
def routed(model, inputs, tmp_path_factory):
    """The cells Keras cannot export from this backend, written by
    `keras_apalu.export.export_all` (one subprocess per exporting backend)."""
    folder = tmp_path_factory.mktemp("routed")
    paths = {f: folder / f"model{export.SUFFIXES[f]}" for f in _routed_cells()}
    return export.export_all(model, paths, check_inputs=inputs)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", _routed_cells())
def test_routed_export_runs_in_its_runtime(fmt, routed, model, inputs):
    """Where Keras cannot export from this backend, `keras_apalu.export`
    exports the saved .keras under a backend that can (a subprocess)."""
    result = routed[fmt]
    assert "subprocess" in result.route
    assert result.max_abs_error <= TOLERANCE
    _parity(model, result.path, fmt, inputs)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", _routed_cells())
def test_keras_refuses_routed_cells_for_relu_too(fmt, relu_model, tmp_path):
    """The control: the cells routed through a subprocess fail in Keras for
    a model without APALU, so they are Keras' limits. (When a Keras release
    lifts one, this fails: then drop the route.)"""
    path = tmp_path / f"relu{export.SUFFIXES[fmt]}"
    with pytest.raises(export.ExportError) as info, export.quiet():
        relu_model.export(str(path), format=fmt, verbose=False)
    refusal = info.value.__cause__  # what Keras raised, under quiet()'s error
    assert type(refusal).__name__ == KERAS_REFUSALS[BACKEND, fmt], repr(refusal)
