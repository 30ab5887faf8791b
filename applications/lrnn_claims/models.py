"""The networks compared, built to a common parameter count, and the
side-by-side wrapper that trains one copy per seed in one compiled step.

Every network maps `(batch, n)` inputs in `[-1, 1]^n` to `(batch, 1)`; each
has one free width, which `width_for` chooses so that the trainable
parameter count is the closest to a target:

- `lrnn_sin`: one `ProductDense(width, projection_width=4, hidden=4)` layer
  (inner activation `sin(omega_0 t)`) and a linear output: `y = c_0 + sum_l
  c_l prod_j (1 + gamma g_lj(z_lj))`, the shallow low-rank separated form;
- `lrnn_apalu`: the same with `APALU(shared_axes=[3])` as inner activation;
- `mlp_relu`, `mlp_gelu`, `mlp_apalu`: two hidden Dense layers of `width`
  (He-uniform kernels; APALU started as its fit of ReLU, `init="relu"`);
- `fourier`: fixed Gaussian Fourier features (32 frequencies, standard
  deviation `fourier_sigma` cycles per unit), then the ReLU MLP;
- `siren`: two sine layers (SIREN's initialisation, first-layer `omega_0`)
  and a linear output.

The Fourier-feature and sine layers are implicit_fields' (`FourierFeatures`,
`Sine`).

`lrnn_sin_frozen` and `lrnn_apalu_frozen` (spectral study) are `lrnn_sin`
and `lrnn_apalu` of the same width with the learnable activations frozen:
the univariate functions' `u, a, v, c` (and APALU's `a, b`) keep their
initial values; only the projection and the output layer train.
"""

import keras
import numpy as np
from keras import ops

from applications.implicit_fields.models import FourierFeatures
from applications.implicit_fields.models import siren
from keras_apalu import layers as apalu_layers

MODELS = (
    "lrnn_sin",
    "lrnn_apalu",
    "mlp_relu",
    "mlp_gelu",
    "mlp_apalu",
    "fourier",
    "siren",
)
FROZEN = ("lrnn_sin_frozen", "lrnn_apalu_frozen")
PROJECTION_WIDTH = 4
HIDDEN = 4
FOURIER_FEATURES = 32


def _base(name):
    return name.removesuffix("_frozen")


def parameter_count(name, n, width):
    """Parameters of `network(name, n, width)`: trainable plus frozen (the
    frozen variants' functions), not the Fourier features' fixed frequencies."""
    name = _base(name)
    if name in ("lrnn_sin", "lrnn_apalu"):
        d, h = PROJECTION_WIDTH, HIDDEN
        count = n * width * d + width * d + width * d * (3 * h + 1) + width + 1
        return count + (2 * width * d if name == "lrnn_apalu" else 0)
    first = 2 * FOURIER_FEATURES if name == "fourier" else n
    if name in ("mlp_relu", "mlp_gelu", "mlp_apalu", "fourier", "siren"):
        count = first * width + width + width * width + width + width + 1
        return count + (4 * width if name == "mlp_apalu" else 0)
    raise ValueError(f"unknown model {name!r}")


def width_for(name, n, params):
    """The width whose parameter count for `n` inputs is closest to `params`."""
    counts = {w: parameter_count(name, n, w) for w in range(1, 4097)}
    return min(counts, key=lambda w: (abs(counts[w] - params), w))


def network(name, n, width, seed, omega_0=30.0, fourier_sigma=1.0):
    """The network `name` (of `MODELS` or `FROZEN`) on `n` inputs."""
    base = _base(name)
    keras.utils.set_random_seed(seed)
    stack = [keras.Input((n,))]
    if base in ("lrnn_sin", "lrnn_apalu"):
        inner = apalu_layers.APALU(shared_axes=[3]) if base == "lrnn_apalu" else "sin"
        layer = apalu_layers.ProductDense(
            width,
            projection_width=PROJECTION_WIDTH,
            hidden=HIDDEN,
            inner_activation=inner,
            omega_0=omega_0,
        )
        model = keras.Sequential(stack + [layer, keras.layers.Dense(1)])
        if name in FROZEN:
            freeze_activations(layer)
        return model
    if base == "siren":
        return siren(width, n_inputs=n, depth=2, omega_0=omega_0)
    if base == "fourier":
        stack.append(FourierFeatures(FOURIER_FEATURES, fourier_sigma, seed))
    for _ in range(2):
        if base == "mlp_apalu":
            stack += [
                keras.layers.Dense(width, kernel_initializer="he_uniform"),
                apalu_layers.APALU(init="relu"),
            ]
        else:
            activation = "gelu" if base == "mlp_gelu" else "relu"
            stack.append(
                keras.layers.Dense(
                    width, activation=activation, kernel_initializer="he_uniform"
                )
            )
    if base not in ("mlp_relu", "mlp_gelu", "mlp_apalu", "fourier"):
        raise ValueError(f"unknown model {name!r}")
    return keras.Sequential(stack + [keras.layers.Dense(1)])


def freeze_activations(layer):
    """Freezes a `ProductDense` layer's learnable activations: `u, a, v, c`
    and the inner layer's weights (APALU's `a, b`); the projection trains."""
    frozen = [
        layer.function_kernel,
        layer.function_bias,
        layer.function_output,
        layer.function_output_bias,
    ]
    if layer.inner_layer is not None:
        frozen += list(layer.inner_layer.weights)
    for variable in frozen:
        variable.trainable = False


def product_layer(model):
    """The first `ProductDense` layer of `model`, or None."""
    for layer in model.layers:
        if isinstance(layer, apalu_layers.ProductDense):
            return layer
    return None


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def total_count(model):
    return int(sum(np.prod(w.shape) for w in model.weights))


def side_by_side(name, n, settings):
    """`SideBySide` of `network(name, n, ...)`, one copy per seed of
    `settings["seeds"]`, each with the width that gives
    `settings["params"]` parameters (`omega_0`, `fourier_sigma` from
    `settings`); that width is the model's `width` attribute."""
    width = width_for(name, n, settings["params"])
    model = SideBySide(
        [
            network(
                name,
                n,
                width,
                seed,
                omega_0=settings["omega_0"],
                fourier_sigma=settings["fourier_sigma"],
            )
            for seed in settings["seeds"]
        ]
    )
    model.width = width
    return model


class SideBySide(keras.Model):
    """`S` independent networks, one per seed, trained as one model.

    Input `(batch, S, n)`: copy `s` sees `x[:, s]` (its own data); output
    `(batch, S)`. With `seedwise_mse` as the loss, each copy's gradient is
    the gradient of its own mean squared error, and Adam's state is per
    parameter, so training the wrapper trains each copy exactly as alone.
    """

    def __init__(self, networks, **kwargs):
        super().__init__(**kwargs)
        self.networks = list(networks)

    def call(self, x):
        outs = [net(x[:, s, :]) for s, net in enumerate(self.networks)]
        return ops.concatenate(outs, axis=-1)


def seedwise_mse(y_true, y_pred):
    """Sum over the seed axis of the squared error (mean over the batch)."""
    return ops.sum(ops.square(y_true - y_pred), axis=-1)
