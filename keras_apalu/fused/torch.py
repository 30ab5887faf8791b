"""The fused APALU kernel for PyTorch: Inductor (`torch.compile`).

The forward `ops._forward_one_exp` and the VJP `ops._one_exp_vjp_rows`
with `ops.sum` row reductions (keras.ops run on torch tensors under the
torch backend) are each passed once through `torch.compile(dynamic=True)` and joined by a
`torch.autograd.Function` that saves only x, a and b. The layout is always
`(rows, cols)` with `(1, cols)` slopes, so one compiled graph per dtype
serves every shape and batch size. Inductor keeps compiled kernels on disk
(its FX graph cache, under `TORCHINDUCTOR_CACHE_DIR`, by default
`/tmp/torchinductor_<user>`), so only the first process on a machine pays
the full compilation.

Inside a caller's own `torch.compile` (a model compiled with
`jit_compile=True`) the same `autograd.Function` runs the uncompiled math
and the caller's compilation fuses it.
"""

import torch

from keras_apalu import fused
from keras_apalu import ops as apalu_ops

_SUPPORTED = ("float16", "bfloat16", "float32", "float64")
_DEVICES = ("cpu", "cuda")

#: Below this many elements eager torch is faster: a compiled call costs
#: about 1.3 ms of guards and dispatch (fwd+bwd, CPU), the eager ops about
#: 0.6 ms plus 0.027 ms per 1000 elements (measured crossover near 37,000).
MIN_ELEMENTS = 32768


def uses_rows_layout():
    return True


def device_of(x):
    return x.device.type


def plain_here(x):
    """Inside a caller's compilation, or on the meta device of Keras' shape
    inference, the uncompiled math is used (without a warning)."""
    return torch.compiler.is_compiling() or x.device.type == "meta"


def _plain(*tensors):
    """Detached, contiguous tensors: Dynamo guards on `requires_grad` and
    on the sizes of a view's base, which would recompile per batch size and
    between training and inference."""
    return [t.detach().contiguous() for t in tensors]


def _function(forward, vjp):
    class APALUFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, a, b):
            ctx.save_for_backward(x, a, b)
            return forward(*_plain(x, a, b))

        @staticmethod
        def backward(ctx, upstream):
            x, a, b = ctx.saved_tensors
            return vjp(*_plain(x, a, b, upstream))

    return APALUFunction.apply


def forward(x, a, b):
    """The one-transcendental forward (one expm1 and one reciprocal per
    element; measured 10-20 % faster than the select-free form here)."""
    return apalu_ops._forward_one_exp(x, a, b)


def vjp(x, a, b, upstream):
    """The one-transcendental VJP with `ops.sum` row reductions, which
    Inductor fuses into the element-wise loop; a matmul row reduction is an
    external GEMV after the products are written out (measured 2.4x slower
    at (32, 64, 64, 32))."""
    return apalu_ops._one_exp_vjp_rows(x, a, b, upstream, reduction="sum")


_forward = torch.compile(forward, dynamic=True)
_vjp = torch.compile(vjp, dynamic=True)
_fused = _function(_forward, _vjp)

#: The same function with the math uncompiled, for use inside a caller's
#: own compilation.
plain_kernel = _function(forward, vjp)


def cache_size():
    """How many graphs Dynamo holds for the forward and the VJP."""
    from torch._C._dynamo.eval_frame import _debug_get_cache_entry_list

    return sum(
        len(_debug_get_cache_entry_list(fn.__code__))
        for fn in (forward, vjp)
    )


def _probe(dtype, device):
    """Compiles forward and backward on a tiny input (dynamic sizes)."""
    with torch.enable_grad():  # the first call may come under no_grad
        _probe_step(getattr(torch, dtype), device)


def _probe_step(dtype, device):
    x = torch.tensor([[-1.0, 0.0, 2.0], [3.0, -0.5, 0.25]], dtype=dtype,
                     device=device, requires_grad=True)
    a = torch.tensor([[1.0, 0.5, 2.0]], dtype=dtype, device=device,
                     requires_grad=True)
    y = _fused(x, a, a.detach().clone().requires_grad_())
    y.backward(torch.ones_like(y))
    if x.grad is None or a.grad is None:
        raise RuntimeError("no gradient from the fused kernel")


def kernel(dtype, device):
    """The fused `(x2, a2, b2) -> y2`; raises `fused.Unavailable`."""
    if dtype not in _SUPPORTED:
        raise fused.Unavailable(f"dtype {dtype} is not supported")
    if device not in _DEVICES:
        raise fused.Unavailable(f"device {device} is not supported")
    try:
        _probe(dtype, device)
    except Exception as error:  # no C++ compiler, Inductor error...
        raise fused.Unavailable(
            f"torch.compile could not compile it for {dtype} on {device}: "
            f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}"
        ) from None
    return _fused
