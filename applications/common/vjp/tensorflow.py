"""Vector-Jacobian product on the TensorFlow backend (a persistent GradientTape)."""

import tensorflow as tf


def vjp(fn, primals):
    primals = [tf.convert_to_tensor(p) for p in primals]
    with tf.GradientTape(persistent=True) as tape:
        for p in primals:
            tape.watch(p)
        out = fn(*primals)

    def pullback(cotangent):
        grads = tape.gradient(
            out,
            primals,
            output_gradients=tf.cast(cotangent, out.dtype),
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        return list(grads)

    return out, pullback
