"""Int8 test helpers: float64 NumPy quantisation reference and a hand-made
one-op int8 APALU flatbuffer."""

import numpy as np

from tests.tflite.reference import apalu_reference


def quantize(y, scale, zero_point):
    """round(y / scale) + zero_point, saturated to int8 (float64)."""
    q = np.round(np.asarray(y, np.float64) / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q, scale, zero_point):
    return scale * (np.asarray(q, np.float64) - zero_point)


def apalu_int8_reference(q, a, b, in_q, out_q):
    """quantise(apalu(dequantise(q))) in float64."""
    x = dequantize(q, *in_q)
    return quantize(apalu_reference(x, a, b), *out_q)


def quantize_param_int32(p):
    """A per-tensor int32 quantisation of a parameter: (q, scale)."""
    p = np.asarray(p, np.float64)
    scale = float(np.max(np.abs(p))) / 2**30 or 1.0
    return np.round(p / scale).astype(np.int32), scale


def apalu_int8_flatbuffer(x_shape, a, b, in_q, out_q, param_type="FLOAT32"):
    """A one-op model CUSTOM "APALU"(x int8, a, b) -> int8.

    Args:
        x_shape: shape of x.
        a, b: parameter arrays (broadcastable to x).
        in_q, out_q: (scale, zero_point) of x and of the output.
        param_type: "FLOAT32" (a, b stored as is) or "INT32" (quantised per
            tensor, see `quantize_param_int32`).
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
    model.buffers = [schema.BufferT()]

    def tensor(name, shape, tensor_type, data=None, quant=None):
        t = schema.TensorT()
        t.name = name
        t.shape = np.asarray(shape, np.int32)
        t.type = getattr(schema.TensorType, tensor_type)
        t.buffer = 0
        if quant is not None:
            q = schema.QuantizationParametersT()
            q.scale = [float(quant[0])]
            q.zeroPoint = [int(quant[1])]
            t.quantization = q
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(
                np.ascontiguousarray(data).tobytes(), np.uint8
            )
            model.buffers.append(buffer)
            t.buffer = len(model.buffers) - 1
        return t

    def param(name, value):
        value = np.asarray(value, np.float32)
        if param_type == "FLOAT32":
            return tensor(name, value.shape, "FLOAT32", value)
        q, scale = quantize_param_int32(value)
        return tensor(name, value.shape, "INT32", q, (scale, 0))

    tensors = [
        tensor("x", x_shape, "INT8", quant=in_q),
        param("a", a),
        param("b", b),
        tensor("y", x_shape, "INT8", quant=out_q),
    ]
    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs = np.asarray([0, 1, 2], np.int32)
    op.outputs = np.asarray([3], np.int32)
    subgraph = schema.SubGraphT()
    subgraph.tensors = tensors
    subgraph.inputs = np.asarray([0], np.int32)
    subgraph.outputs = np.asarray([3], np.int32)
    subgraph.operators = [op]
    model.subgraphs = [subgraph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
