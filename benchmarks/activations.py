"""The activations the benchmarks compare, as functions and as layers.

`FUNCTIONS[name] = (fn, n_params)`: `fn(x, *params)` applies the activation
to keras.ops tensors; `n_params` per-channel slope vectors (broadcast along
the last axis of `x`) are its trainable parameters.
`LAYERS[name](shared_axes)` returns a fresh layer (`shared_axes` as in
`keras.layers.PReLU`: `[1, 2]` after a Conv2D gives one slope per channel).

"APALU" is the library's default (`implementation="fused"`), "APALU (plain)"
the backend's autodiff of the keras.ops formula (`implementation="plain"`).
"""

import keras
from keras import ops

from benchmarks import _common
from keras_apalu import ops as apalu_ops
from keras_apalu.layers import APALU

#: The library's unfused path (autodiff of the keras.ops formula).
PLAIN = "plain"


def _prelu(x, alpha):
    # The formula of keras.layers.PReLU: relu(x) - alpha * relu(-x).
    return ops.relu(x) - alpha * ops.relu(-x)


FUNCTIONS = {
    "ReLU": (ops.relu, 0),
    # keras.activations.gelu's default, the exact (erf) form.
    "GELU": (lambda x: ops.gelu(x, approximate=False), 0),
    "GELU (tanh)": (lambda x: ops.gelu(x, approximate=True), 0),
    "ELU": (ops.elu, 0),
    "PReLU": (_prelu, 1),
    "APALU": (apalu_ops.apalu, 2),
    "APALU (plain)": (
        lambda x, a, b: apalu_ops.apalu(x, a, b, implementation=PLAIN),
        2,
    ),
}

LAYERS = {
    "ReLU": lambda shared_axes: keras.layers.ReLU(),
    "GELU": lambda shared_axes: keras.layers.Activation("gelu"),
    "GELU (tanh)": lambda shared_axes: keras.layers.Activation(
        lambda x: ops.gelu(x, approximate=True)
    ),
    "ELU": lambda shared_axes: keras.layers.ELU(),
    "PReLU": lambda shared_axes: keras.layers.PReLU(shared_axes=shared_axes),
    "APALU": lambda shared_axes: APALU(shared_axes=shared_axes),
    "APALU (plain)": lambda shared_axes: APALU(
        shared_axes=shared_axes, implementation=PLAIN
    ),
}

assert tuple(FUNCTIONS) == tuple(LAYERS) == _common.ACTIVATION_NAMES
