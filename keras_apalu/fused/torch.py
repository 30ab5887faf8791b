"""The fused APALU kernel for PyTorch: Inductor (`torch.compile`).

`ops.apalu_forward` and `ops.apalu_vjp` (keras.ops on torch tensors) are
each passed once through `torch.compile(dynamic=True)` and joined by a
`torch.autograd.Function` that saves only x, a and b; the `(rows, cols)`
layout means one compiled graph per dtype and device for every shape and
batch size. Inductor keeps compiled kernels on disk (its FX graph cache,
under `TORCHINDUCTOR_CACHE_DIR`, by default `/tmp/torchinductor_<user>`),
so only the first process on a machine pays the full compilation.

The same `autograd.Function` with the math uncompiled (same values, same
gradient) serves inputs below `MIN_ELEMENTS`, calls inside a caller's own
`torch.compile` (whose compilation fuses it) and torch's meta device
(Keras' shape inference).
"""

import torch

from keras_apalu import fused
from keras_apalu import ops as apalu_ops

#: Below this many elements the uncompiled math is faster: a compiled call
#: costs about 1.3 ms of guards and dispatch (fwd+bwd, CPU), the eager ops
#: about 0.6 ms plus 0.027 ms per 1000 elements (measured crossover near
#: 37,000).
MIN_ELEMENTS = 32768


def _function(forward, vjp):
    def detached(*tensors):
        # Dynamo guards on `requires_grad` and on the sizes of a view's
        # base, which would recompile per batch size and between training
        # and inference.
        return [t.detach().contiguous() for t in tensors]

    class APALUFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, a, b):
            ctx.save_for_backward(x, a, b)
            return forward(*detached(x, a, b))

        @staticmethod
        def backward(ctx, upstream):
            return vjp(*detached(*ctx.saved_tensors, upstream))

    return APALUFunction.apply


_compiled = _function(
    torch.compile(apalu_ops.apalu_forward, dynamic=True),
    torch.compile(apalu_ops.apalu_vjp, dynamic=True),
)
_eager = _function(apalu_ops.apalu_forward, apalu_ops.apalu_vjp)


def _build(dtype, device):
    """Compiles forward and backward on a tiny input (dynamic sizes)."""
    if device not in ("cpu", "cuda"):
        raise fused.Unavailable(f"device {device} is not supported")
    try:
        with torch.enable_grad():  # the first call may come under no_grad
            x = torch.tensor(
                [[-1.0, 0.0, 2.0], [3.0, -0.5, 0.25]],
                dtype=dtype,
                device=device,
                requires_grad=True,
            )
            a = torch.tensor(
                [[1.0, 0.5, 2.0]], dtype=dtype, device=device, requires_grad=True
            )
            _compiled(x, a, a).sum().backward()
    except Exception as error:  # no C++ compiler, Inductor error...
        raise fused.Unavailable(
            f"torch.compile could not compile it for {dtype} on {device}: "
            f"{type(error).__name__}: "
            f"{str(error).strip().splitlines()[0][:200]}"
        ) from None
    return _compiled


def kernel(x, training):
    """The compiled kernel for `x`'s dtype and device, or the uncompiled
    one (small inputs, a caller's compilation, the meta device)."""
    if (
        torch.compiler.is_compiling()
        or x.device.type == "meta"
        or x.numel() < MIN_ELEMENTS
    ):
        return _eager
    return fused.cached(
        ("torch", x.dtype, x.device.type), lambda: _build(x.dtype, x.device.type)
    )


def cache_size():
    """How many graphs Dynamo holds for the forward and the VJP."""
    from torch._C._dynamo.eval_frame import _debug_get_cache_entry_list

    return sum(
        len(_debug_get_cache_entry_list(fn.__code__))
        for fn in (apalu_ops.apalu_forward, apalu_ops.apalu_vjp)
    )
