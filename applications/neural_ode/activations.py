"""The activations a neural ODE's vector field can use, chosen by name.

    apalu_smooth  APALU with b = 1.5 a (C1 at 0), as `layers.APALU(smooth=True)`
    apalu         APALU with independent a, b (a kink at 0 unless b = 1.5 a),
                  as `layers.APALU()`
    relu          max(x, 0) (a kink at 0)
    softplus      log(1 + exp(x))            (smooth)
    tanh          tanh(x)                    (smooth)
    gelu          x Phi(x), exact form       (smooth)

APALU's slopes are trainable, one (a, b) pair per hidden unit, initialised
like the layer's default (uniform on (0, 2)); the math is
`keras_apalu.ops.apalu`.
"""

from keras import ops

from keras_apalu.layers.apalu import SMOOTH_RATIO
from keras_apalu.ops import apalu

ACTIVATIONS = ("apalu_smooth", "apalu", "relu", "softplus", "tanh", "gelu")
#: The smallest slope APALU is allowed during training (the layer's
#: "strictly_positive" constraint).
MIN_SLOPE = 1e-3


def check_name(name):
    if name not in ACTIVATIONS:
        raise ValueError(
            f"neural_ode: unknown activation {name!r}; choose from {ACTIVATIONS}."
        )
    return name


def parameter_names(name):
    """Names of the activation's trainable parameters, in order."""
    check_name(name)
    return {"apalu_smooth": ["a"], "apalu": ["a", "b"]}.get(name, [])


def init_parameters(name, units, rng, dtype):
    """NumPy initial values of the activation's parameters (a dict)."""
    return {
        key: rng.uniform(0.0, 2.0, size=(units,)).astype(dtype)
        for key in parameter_names(name)
    }


def apply(name, x, params):
    """`name`(x) with the activation's parameters `params` (a dict of tensors)."""
    if name == "apalu_smooth":
        return apalu(x, params["a"], SMOOTH_RATIO * params["a"])
    if name == "apalu":
        return apalu(x, params["a"], params["b"])
    if name == "relu":
        return ops.relu(x)
    if name == "softplus":
        return ops.softplus(x)
    if name == "tanh":
        return ops.tanh(x)
    if name == "gelu":
        return ops.gelu(x, approximate=False)
    check_name(name)
