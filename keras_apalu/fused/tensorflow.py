"""The fused APALU kernel for TensorFlow: XLA, inside any graph.

`ops.apalu_forward` and `ops.apalu_vjp` are each a
`tf.function(jit_compile=True)` with a `(None, None)` input signature per
dtype (one trace per dtype, any shape, no retracing per batch size), joined
by a `tf.custom_gradient` that keeps only x, a and b. XLA compiles each into
one pass, whether the caller runs eagerly, in Keras' graph-mode train step,
or in a model compiled with `jit_compile=True` (where they are compiled
with the rest).

Calls outside training (`training=False`: predict, evaluate, every
`model.export` trace) take the plain path: a graph holding an XLA-compiled
function is opaque to tf2onnx (grappler does not inline functions marked
for XLA; Keras' ONNX export writes a PartitionedCall onnxruntime refuses).
"""

import tensorflow as tf

from keras_apalu import fused
from keras_apalu import ops as apalu_ops

_FUNCTIONS = []


def _build(dtype):
    matrix = tf.TensorSpec((None, None), dtype)
    row = tf.TensorSpec((1, None), dtype)
    forward = tf.function(
        apalu_ops.apalu_forward, jit_compile=True, input_signature=[matrix, row, row]
    )
    vjp = tf.function(
        apalu_ops.apalu_vjp,
        jit_compile=True,
        input_signature=[matrix, row, row, matrix],
    )
    _FUNCTIONS.extend([forward, vjp])
    # Compiled and run once here, eagerly even while a graph is traced, so
    # that an XLA failure shows now and not in the middle of `fit`.
    try:
        with tf.init_scope():
            x = tf.constant([[-1.0, 0.0, 2.0], [3.0, -0.5, 0.25]], dtype)
            a = tf.constant([[1.0, 0.5, 2.0]], dtype)
            forward(x, a, a)
            vjp(x, a, a, x)
    except Exception as error:  # XLA missing or failing
        raise fused.Unavailable(
            f"XLA could not compile it for {dtype.name}: "
            f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        ) from None

    @tf.custom_gradient
    def apalu_fused(x, a, b):
        def grad(upstream):
            return vjp(x, a, b, upstream)

        return forward(x, a, b), grad

    return apalu_fused


def kernel(x, training):
    """The XLA kernel for `x`'s dtype; `None` outside training."""
    if not training:
        return None
    return fused.cached(("tensorflow", x.dtype.name), lambda: _build(x.dtype))


def cache_size():
    """Graphs traced for XLA (one forward and one VJP per dtype used)."""
    return sum(f.experimental_get_tracing_count() for f in _FUNCTIONS)
