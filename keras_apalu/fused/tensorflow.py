"""The fused APALU kernel for TensorFlow: XLA, inside any graph.

The forward `ops._forward_one_exp` and the VJP `ops._apalu_vjp_rows` with
`ops.sum` row reductions (the fastest pair measured on XLA:CPU, see
`forward` and `vjp`) are each a `tf.function(jit_compile=True)` with a `(None, None)` input
signature per dtype (one trace per dtype, any shape, no retracing per batch
size), joined by a `tf.custom_gradient` that keeps only x, a and b. XLA
compiles each into one fused pass, whether the caller runs eagerly, in
Keras' graph-mode train step, or in a model compiled with
`jit_compile=True` (where the inner functions are compiled with the rest).
"""

import tensorflow as tf

from keras_apalu import fused
from keras_apalu import ops as apalu_ops

_SUPPORTED = ("float16", "bfloat16", "float32", "float64")

#: Smaller inputs take the unfused path (none here: the call is inlined
#: into the caller's graph).
MIN_ELEMENTS = 0


#: A forward graph holding an XLA-compiled function is opaque to tf2onnx
#: (grappler does not inline functions marked for XLA: Keras' ONNX export
#: writes a PartitionedCall that onnxruntime refuses), so non-training calls,
#: such as every `model.export` trace, take the plain keras.ops form.
EXPORTS_FORWARD = False


def uses_rows_layout():
    return True


def device_of(x):
    return None  # placement is TensorFlow's; XLA compiles for CPU and GPU


def plain_here(x):
    return False


def forward(x, a, b):
    """The one-transcendental forward (measured 8-15 % faster than the
    select-free form under XLA:CPU)."""
    return apalu_ops._forward_one_exp(x, a, b)


def vjp(x, a, b, upstream):
    """The select-free VJP (faster than the one-transcendental VJP under
    XLA:CPU) with `ops.sum` row reductions, which XLA fuses with their
    element-wise producers (measured up to 1.3x faster than the
    matrix-vector form at (32, 64, 64, 32))."""
    return apalu_ops._apalu_vjp_rows(x, a, b, upstream, reduction="sum")


def _compiled(fn, dtype, n_args):
    row = tf.TensorSpec((1, None), dtype)
    matrix = tf.TensorSpec((None, None), dtype)
    specs = [matrix, row, row, matrix][:n_args]
    return tf.function(fn, jit_compile=True, input_signature=specs)


_FUNCTIONS = []


def cache_size():
    """How many graphs have been traced for XLA (one forward, one VJP per
    dtype used)."""
    return sum(f.experimental_get_tracing_count() for f in _FUNCTIONS)


def _make(dtype):
    compiled_forward = _compiled(forward, dtype, 3)
    compiled_vjp = _compiled(vjp, dtype, 4)
    _FUNCTIONS.extend([compiled_forward, compiled_vjp])

    @tf.custom_gradient
    def apalu_fused(x, a, b):
        def grad(upstream):
            return compiled_vjp(x, a, b, upstream)

        return compiled_forward(x, a, b), grad

    return apalu_fused, compiled_forward, compiled_vjp


def _probe(forward, vjp, dtype):
    """Compiles and runs forward and VJP once, eagerly, on a tiny input.

    (Eagerly even when called while a graph is traced, so that an XLA
    failure shows here and not in the middle of `fit`.)
    """
    with tf.init_scope():
        x = tf.constant([[-1.0, 0.0, 2.0], [3.0, -0.5, 0.25]], dtype)
        a = tf.constant([[1.0, 0.5, 2.0]], dtype)
        forward(x, a, a)
        vjp(x, a, a, x)


def kernel(dtype, device):
    """The fused `(x2, a2, b2) -> y2` for `dtype`; raises `Unavailable`."""
    if dtype not in _SUPPORTED:
        raise fused.Unavailable(f"dtype {dtype} is not supported")
    compiled, forward, vjp = _make(tf.as_dtype(dtype))
    try:
        _probe(forward, vjp, tf.as_dtype(dtype))
    except Exception as error:  # XLA missing or failing: fall back
        raise fused.Unavailable(
            f"XLA could not compile it for {dtype}: "
            f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        ) from None
    return compiled


plain_kernel = None
