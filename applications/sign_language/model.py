"""The compact phone CNN, with the activation as the only thing that varies.

    input uint8 image (size, size, channels)
    -> Rescaling(1/255) -> augmentation (training only)
    -> 4 x [Conv 3x3 -> BatchNorm -> activation -> MaxPool 2x2]
            (filters w, 2w, 4w, 8w; `convs_per_block` convs before each pool)
    -> GlobalAveragePooling -> Dropout -> Dense(10, softmax)

With the defaults (width 16, one conv per block, 64x64 RGB input) it has
about 0.1 M weights and 16 M multiply-adds per image: small enough for a
phone, and for a few seconds per epoch on a 2-core CPU.
Augmentation suits hand signs photographed against plain walls: small shifts,
rotations and zooms, and contrast / brightness changes. No horizontal flip:
the dataset's signers use their right hand, and a mirrored hand would be a
left hand no image in the test set shows.
"""

import keras

from applications.sign_language.config import ACTIVATIONS
from keras_apalu import layers as apalu_layers


def make_activation(name, name_prefix):
    """One activation layer by name (see `ACTIVATIONS`).

    APALU and PReLU learn one slope set per channel (`shared_axes=[1, 2]`).
    APALU starts at `a = 0.5, b = 1`: f(x) ~ x for large x and ELU on the
    negative side, instead of the paper's random U(0, 2), whose draws near
    0 switch channels off at the start.
    """
    layer_name = f"{name_prefix}_{name}"
    if name == "apalu":
        return apalu_layers.APALU(
            a_initializer=keras.initializers.Constant(0.5),
            b_initializer=keras.initializers.Constant(1.0),
            shared_axes=[1, 2],
            name=layer_name,
        )
    if name == "prelu":
        return keras.layers.PReLU(
            alpha_initializer=keras.initializers.Constant(0.25),
            shared_axes=[1, 2],
            name=layer_name,
        )
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.1, name=layer_name)
    if name in ("relu", "gelu", "elu", "swish"):
        return keras.layers.Activation(name, name=layer_name)
    raise ValueError(f"Unknown activation {name!r}; choose one of {ACTIVATIONS}.")


def augmentation(seed=None, strength=1.0):
    """Training-time augmentation layers (identity at inference).

    Args:
        seed: seed of the random transformations.
        strength: scales every range (0 turns augmentation off).
    """
    s = float(strength)
    return keras.Sequential(
        [
            keras.layers.RandomTranslation(
                0.08 * s, 0.08 * s, fill_mode="nearest", seed=seed
            ),
            keras.layers.RandomRotation(0.04 * s, fill_mode="nearest", seed=seed),
            keras.layers.RandomZoom(0.1 * s, fill_mode="nearest", seed=seed),
            keras.layers.RandomContrast(0.2 * s, seed=seed),
            keras.layers.RandomBrightness(0.1 * s, value_range=(0.0, 1.0), seed=seed),
        ],
        name="augmentation",
    )


def build_model(
    input_shape=(64, 64, 3),
    num_classes=10,
    activation="apalu",
    width=16,
    blocks=4,
    convs_per_block=1,
    dropout=0.2,
    augment=1.0,
    batch_norm=True,
    sync_batch_norm=False,
    seed=None,
):
    """Builds the (uncompiled) classifier.

    Args:
        input_shape: `(height, width, channels)` of the uint8 images.
        num_classes: number of classes.
        activation: one of `ACTIVATIONS`.
        width: filters of the first block; each block doubles it.
        blocks: number of conv blocks (each halves the resolution).
        convs_per_block: 3x3 convolutions per block.
        dropout: dropout rate before the classifier.
        augment: augmentation strength (0 = none).
        batch_norm: batch normalisation after every convolution. Its
            momentum is 0.9 (not Keras' 0.99): with ~40 steps per epoch the
            moving statistics must follow the fast-changing early weights,
            or validation lags training for many epochs.
        sync_batch_norm: compute batch statistics over the global batch
            across replicas (TensorFlow MirroredStrategy only; under JAX's
            DataParallel they are global anyway).
        seed: seed of the weight initializers and augmentation.

    Returns:
        A functional `keras.Model` taking values in [0, 255], returning
        class probabilities.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {activation!r}; choose one of {ACTIVATIONS}."
        )
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if augment:
        x = augmentation(seed=seed, strength=augment)(x)
    layer = 0
    for block in range(blocks):
        filters = width * 2**block
        for conv in range(convs_per_block):
            layer += 1
            prefix = f"block{block + 1}_conv{conv + 1}"
            x = keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                use_bias=not batch_norm,
                kernel_initializer=keras.initializers.HeNormal(
                    seed=None if seed is None else seed + layer
                ),
                name=prefix,
            )(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(
                    momentum=0.9, synchronized=sync_batch_norm, name=f"{prefix}_bn"
                )(x)
            x = make_activation(activation, prefix)(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block + 1}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="probabilities",
    )(x)
    return keras.Model(inputs, outputs, name=f"sign_language_{activation}")


def apalu_layers_of(model):
    """The APALU layers of a model, in order (nested models included)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, apalu_layers.APALU):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(apalu_layers_of(layer))
    return found
