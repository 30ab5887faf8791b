"""Models the memory and train-step benchmarks use, with a swappable activation.

A model builder is any callable `build(activation, input_shape, num_classes)`
returning an uncompiled `keras.Model`, where `activation(shared_axes)` returns
a fresh activation layer (`shared_axes` as in `keras.layers.PReLU`: `[1, 2]`
after a Conv2D gives one slope per channel, `None` after a Dense one per unit).
The model and memory benchmarks take `--model module:function` to time another
builder with the same interface, or `--model app` for
applications/sign_language/model.py. The TFLite and deployment benchmarks'
models are here too.
"""

import functools
import importlib

import keras

from benchmarks.activations import LAYERS
from keras_apalu.layers import APALU

SIGN_LANGUAGE_INPUT = (64, 64, 1)
SIGN_LANGUAGE_CLASSES = 10


def sign_language_cnn(
    activation,
    input_shape=SIGN_LANGUAGE_INPUT,
    num_classes=SIGN_LANGUAGE_CLASSES,
    pool_first=False,
):
    """A small CNN of the kind used on the 64x64 sign-language digits.

    Four blocks of Conv2D 3x3 (32, 64, 128, 256 filters, no bias) ->
    BatchNormalization -> activation -> MaxPooling 2x2, then global average
    pooling, Dense(128) -> activation, Dropout(0.3) and a softmax Dense.
    With `pool_first`, each block pools before its activation: for a
    non-decreasing activation (ReLU, ELU, APALU with a, b >= 0) the same
    values and gradients, at a quarter of the activation's work.
    """
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (32, 64, 128, 256):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        if pool_first:
            x = keras.layers.MaxPooling2D()(x)
            x = activation([1, 2])(x)
        else:
            x = activation([1, 2])(x)
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(128)(x)
    x = activation(None)(x)
    x = keras.layers.Dropout(0.3)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="sign_language_cnn")


def deep_mlp(activation, input_shape=(784,), num_classes=10, depth=8, width=1024):
    """`depth` Dense(`width`) -> activation layers and a softmax Dense."""
    inputs = keras.Input(input_shape)
    x = inputs
    for _ in range(depth):
        x = keras.layers.Dense(width)(x)
        x = activation(None)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="deep_mlp")


def sign_language_app(
    activation_name, input_shape=(64, 64, 3), num_classes=SIGN_LANGUAGE_CLASSES
):
    """The application's own model (applications/sign_language/model.py).

    Built with its defaults but without augmentation (random image
    transformations are not what is measured here). "APALU (plain)" switches
    its APALU layers to that implementation.
    """
    from applications.sign_language import model as app_model
    from benchmarks.activations import PLAIN

    name = {"APALU (plain)": "apalu"}.get(activation_name, activation_name.lower())
    model = app_model.build_model(
        input_shape=input_shape, num_classes=num_classes, activation=name, augment=0
    )
    if activation_name == "APALU (plain)":
        for layer in model.layers:
            if isinstance(layer, APALU):  # read at call time
                layer.implementation = PLAIN
    return model


def export_model(activation="apalu"):
    """Conv2D -> APALU per channel -> Conv2D -> APALU shared smooth -> GAP
    -> Dense -> APALU per element -> Dense -> APALU smooth per element: every
    kind of APALU in one small model (8x8x3 input), for the export table.

    With `activation="relu"`, ReLU in place of each APALU (the control that
    tells Keras' limits from APALU's). Slopes are drawn away from the
    constraint's floor and from 1, so a wrong slope anywhere shows.
    """
    keras.utils.set_random_seed(3)

    def act(**kwargs):
        if activation == "relu":
            return keras.layers.ReLU()
        slopes = keras.initializers.RandomUniform(0.3, 1.7)
        return APALU(a_initializer=slopes, b_initializer=slopes, **kwargs)

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = act(shared_axes=[1, 2])(x)
    x = keras.layers.Conv2D(4, 3)(x)
    x = act(shared_axes="all", smooth=True)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(6)(x)
    x = act()(x)
    x = keras.layers.Dense(5)(x)
    x = act(smooth=True)(x)
    model = keras.Model(inputs, x)
    model(keras.ops.zeros((1, 8, 8, 3)))
    return model


def small_cnn(activation, input_shape=(64, 64, 3), classes=10):
    """Conv 32-64-128 with an activation after each, then a classifier: the
    stand-in CNN of the TFLite benchmark. `activation(rank)` makes one
    activation layer for inputs of that rank."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (32, 64, 128):
        x = keras.layers.Conv2D(filters, 3, padding="same")(x)
        x = activation(4)(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64)(x)
    x = activation(2)(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


BUILTIN_MODELS = {
    "cnn": (sign_language_cnn, SIGN_LANGUAGE_INPUT, SIGN_LANGUAGE_CLASSES),
    "cnn-pool-first": (
        functools.partial(sign_language_cnn, pool_first=True),
        SIGN_LANGUAGE_INPUT,
        SIGN_LANGUAGE_CLASSES,
    ),
    "mlp": (deep_mlp, (784,), 10),
}


def load_builder(spec):
    """`"module:function"` -> that builder, with the sign-language input shape."""
    if spec in BUILTIN_MODELS:
        return BUILTIN_MODELS[spec]
    module_name, sep, function_name = spec.partition(":")
    if not sep:
        raise ValueError(
            "--model must be 'cnn', 'cnn-pool-first', 'mlp' or "
            f"'module:function'; got {spec!r}."
        )
    builder = getattr(importlib.import_module(module_name), function_name)
    return builder, SIGN_LANGUAGE_INPUT, SIGN_LANGUAGE_CLASSES


def build(spec, activation_name, seed=0):
    """Builds model `spec` with activation `activation_name`, seeded.

    `spec` is "cnn", "mlp", "app" (the application's model, once
    applications/sign_language is importable) or "module:function".
    """
    keras.utils.set_random_seed(seed)
    if spec == "app":
        return sign_language_app(activation_name), (64, 64, 3), 10
    builder, input_shape, num_classes = load_builder(spec)
    model = builder(
        LAYERS[activation_name], input_shape=input_shape, num_classes=num_classes
    )
    return model, input_shape, num_classes
