"""The fused APALU path: `ops.apalu_forward` and `ops.apalu_vjp` compiled.

`keras_apalu.ops.apalu(..., implementation="fused")` (the default) calls
`apalu(x, a, b)` here. This module, in keras.ops alone, lays `x` out as a
`(rows, cols)` matrix and the slopes as `(1, cols)` rows (`cols` runs from
the first axis along which `a` or `b` varies to the end; reshapes and a
small broadcast, differentiated by the backend), so that one compiled
kernel per dtype serves every shape, slope sharing and batch size. It then
calls the module of the backend, `keras_apalu/fused/<backend>.py`, which
defines exactly two functions:

    kernel(x, training) -> callable or None
        The function `(x2, a2, b2) -> y2` for this call, on the layout
        above: forward `ops.apalu_forward`, backward `ops.apalu_vjp`,
        keeping only x2, a2 and b2, compiled by the backend's compiler
        (built once per dtype and device with `cached`, which tries it on a
        tiny input). `None` sends the call to the plain path silently (for
        example a TensorFlow inference trace, `training=False`, which
        export converters must read). Raises `Unavailable(cause)` when the
        backend cannot compile it (no C++ compiler, an XLA error, an
        unsupported device); the call then takes the plain path with one
        warning per cause.

    cache_size() -> int
        How many graphs the backend has compiled so far (tests check that
        another batch size compiles nothing new).

A new backend, or a GPU path, is one such module.
"""

import importlib
import math
import warnings

import keras
from keras import ops

#: The dtypes the fused kernels are built for.
DTYPES = ("float16", "bfloat16", "float32", "float64")


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
    """Warns once per process and cause that the plain path is used."""
    if cause in _WARNED:
        return
    _WARNED.add(cause)
    warnings.warn(
        f"keras_apalu: the fused APALU kernel is not available ({cause}); "
        "APALU runs its plain keras.ops form instead (same values, "
        "slower). To silence this, set the environment variable "
        "KERAS_APALU_FUSED=0 or pass implementation='plain'.",
        RuntimeWarning,
        stacklevel=4,
    )


def cached(key, build):
    """`build()` once per `key`; an `Unavailable` it raises is kept too."""
    if key not in _KERNELS:
        try:
            _KERNELS[key] = build()
        except Unavailable as error:
            _KERNELS[key] = error
    if isinstance(_KERNELS[key], Unavailable):
        raise _KERNELS[key]
    return _KERNELS[key]


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
    padded = [(1,) * (rank - len(shape)) + tuple(shape) for shape in (a_shape, b_shape)]
    varying = [i for i in range(rank) if any(shape[i] != 1 for shape in padded)]
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


def apalu(x, a, b, training=True):
    """APALU of `x` on the fused path, or `None` where it does not apply.

    `x`, `a` and `b` are tensors of one floating dtype (`ops._prepare`); the
    caller takes the plain path on `None`.
    """
    module = _backend_module()
    if module is None or keras.backend.standardize_dtype(x.dtype) not in DTYPES:
        return None
    x_shape = tuple(x.shape)
    k = rows_layout(x_shape, tuple(a.shape), tuple(b.shape))
    if k is None:
        return None
    try:
        kernel = module.kernel(x, training)
    except Unavailable as error:
        warn_fallback(str(error))
        return None
    if kernel is None:
        return None
    cols = math.prod(x_shape[k:])
    y = kernel(
        ops.reshape(x, (-1, cols)),
        _as_row(a, k, x_shape),
        _as_row(b, k, x_shape),
    )
    if all(isinstance(d, int) for d in x_shape):
        return ops.reshape(y, x_shape)
    return ops.reshape(y, ops.shape(x))
