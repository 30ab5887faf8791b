"""Small plain networks: no normalisation, no residual connections, no dropout."""

import keras

from applications.activation_study.activations import make_activation


def _activation(activation, shared_axes):
    return (
        make_activation(activation, shared_axes)
        if isinstance(activation, str)
        else activation()
    )


def mlp_layers(outputs, width, depth, activation, kernel_initializer="glorot_uniform"):
    """The layers of `mlp` without its input (for `ensemble.SideBySide`)."""
    if depth < 1 or width < 1:
        raise ValueError(f"mlp needs depth >= 1 and width >= 1; got {depth}, {width}.")
    layers = []
    for _ in range(depth):
        layers.append(keras.layers.Dense(width, kernel_initializer=kernel_initializer))
        layers.append(_activation(activation, None))
    layers.append(keras.layers.Dense(outputs, kernel_initializer=kernel_initializer))
    return layers


def cnn_layers(outputs, width, depth, activation, kernel_initializer="glorot_uniform"):
    """The layers of `cnn` without its input (for `ensemble.SideBySide`)."""
    if depth < 1 or width < 1:
        raise ValueError(f"cnn needs depth >= 1 and width >= 1; got {depth}, {width}.")
    layers = []
    for _ in range(depth):
        layers.append(
            keras.layers.Conv2D(
                width, 3, padding="same", kernel_initializer=kernel_initializer
            )
        )
        layers.append(_activation(activation, [1, 2]))
    layers.append(keras.layers.GlobalAveragePooling2D())
    layers.append(keras.layers.Dense(outputs, kernel_initializer=kernel_initializer))
    return layers


def mlp(
    input_dim,
    outputs,
    width,
    depth,
    activation,
    kernel_initializer="glorot_uniform",
    name=None,
):
    """A plain MLP: `depth` x (Dense(width) -> activation) -> Dense(outputs).

    Args:
        input_dim: number of inputs.
        outputs: units of the last (linear) layer: classes (logits) or 1.
        width: units of every hidden layer.
        depth: number of hidden layers (each one Dense and one activation).
        activation: a name of `activations.ACTIVATIONS`, or a zero-argument
            callable returning a new activation layer (one is made per layer).
        kernel_initializer: of every Dense layer (Keras' default
            `glorot_uniform`); biases start at 0.
        name: the model's name.
    """
    return keras.Sequential(
        [keras.Input((input_dim,))]
        + mlp_layers(outputs, width, depth, activation, kernel_initializer),
        name=name,
    )


def cnn(
    input_shape,
    outputs,
    width,
    depth,
    activation,
    kernel_initializer="glorot_uniform",
    name=None,
):
    """A plain CNN: `depth` x (Conv2D(width, 3x3, same) -> activation) -> global mean -> Dense.

    Parametric activations get one parameter set per channel
    (`shared_axes=[1, 2]`). Arguments as `mlp`; `input_shape` is
    `(height, width, channels)`.
    """
    return keras.Sequential(
        [keras.Input(tuple(input_shape))]
        + cnn_layers(outputs, width, depth, activation, kernel_initializer),
        name=name,
    )


def weight_layers(model):
    """The layers with a kernel (Dense, Conv2D), in order: the 'layers' of per-layer plots."""
    return [layer for layer in model.layers if hasattr(layer, "kernel")]
