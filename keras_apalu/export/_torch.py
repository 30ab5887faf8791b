"""Torch-specific export support (imported only under the torch backend).

The TorchScript ONNX exporter has no rule for `aten::expm1` (ONNX has no
Expm1 operator); `register_onnx_expm1()` adds one, `Exp(x) - 1`, before
`keras_apalu.export` exports ONNX and the first time APALU is traced inside
an ONNX export (see `keras_apalu._exporting`). In float32 that differs from
expm1 by at most one unit in the last place of 1 (1.2e-7) in absolute value;
APALU only evaluates it for x <= 0, where |expm1(x)| < 1.
"""

import torch

_ONNX_REGISTERED = False


def _expm1_symbolic(g, x):
    one = g.op("Constant", value_t=torch.tensor(1.0))
    one = g.op("CastLike", one, x)
    return g.op("Sub", g.op("Exp", x), one)


def register_onnx_expm1():
    """Registers `aten::expm1 -> Exp(x) - 1` for `torch.onnx.export`."""
    global _ONNX_REGISTERED
    if not _ONNX_REGISTERED:
        torch.onnx.register_custom_op_symbolic("aten::expm1", _expm1_symbolic, 15)
        _ONNX_REGISTERED = True
