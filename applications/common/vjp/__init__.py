"""Vector-Jacobian products per backend (the neural ODE's adjoint and NTK, the
activation study's side-by-side training).

    out, pullback = vjp(fn, primals)
    grads = pullback(cotangent)   # [sum(cotangent * d out / d p) for p in primals]

`fn` takes the tensors of `primals` (a list) as positional arguments and
returns one tensor. `pullback` may be called several times (for example with
one one-hot cotangent per sample for an empirical NTK); a primal that `out`
does not depend on gets a zero gradient. Each backend has one module of the
same name pattern here (`tensorflow.py`, `jax.py`, `torch.py`), chosen once
by `keras.backend.backend()`.
"""

import importlib

import keras


def _backend_module():
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        raise NotImplementedError(
            f"no vector-Jacobian product for the Keras backend "
            f"{backend!r}; use tensorflow, jax or torch."
        )
    return importlib.import_module(f"{__name__}.{backend}")


def vjp(fn, primals):
    """Evaluates `fn(*primals)` and returns `(out, pullback)`.

    Args:
        fn: function of `len(primals)` backend tensors returning one tensor.
        primals: list of backend tensors (floating point).

    Returns:
        `out`, the tensor `fn(*primals)`, and `pullback(cotangent)`, which
        returns the list of `sum(cotangent * d out / d primal)`, one tensor
        of each primal's shape (zeros where `out` does not depend on it).
        `cotangent` has the shape of `out`.
    """
    return _backend_module().vjp(fn, list(primals))


def value_and_grad(fn, primals):
    """`(fn(*primals), [d fn / d p for p in primals])` for a scalar `fn`."""
    out, pullback = vjp(fn, primals)
    return out, pullback(keras.ops.ones_like(out))
