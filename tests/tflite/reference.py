"""Test helpers: the float64 NumPy APALU (tests/reference.py), a hand-made APALU model,
and a one-call interpreter runner."""

import numpy as np

# The float64 NumPy APALU every test compares against.
from tests.reference import apalu as apalu_reference  # noqa: F401


def apalu_op_flatbuffer(
    tensors, op_inputs, op_outputs, model_inputs=(0,), custom_options=None
):
    """A one-op .tflite model: CUSTOM "APALU" over hand-described tensors.

    Written with the TFLite schema's object API, not by the converter, so that
    the kernel can be tested on its own and fed malformed nodes.

    Args:
        tensors: list of `(name, shape, type_name, data, quantization)`;
            `data` (constant contents) and `quantization` (`(scale,
            zero_point)`, per tensor, or two sequences per channel) may be
            None. Tensor 0 is the model input unless `model_inputs` says
            otherwise.
        op_inputs, op_outputs: tensor indices of the op's inputs and outputs
            (the outputs are also the model's).
        model_inputs: tensor indices of the model's inputs.
        custom_options: bytes for the op's custom_options, or None.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT()
    model.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.CUSTOM
    code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "APALU"
    code.version = 1
    model.operatorCodes = [code]
    model.buffers = [schema.BufferT()]  # buffer 0: the empty sentinel

    def tensor(name, shape, tensor_type, data, quant):
        t = schema.TensorT()
        t.name = name
        t.shape = np.asarray(shape, np.int32)
        t.type = getattr(schema.TensorType, tensor_type)
        t.buffer = 0
        if quant is not None:
            q = schema.QuantizationParametersT()
            # Per tensor, or per channel when given sequences.
            q.scale = [float(v) for v in np.atleast_1d(quant[0])]
            q.zeroPoint = [int(v) for v in np.atleast_1d(quant[1])]
            t.quantization = q
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            model.buffers.append(buffer)
            t.buffer = len(model.buffers) - 1
        return t

    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs = np.asarray(op_inputs, np.int32)
    op.outputs = np.asarray(op_outputs, np.int32)
    if custom_options is not None:
        op.customOptions = np.frombuffer(bytes(custom_options), np.uint8)
    subgraph = schema.SubGraphT()
    subgraph.tensors = [tensor(*spec) for spec in tensors]
    subgraph.inputs = np.asarray(model_inputs, np.int32)
    subgraph.outputs = np.asarray(op_outputs, np.int32)
    subgraph.operators = [op]
    model.subgraphs = [subgraph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def apalu_flatbuffer(x_shape, a, b, x_type="FLOAT32", inputs=3, outputs=1):
    """A one-op float model CUSTOM "APALU"(x, a, b), a and b constant.

    Args:
        x_shape: shape of the model input x.
        a, b: float32 arrays (constant tensors).
        x_type: TensorType name of x (e.g. "INT32" for a wrong dtype).
        inputs: how many of (x, a, b) the op gets (extra ones repeat b).
        outputs: how many outputs the op has.
    """
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    tensors = [
        ("x", x_shape, x_type, None, None),
        ("a", a.shape, "FLOAT32", a, None),
        ("b", b.shape, "FLOAT32", b, None),
        ("y", x_shape, "FLOAT32", None, None),
        ("y2", x_shape, "FLOAT32", None, None),
    ]
    return apalu_op_flatbuffer(tensors, [0, 1, 2, 2, 2][:inputs], [3, 4][:outputs])


def run(interpreter, x):
    """Runs a one-input, one-output interpreter on `x` (resizing if needed)."""
    detail = interpreter.get_input_details()[0]
    if tuple(detail["shape"]) != x.shape:
        interpreter.resize_tensor_input(detail["index"], x.shape)
        interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], np.ascontiguousarray(x))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
