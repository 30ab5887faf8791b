"""TensorFlow-specific export support: a tf2onnx rule for `Expm1`.

ONNX has no Expm1 operator and tf2onnx 1.17 has no rule for TensorFlow's,
so Keras' `model.export(..., format="onnx")` writes a node onnxruntime
refuses. `register_converter_rules()` (run before `keras_apalu.export`
exports ONNX, and the first time APALU is traced into a TensorFlow graph, if
tf2onnx is installed; never on import) adds the rule `Expm1(x) -> Sub(Exp(x), 1)`. In
float32 that differs from expm1 by at most one unit in the last place of 1
(1.2e-7) in absolute value; APALU evaluates it only for x <= 0.
"""

import importlib.util

_REGISTERED = False


def _expm1_handler():
    from tf2onnx.handler import tf_op

    @tf_op("Expm1")
    class Expm1:  # noqa: F841 (registered by the decorator)
        @classmethod
        def version_1(cls, ctx, node, **kwargs):
            import numpy as np
            from onnx import helper

            dtype = helper.tensor_dtype_to_np_dtype(ctx.get_dtype(node.input[0]))
            exp = ctx.insert_new_node_on_input(node, "Exp", node.input[0])
            one = ctx.make_const(f"{node.name}_one", np.array(1, dtype=dtype))
            node.type = "Sub"
            ctx.replace_inputs(node, [exp.output[0], one.output[0]])

    return Expm1


def register_converter_rules():
    """Adds the Expm1 rule to tf2onnx if it is installed (once)."""
    global _REGISTERED
    if _REGISTERED or importlib.util.find_spec("tf2onnx") is None:
        return
    _expm1_handler()
    _REGISTERED = True
