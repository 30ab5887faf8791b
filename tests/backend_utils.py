"""Backend-specific helpers the tests need (gradients); the package has none."""

import keras
import numpy as np


def gradients(fn, *args, upstream=None):
    """Returns `(fn(*args), [d sum(fn * w) / d arg], w)` as NumPy arrays.

    `fn` maps backend tensors to one tensor; the loss is `sum(out * w)` with
    a fixed random weight `w` (uniform in [0.5, 1.5]) or the given
    `upstream`, so the gradient of each argument is the vector-Jacobian
    product with `w` (returned along with it).
    """
    backend = keras.backend.backend()
    out_shape = np.shape(keras.ops.convert_to_numpy(fn(*args)))
    if upstream is None:
        w = np.random.default_rng(7).uniform(0.5, 1.5, out_shape)
    else:
        w = np.broadcast_to(np.asarray(upstream, np.float64), out_shape)
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.Variable(a) for a in args]
        with tf.GradientTape() as tape:
            out = fn(*tensors)
            loss = tf.reduce_sum(out * tf.cast(w, out.dtype))
        grads = tape.gradient(loss, tensors)
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        def loss_fn(*tensors):
            out = fn(*tensors)
            return jnp.sum(out * jnp.asarray(w, out.dtype)), out

        argnums = tuple(range(len(args)))
        (_, out), grads = jax.value_and_grad(loss_fn, argnums, has_aux=True)(
            *[jnp.asarray(a) for a in args]
        )
    elif backend == "torch":
        import torch

        tensors = [
            keras.ops.convert_to_tensor(a).detach().clone().requires_grad_()
            for a in args
        ]
        out = fn(*tensors)
        loss = (out * torch.tensor(w, dtype=out.dtype)).sum()
        grads = torch.autograd.grad(loss, tensors)
    else:  # pragma: no cover
        raise NotImplementedError(backend)

    def to_np(t):
        if keras.backend.standardize_dtype(t.dtype) == "bfloat16":
            t = keras.ops.cast(t, "float32")
        return keras.ops.convert_to_numpy(t)

    return to_np(out), [to_np(g) for g in grads], w
