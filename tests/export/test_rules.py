"""The converter rules and the export switch, tested on their own."""

import keras
import numpy as np
import pytest

from keras_apalu import export
from keras_apalu import ops as apalu_ops
from tests import reference

BACKEND = keras.backend.backend()

# expm1 where APALU uses it (x <= 0), with values near 0 where exp(x) - 1
# loses relative (not absolute) precision.
X = np.concatenate([-np.logspace(-8, 2, 200), [0.0]]).astype("float32")


def _onnxruntime(content_or_path, x):
    import onnxruntime

    session = onnxruntime.InferenceSession(
        content_or_path, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="tf2onnx converts TensorFlow graphs: TensorFlow pass",
)
def test_tf2onnx_expm1_rule_matches_float64():
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec([None], tf.float32),)
    function = tf.function(tf.math.expm1, input_signature=spec)
    proto, _ = tf2onnx.convert.from_function(function, spec, opset=17)
    assert "Expm1" not in {n.op_type for n in proto.graph.node}
    got = _onnxruntime(proto.SerializeToString(), X)
    np.testing.assert_allclose(got, np.expm1(X.astype(np.float64)), atol=1.2e-7, rtol=0)


@pytest.mark.skipif(
    BACKEND != "torch", reason="the TorchScript ONNX exporter: torch pass"
)
def test_torch_onnx_expm1_rule_matches_float64(tmp_path):
    import torch

    from keras_apalu.export import _torch

    _torch.register_onnx_expm1()

    class Expm1(torch.nn.Module):
        def forward(self, x):
            return torch.expm1(x)

    path = tmp_path / "expm1.onnx"
    torch.onnx.export(
        Expm1(),
        (torch.zeros(3),),
        str(path),
        dynamo=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
    )
    got = _onnxruntime(str(path), X)
    np.testing.assert_allclose(got, np.expm1(X.astype(np.float64)), atol=1.2e-7, rtol=0)


def test_is_exporting_only_inside_an_export():
    assert not export.is_exporting()
    with export.exporting():
        assert export.is_exporting()
    assert not export.is_exporting()


def test_apalu_while_exporting_matches_float64_reference():
    """The plain form `apalu` switches to while exporting: same values."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, (4, 6)).astype("float32")
    a = rng.uniform(0.3, 1.7, (6,)).astype("float32")
    b = rng.uniform(0.3, 1.7, (6,)).astype("float32")
    with export.exporting():
        got = keras.ops.convert_to_numpy(apalu_ops.apalu(x, a, b))
    np.testing.assert_allclose(got, reference.apalu(x, a, b), rtol=2e-6, atol=1e-6)


@pytest.mark.skipif(BACKEND != "torch", reason="torch's tracing flags: torch pass")
def test_torch_export_traces_the_plain_form(tmp_path):
    """Under torch.export the graph holds aten ops only (no autograd
    Function of the custom gradient)."""
    import torch

    from keras_apalu import layers

    model = keras.Sequential([keras.Input((5,)), layers.APALU()])
    x = np.linspace(-3, 3, 10, dtype="float32").reshape(2, 5)
    model(x)
    program = torch.export.export(model, (torch.from_numpy(x),), strict=False)
    targets = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert any("expm1" in t for t in targets), targets
    assert not any("autograd" in t or "higher_order" in t for t in targets), targets


def test_bad_path_and_format_fail_clearly(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match='writes a ".onnx" file'):
        export.export(model, tmp_path / "model.tflite", "onnx")
    with pytest.raises(ValueError, match="format must be one of"):
        export.export(model, tmp_path / "model.onnx", "tflite")


@pytest.mark.slow
def test_export_is_quiet_and_a_failed_export_keeps_the_earlier_file(
    tmp_path, capfd, monkeypatch
):
    from tests.export.conftest import build_model

    model = build_model()
    path = tmp_path / "model.onnx"
    capfd.readouterr()
    result = export.export(model, path, "onnx")
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)
    assert result.size_bytes == path.stat().st_size > 0
    assert result.ops["Exp"] == 4  # one per APALU layer
    before = path.read_bytes()

    def fails_halfway(filepath, **kwargs):
        print("converter chatter")
        with open(filepath, "wb") as file:
            file.write(b"half a model")
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(model, "export", fails_halfway)
    with pytest.raises(export.ExportError, match="(?s)crashed.*converter chatter"):
        export.export(model, path, "onnx")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile: torch pass")
def test_torch_compile_keeps_the_training_form_in_one_graph():
    """The export switch neither breaks a full-graph torch.compile nor
    turns on there: the gradient at x = 0 is still the custom gradient's
    right-hand slope 1.5 a (autodiff of the plain form gives b)."""
    import torch

    @torch.compile(fullgraph=True)
    def f(x, a, b):
        return apalu_ops.apalu(x, a, b)

    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    a, b = torch.tensor(0.8), torch.tensor(0.3)
    f(x, a, b).sum().backward()
    # The reference takes the right-hand slope 1.5 a at x = 0.
    expected, _, _ = reference.derivatives(x.detach().numpy(), 0.8, 0.3)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5)
