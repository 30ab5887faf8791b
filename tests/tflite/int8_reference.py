"""Int8 test helpers: float64 NumPy quantisation reference and a hand-made
one-op int8 APALU flatbuffer."""

import numpy as np

from tests.tflite.reference import apalu_op_flatbuffer
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

    def param(name, value):
        value = np.asarray(value, np.float32)
        if param_type == "FLOAT32":
            return (name, value.shape, "FLOAT32", value, None)
        q, scale = quantize_param_int32(value)
        return (name, value.shape, "INT32", q, (scale, 0))

    tensors = [
        ("x", x_shape, "INT8", None, in_q),
        param("a", a),
        param("b", b),
        ("y", x_shape, "INT8", None, out_q),
    ]
    return apalu_op_flatbuffer(tensors, [0, 1, 2], [3])
