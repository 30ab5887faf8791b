"""The fused APALU path: the keras.ops math compiled by each backend.

`keras_apalu.ops.apalu(..., implementation="fused")` (the default) calls
`apalu(x, a, b)` here. This module, written in `keras.ops` alone, lays the
input out as a `(rows, cols)` matrix with the slopes as `(1, cols)` rows
(reshapes and a small broadcast of the slopes, differentiated by the
backend), then calls the kernel of the backend's module, one small module per
backend with the same interface:

    kernel(dtype, device) -> callable (x2, a2, b2) -> y2
    device_of(x), plain_here(x), plain_kernel, cache_size(), MIN_ELEMENTS,
    EXPORTS_FORWARD (whether a forward-only graph with the kernel in it
    converts to deployment formats as it is),
    uses_rows_layout()  (False: the kernel takes x, a, b as they are)

whose callable computes a forward and a VJP from ops.py (each module picks,
by measurement, the forms its compiler runs fastest: `_forward_select_free`
or `_forward_one_exp`, `_apalu_vjp_rows` or `_one_exp_vjp_rows`, and the row
reduction), each compiled into one pass, keeping only
x2, a2 and b2 for the backward pass; it raises `Unavailable(cause)` when the
backend cannot compile them (no C++ compiler, an XLA error, an unsupported
dtype or device). A new backend or device needs only such a module.

The fixed rank-2 layout means one compiled kernel per dtype for every input
shape and slope sharing (dynamic sizes: no recompilation per batch size).
"""

import importlib
import math
import warnings

import keras
from keras import ops


class Unavailable(Exception):
    """Raised by a backend module when its fused kernel cannot be used."""


_MODULES = {}
_KERNELS = {}
_WARNED = set()


def _backend_module():
    name = keras.backend.backend()
    if name not in _MODULES:
        try:
            _MODULES[name] = importlib.import_module(f"{__name__}.{name}")
        except ImportError:
            _MODULES[name] = None  # a backend without a fused module
    return _MODULES[name]


def cache_size():
    """Graphs compiled so far by this backend's fused module (0 if none)."""
    module = _backend_module()
    return 0 if module is None else module.cache_size()


def warn_fallback(cause):
    """Warns once per process and cause that the unfused path is used."""
    if cause in _WARNED:
        return
    _WARNED.add(cause)
    warnings.warn(
        f"keras_apalu: the fused APALU kernel is not available ({cause}); "
        "APALU runs its unfused keras.ops form instead (same values, "
        "slower). To silence this, set the environment variable "
        "KERAS_APALU_FUSED=0 or pass implementation='ops'.",
        RuntimeWarning,
        stacklevel=3,
    )


def rows_layout(x_shape, a_shape, b_shape):
    """The axis `k` from which `x` is laid out as columns, or `None`.

    `x` is viewed as `(prod(x_shape[:k]), prod(x_shape[k:]))`: `k` is the
    first axis along which `a` or `b` varies (the last axis if neither
    varies), so both slopes are constant along the rows. `None` when that
    does not fit: a scalar `x`, slopes of higher rank than `x`, or an
    unknown or zero size among the columns.
    """
    rank = len(x_shape)
    if rank == 0 or len(a_shape) > rank or len(b_shape) > rank:
        return None
    padded = [
        (1,) * (rank - len(shape)) + tuple(shape) for shape in (a_shape, b_shape)
    ]
    varying = [
        i for i in range(rank) if any(shape[i] != 1 for shape in padded)
    ]
    k = varying[0] if varying else rank - 1
    for d in x_shape[k:]:
        if d is None or not isinstance(d, int) or d == 0:
            return None
    return k


def _as_row(p, k, x_shape):
    """`p` broadcast over `x_shape[k:]` and flattened to `(1, cols)`."""
    rank = len(x_shape)
    p = ops.reshape(p, (1,) * (rank - len(p.shape)) + tuple(p.shape))
    columns = tuple(x_shape[k:])
    p = ops.reshape(p, tuple(p.shape[k:]))
    if tuple(p.shape) != columns:
        p = ops.broadcast_to(p, columns)
    return ops.reshape(p, (1, math.prod(columns)))


def _kernel(module, dtype, device):
    key = (keras.backend.backend(), dtype, device)
    if key not in _KERNELS:
        try:
            _KERNELS[key] = module.kernel(dtype, device)
        except Unavailable as error:
            warn_fallback(str(error))
            _KERNELS[key] = None
    return _KERNELS[key]


def apalu(x, a, b, training=True):
    """APALU of `x` on the fused path, or `None` where it does not apply.

    `x`, `a` and `b` are tensors of one floating dtype (`ops._prepare`); the
    caller takes the unfused path on `None`. With `training=False` (an
    inference or export trace) a backend whose compiled kernel converters
    cannot read (`EXPORTS_FORWARD = False`) returns `None`.
    """
    module = _backend_module()
    if module is None:
        return None
    if not training and not getattr(module, "EXPORTS_FORWARD", True):
        return None
    x_shape = tuple(x.shape)
    k = rows_layout(x_shape, tuple(a.shape), tuple(b.shape))
    if k is None:
        return None
    if module.MIN_ELEMENTS and all(isinstance(d, int) for d in x_shape):
        if math.prod(x_shape) < module.MIN_ELEMENTS:
            return None  # the eager ops are faster there
    dtype = keras.backend.standardize_dtype(x.dtype)
    device = module.device_of(x)
    if module.plain_here(x):
        kernel = module.plain_kernel
    else:
        kernel = _kernel(module, dtype, device)
    if kernel is None:
        return None
    if not module.uses_rows_layout():
        return kernel(x, a, b)
    cols = math.prod(x_shape[k:])
    y = kernel(
        ops.reshape(x, (-1, cols)), _as_row(a, k, x_shape),
        _as_row(b, k, x_shape),
    )
    if all(isinstance(d, int) for d in x_shape):
        return ops.reshape(y, x_shape)
    return ops.reshape(y, ops.shape(x))
