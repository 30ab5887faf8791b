"""Vector-Jacobian product on the JAX backend (`jax.vjp`)."""

import jax
import jax.numpy as jnp


def vjp(fn, primals):
    out, pull = jax.vjp(fn, *primals)

    def pullback(cotangent):
        return list(pull(jnp.asarray(cotangent, dtype=out.dtype)))

    return out, pullback
