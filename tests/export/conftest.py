"""One small model with every kind of APALU, shared by the export tests."""

import keras
import numpy as np
import pytest

from keras_apalu import layers


def build_model(activation="apalu"):
    """Conv2D -> APALU per channel -> Conv2D -> APALU shared smooth ->
    GAP -> Dense -> APALU per element -> Dense -> APALU smooth per element.

    With `activation="relu"`, ReLU in place of each APALU (the control that
    tells Keras' limits from APALU's).
    """
    keras.utils.set_random_seed(3)

    def act(**kwargs):
        if activation == "relu":
            return keras.layers.ReLU()
        # Slopes away from the constraint's floor and from 1, so a wrong
        # slope anywhere shows in the output.
        return layers.APALU(
            a_initializer=keras.initializers.RandomUniform(0.3, 1.7),
            b_initializer=keras.initializers.RandomUniform(0.3, 1.7),
            **kwargs,
        )

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
    model(np.zeros((1, 8, 8, 3), "float32"))
    return model


@pytest.fixture(scope="module")
def model():
    return build_model()


@pytest.fixture(scope="module")
def relu_model():
    return build_model("relu")


@pytest.fixture(scope="module")
def inputs():
    """Four images with values of both signs (both sides of APALU)."""
    return np.random.default_rng(5).normal(0, 1.5, (4, 8, 8, 3)).astype("float32")
