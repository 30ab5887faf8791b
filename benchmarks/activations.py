"""The activations the benchmarks compare, as functions of keras.ops tensors.

Each entry maps a name to `(fn, n_params)`: `fn(x, *params)` applies the
activation; `n_params` per-channel parameter vectors (shape `(channels,)`,
broadcast along the last axis of `x`) are its trainable slopes.
"""

from keras import ops

from keras_apalu.ops import apalu


def _relu(x):
    return ops.relu(x)


def _gelu(x):
    # keras.activations.gelu's default, the exact (erf) form.
    return ops.gelu(x, approximate=False)


def _gelu_tanh(x):
    return ops.gelu(x, approximate=True)


def _elu(x):
    return ops.elu(x)


def _prelu(x, alpha):
    # The formula of keras.layers.PReLU: relu(x) - alpha * relu(-x).
    return ops.relu(x) - alpha * ops.relu(-x)


def _apalu(x, a, b):
    return apalu(x, a, b)


def _apalu_ops(x, a, b):
    return apalu(x, a, b, implementation="ops")


def _apalu_autodiff(x, a, b):
    return apalu(x, a, b, implementation="autodiff")


ACTIVATIONS = {
    "ReLU": (_relu, 0),
    "GELU": (_gelu, 0),
    "GELU (tanh)": (_gelu_tanh, 0),
    "ELU": (_elu, 0),
    "PReLU": (_prelu, 1),
    "APALU": (_apalu, 2),
    "APALU (ops)": (_apalu_ops, 2),
    "APALU (autodiff)": (_apalu_autodiff, 2),
}
