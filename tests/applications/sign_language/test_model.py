import keras
import numpy as np
import pytest

from applications.sign_language import model as model_lib
from keras_apalu.layers import APALU


@pytest.mark.parametrize("activation", model_lib.ACTIVATIONS)
def test_every_activation_builds_the_same_network(activation, rng):
    model = model_lib.build_model(
        (16, 16, 3), activation=activation, width=4, blocks=2, augment=0.0, seed=0
    )
    probabilities = model.predict(rng.uniform(0, 255, (3, 16, 16, 3)), verbose=0)
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [4, 8]
    apalus = model_lib.apalu_layers_of(model)
    assert len(apalus) == (2 if activation == "apalu" else 0)


def test_apalu_starts_at_chosen_slopes_one_per_channel():
    model = model_lib.build_model((16, 16, 1), width=4, blocks=2, augment=0.0)
    layer = model_lib.apalu_layers_of(model)[0]
    assert isinstance(layer, APALU)
    a, b = (keras.ops.convert_to_numpy(t) for t in layer.slopes())
    assert a.shape == b.shape == (1, 1, 4)
    np.testing.assert_array_equal(a, 0.5)
    np.testing.assert_array_equal(b, 1.0)


@pytest.mark.slow
def test_augmentation_only_in_training(rng):
    model = model_lib.build_model((16, 16, 3), width=4, blocks=2, augment=1.0, seed=0)
    images = rng.uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    first = model(images, training=False)
    second = model(images, training=False)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(second)
    )
    augment = model.get_layer("augmentation")
    changed = keras.ops.convert_to_numpy(augment(images / 255.0, training=True))
    assert not np.allclose(changed, images / 255.0)


def test_unknown_activation_is_an_error():
    with pytest.raises(ValueError, match="Unknown activation 'tanh'"):
        model_lib.build_model((16, 16, 3), activation="tanh")
