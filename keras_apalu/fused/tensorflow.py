"""The fused APALU kernel for TensorFlow: XLA, inside any graph.

The forward `ops._forward_select_free` and the VJP `ops._apalu_vjp_rows`
are each a `tf.function(jit_compile=True)` with a `(None, None)` input
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
    forward = _compiled(apalu_ops._forward_select_free, dtype, 3)
    vjp = _compiled(apalu_ops._apalu_vjp_rows, dtype, 4)
    _FUNCTIONS.extend([forward, vjp])

    @tf.custom_gradient
    def apalu_fused(x, a, b):
        def grad(upstream):
            return vjp(x, a, b, upstream)

        return forward(x, a, b), grad

    return apalu_fused, forward, vjp


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
