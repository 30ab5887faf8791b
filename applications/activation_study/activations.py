"""The activations the study compares, each made fresh by name.

| name | layer |
|---|---|
| `relu`, `gelu`, `elu`, `tanh`, `sigmoid` | `keras.layers.Activation(name)` (GELU exact, ELU alpha 1) |
| `prelu` | `keras.layers.PReLU` (slopes start at 0, i.e. as ReLU) |
| `apalu` | `keras_apalu.layers.APALU()`: a, b from U(0, 2), the paper's |
| `apalu_fit` | `APALU(init="gelu")`: a, b fitted to GELU on [-4, 4] (a = 0.498, b = 0.059) |
| `apalu_smooth` | `APALU(smooth=True)`: a from U(0, 2), b = 1.5 a (C1 at 0) |

`shared_axes` goes to the layers with parameters (PReLU and the APALUs), as
in `keras.layers.PReLU`: `[1, 2]` gives one parameter set per Conv2D channel.
"""

import keras

from applications.common.errors import UsageError
from keras_apalu.layers import APALU

#: Every activation name, in the order of tables and plots.
ACTIVATIONS = (
    "relu",
    "gelu",
    "elu",
    "prelu",
    "tanh",
    "sigmoid",
    "apalu",
    "apalu_fit",
    "apalu_smooth",
)
#: The activations with trainable parameters.
PARAMETRIC = ("prelu", "apalu", "apalu_fit", "apalu_smooth")
#: The references of every significance test.
REFERENCES = ("relu", "gelu")


def make_activation(name, shared_axes=None):
    """A new activation layer by name (see the module docstring).

    Args:
        name: one of `ACTIVATIONS`.
        shared_axes: axes along which PReLU's and APALU's parameters are
            shared (ignored by the fixed activations).

    Returns:
        A fresh `keras.layers.Layer` (never shared between calls).

    Raises:
        ValueError: an unknown name.
    """
    if name in ("relu", "gelu", "elu", "tanh", "sigmoid"):
        return keras.layers.Activation(name)
    if name == "prelu":
        return keras.layers.PReLU(shared_axes=shared_axes)
    if name == "apalu":
        return APALU(shared_axes=shared_axes)
    if name == "apalu_fit":
        return APALU(init="gelu", shared_axes=shared_axes)
    if name == "apalu_smooth":
        return APALU(smooth=True, shared_axes=shared_axes)
    raise UsageError(
        f"Unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}."
    )


def make_apalu(a_initializer, b_initializer, shared_axes=None):
    """An APALU layer with the given initializers of `a` and `b`.

    Args:
        a_initializer, b_initializer: anything `keras.initializers.get`
            takes (an initializer, a name, a config).
        shared_axes: as in `keras.layers.PReLU`.
    """
    return APALU(
        a_initializer=a_initializer,
        b_initializer=b_initializer,
        shared_axes=shared_axes,
    )


def check_names(names):
    """Returns `names` as a tuple, or raises ValueError naming the unknown ones."""
    names = tuple(names)
    unknown = [n for n in names if n not in ACTIVATIONS]
    if unknown:
        raise UsageError(
            f"Unknown activation(s) {', '.join(unknown)}; choose from "
            f"{', '.join(ACTIVATIONS)}."
        )
    return names
