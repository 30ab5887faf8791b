"""The coordinate networks compared, built to a target parameter count.

Every network maps `(pixels, 2)` coordinates in [-1, 1]^2 to `(pixels, 1)`
values. Each has one free width, chosen by `build` so that its trainable
parameter count is the closest to the target:

- `lrnn_sin`: two `ProductDense` layers (sin inner activation, omega_0 = 30,
  per-neuron functions; the second layer's inner weights by SIREN's
  hidden-layer rule), LayerNormalization after each, a linear output;
- `lrnn_apalu`: the same with `APALU(shared_axes=[3])` as inner activation
  (one learned (a, b) per univariate function);
- `siren`: three sine layers, SIREN initialisation (omega_0 = 30);
- `relu_ff`: fixed Gaussian Fourier features (scale proportional to the
  image side, below the grid's Nyquist frequency), then three ReLU layers
  (He-uniform kernels);
- `apalu_mlp`: the same Fourier features and kernels, then three Dense +
  APALU layers, APALU started as its fit of ReLU (`init="relu"`).
"""

import math

import keras
import numpy as np
from keras import ops

from keras_apalu import layers as apalu_layers

MODELS = ("lrnn_sin", "lrnn_apalu", "siren", "relu_ff", "apalu_mlp")

#: Projection width d and hidden width h of the LRNN layers.
LRNN_PROJECTION_WIDTH = 8
LRNN_HIDDEN = 4
#: Fourier features: count, and standard deviation of the frequencies per
#: pixel of image side: sigma = FOURIER_SCALE * size cycles per unit of the
#: [-1, 1] coordinates (1 at 32 px, 8 at 256 px; Tancik et al.'s sigma on
#: [0, 1] is 2 sigma). The grid's Nyquist frequency is size / 4 cycles per
#: unit, i.e. 8 sigma, so no feature aliases on the pixel grid.
FOURIER_FEATURES = 64
FOURIER_SCALE = 1.0 / 32.0
SIREN_OMEGA_0 = 30.0
DEPTH = 3
#: Start APALU as its least-squares fit of ReLU (`APALU(init="relu")`), with
#: the ReLU network's He-uniform kernels, so `apalu_mlp` starts as `relu_ff`.
APALU_MLP_INIT = "relu"
#: Inner weights `u` of the second ProductDense layer (sin): "siren" is
#: SIREN's hidden-layer rule at fan-in 1, U(-sqrt(6) / omega_0, sqrt(6) /
#: omega_0), so that `omega_0 * u * z` has unit scale for the unit-variance
#: `z` that follows LayerNormalization; "uniform" is the layer's default
#: U(-1, 1) (right for the first layer, on the coordinates), which makes
#: `30 u z` a noise-like function of `z` (docs/implicit_fields.md).
LRNN_HIDDEN_U = "siren"


@keras.saving.register_keras_serializable(package="implicit_fields")
class FourierFeatures(keras.layers.Layer):
    """`[sin(2 pi x B), cos(2 pi x B)]` with fixed `B ~ N(0, scale^2)`."""

    def __init__(self, features, scale, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.features, self.scale, self.seed = features, scale, seed

    def build(self, input_shape):
        rng = np.random.default_rng(self.seed)
        value = rng.normal(0.0, self.scale, (input_shape[-1], self.features))
        self.frequencies = self.add_weight(
            shape=value.shape,
            name="frequencies",
            trainable=False,
            initializer=keras.initializers.Constant(value.astype("float32")),
        )

    def call(self, x):
        w = 2.0 * math.pi * ops.matmul(x, self.frequencies)
        return ops.concatenate([ops.sin(w), ops.cos(w)], axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "features": self.features,
            "scale": self.scale,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="implicit_fields")
class Sine(keras.layers.Layer):
    """`sin(omega_0 * x)`, SIREN's activation."""

    def __init__(self, omega_0=SIREN_OMEGA_0, **kwargs):
        super().__init__(**kwargs)
        self.omega_0 = omega_0

    def call(self, x):
        return ops.sin(self.omega_0 * x)

    def get_config(self):
        return {**super().get_config(), "omega_0": self.omega_0}


def _lrnn(width, inner, seed):
    stack = [keras.Input((2,))]
    for layer in range(2):
        activation = apalu_layers.APALU(shared_axes=[3]) if inner == "apalu" else "sin"
        u_init = None
        if layer and inner == "sin" and LRNN_HIDDEN_U == "siren":
            limit = math.sqrt(6.0) / SIREN_OMEGA_0
            u_init = keras.initializers.RandomUniform(-limit, limit)
        stack += [
            apalu_layers.ProductDense(
                width,
                projection_width=LRNN_PROJECTION_WIDTH,
                hidden=LRNN_HIDDEN,
                inner_activation=activation,
                function_kernel_initializer=u_init,
            ),
            keras.layers.LayerNormalization(),
        ]
    return keras.Sequential(stack + [keras.layers.Dense(1)])


def siren(width, n_inputs=2, depth=DEPTH, omega_0=SIREN_OMEGA_0):
    """A SIREN: `depth` Dense + `sin(omega_0 x)` layers of `width` units on
    `n_inputs` coordinates, then a linear output, with SIREN's initialisation
    (first layer U(-1/fan_in, 1/fan_in), later ones
    U(-sqrt(6/fan_in)/omega_0, sqrt(6/fan_in)/omega_0)). Seed with
    `keras.utils.set_random_seed` before calling."""
    stack = [keras.Input((n_inputs,))]
    fan_in = n_inputs
    for i in range(depth):
        limit = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / omega_0
        stack += [
            keras.layers.Dense(
                width,
                kernel_initializer=keras.initializers.RandomUniform(-limit, limit),
                bias_initializer=keras.initializers.RandomUniform(
                    -1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in)
                ),
            ),
            Sine(omega_0),
        ]
        fan_in = width
    limit = math.sqrt(6.0 / width) / omega_0
    stack.append(
        keras.layers.Dense(
            1, kernel_initializer=keras.initializers.RandomUniform(-limit, limit)
        )
    )
    return keras.Sequential(stack)


def fourier_scale(size):
    """Standard deviation of the Fourier frequencies for a `size` image."""
    return FOURIER_SCALE * size


def _fourier_mlp(width, activation, seed, size):
    stack = [
        keras.Input((2,)),
        FourierFeatures(FOURIER_FEATURES, fourier_scale(size), seed),
    ]
    for _ in range(DEPTH):
        if activation == "apalu":
            stack += [
                keras.layers.Dense(
                    width,
                    kernel_initializer="he_uniform"
                    if APALU_MLP_INIT
                    else "glorot_uniform",
                ),
                apalu_layers.APALU(init=APALU_MLP_INIT),
            ]
        else:
            stack.append(
                keras.layers.Dense(
                    width, activation="relu", kernel_initializer="he_uniform"
                )
            )
    return keras.Sequential(stack + [keras.layers.Dense(1)])


def network(name, width, seed=0, size=64):
    """The network `name` (one of `MODELS`) with the given free width.

    `size` is the side of the image it will fit (it sets the Fourier
    features' scale).
    """
    if name == "lrnn_sin":
        return _lrnn(width, "sin", seed)
    if name == "lrnn_apalu":
        return _lrnn(width, "apalu", seed)
    if name == "siren":
        return siren(width)
    if name == "relu_ff":
        return _fourier_mlp(width, "relu", seed, size)
    if name == "apalu_mlp":
        return _fourier_mlp(width, "apalu", seed, size)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}.")


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def parameter_count(name, width):
    """Trainable parameters of `network(name, width)`, by formula (fast)."""
    if name in ("lrnn_sin", "lrnn_apalu"):
        d, h = LRNN_PROJECTION_WIDTH, LRNN_HIDDEN
        functions = width * d * (3 * h + 1)
        if name == "lrnn_apalu":
            functions += 2 * width * d  # APALU's (a, b) per function
        total = 0
        for fan_in in (2, width):
            total += fan_in * width * d + width * d + functions + 2 * width
        return total + width + 1
    if name == "siren":
        return 3 * width + (DEPTH - 1) * (width * width + width) + width + 1
    if name in ("relu_ff", "apalu_mlp"):
        total = (2 * FOURIER_FEATURES + 1) * width
        total += (DEPTH - 1) * (width * width + width) + width + 1
        if name == "apalu_mlp":
            total += 2 * width * DEPTH  # APALU's (a, b) per unit
        return total
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}.")


def width_for(name, params):
    """The width whose trainable parameter count is closest to `params`."""

    def count(width):
        return parameter_count(name, width)

    low, high = 1, 2
    while count(high) < params:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if count(mid) < params else (low, mid)
    return min((low, high), key=lambda w: abs(count(w) - params))


def build(name, params, seed, size=64):
    """`(model, width)`: network `name` with about `params` trainable weights.

    `size`: the side of the image it will fit (see `network`).
    """
    width = width_for(name, params)
    keras.utils.set_random_seed(seed)
    return network(name, width, seed, size), width
