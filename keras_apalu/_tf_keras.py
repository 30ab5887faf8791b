"""Rebuilds a Keras 3 model as a tf_keras (Keras 2) model, for tools that
only take tf_keras models (tensorflow-model-optimization).

    from keras_apalu import model_optimization as mo
    twin = mo.to_tf_keras(model)   # same layers, names, graph and weights

Built-in Keras layers become the tf_keras layer of the same class name
(configs keep the arguments it accepts; initializers, regularizers and
constraints are dropped, since the weights are copied); APALU becomes
`ApaluTwin`, a tf_keras layer computing the same function. Flat Functional
and Sequential models only. Nothing here uses `tf.keras`.
"""

import inspect

import keras
import numpy as np

from keras_apalu.errors import InvalidModelError
from keras_apalu.layers import APALU
from keras_apalu.layers.apalu import SMOOTH_RATIO
from keras_apalu.ops import SIGMOID_SCALE

_TWIN = None


def import_tf_keras():
    """(tf, tf_keras), with an error naming the extra when missing."""
    try:
        import tensorflow as tf
        import tf_keras
    except ImportError as error:
        raise ImportError(
            "keras_apalu.model_optimization needs the optional extra: "
            'pip install "keras-apalu[tfmot]" (tensorflow-model-'
            f"optimization==0.8.1 and tf_keras); {error}"
        ) from None
    return tf, tf_keras


def twin_class():
    """`ApaluTwin`, the tf_keras layer standing in for APALU (built once)."""
    global _TWIN
    if _TWIN is not None:
        return _TWIN
    tf, tf_keras = import_tf_keras()
    from keras_apalu.tflite import _convert

    def apalu_tf(x, a, b):
        p = tf.nn.relu(x)
        positive = a * (p + p * tf.sigmoid(SIGMOID_SCALE * x))
        return positive + b * tf.math.expm1(x - p)

    # One CUSTOM "APALU" op per call in the TFLite converter, as in
    # keras_apalu.tflite (pure TensorFlow here: any Keras backend).
    fused = tf.function(apalu_tf, experimental_implements=_convert._IMPLEMENTS)

    class ApaluTwin(tf_keras.layers.Layer):
        """tf_keras twin of `keras_apalu.layers.APALU` (same weights).

        f(x) = a (p + p sigmoid(1.702 x)) + b expm1(x - p), p = relu(x);
        b = 1.5 a when `smooth`. Inside `exporting()` each call becomes the
        fused APALU custom op (like the Keras 3 layer's export).

        Args:
            param_shape: shape of a (and b), as in the Keras 3 layer.
            smooth: learn a only, b = 1.5 a.
            min_value: a and b are kept >= this (StrictlyPositive).
        """

        fused = False

        def __init__(self, param_shape, smooth=False, min_value=1e-3, **kwargs):
            super().__init__(**kwargs)
            self.param_shape = [int(d) for d in param_shape]
            self.smooth = bool(smooth)
            self.min_value = float(min_value)

        def build(self, input_shape):
            constraint = lambda w: tf.maximum(w, self.min_value)  # noqa: E731
            self.a = self.add_weight(
                name="a",
                shape=self.param_shape,
                initializer="ones",
                constraint=constraint,
            )
            if not self.smooth:
                self.b = self.add_weight(
                    name="b",
                    shape=self.param_shape,
                    initializer="ones",
                    constraint=constraint,
                )
            super().build(input_shape)

        def call(self, inputs):
            a = self.a
            b = SMOOTH_RATIO * a if self.smooth else self.b
            if ApaluTwin.fused:
                return fused(inputs, a, b)
            return apalu_tf(inputs, a, b)

        def get_config(self):
            config = super().get_config()
            config.update(
                param_shape=self.param_shape,
                smooth=self.smooth,
                min_value=self.min_value,
            )
            return config

    _TWIN = ApaluTwin
    return _TWIN


_DROPPED_KEYS = {"dtype", "build_config", "compile_config"}


def _clean_config(cls, config):
    """Keeps the keys of a Keras 3 layer config that `cls` accepts.

    Initializers, regularizers and constraints are dropped (weights are
    copied; Keras 3 serialisations of them do not load in tf_keras) unless
    they are None; dtype policies become float32.
    """
    accepted = set(inspect.signature(cls.__init__).parameters)
    base = {"name", "trainable"}
    cleaned = {}
    for key, value in config.items():
        if key in _DROPPED_KEYS:
            continue
        if key.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        if key in accepted or key in base:
            cleaned[key] = value
    return cleaned


def _tf_keras_layer(layer):
    """A tf_keras layer equivalent to the Keras 3 `layer` (unbuilt)."""
    _, tf_keras = import_tf_keras()
    if isinstance(layer, APALU):
        twin = twin_class()
        min_value = getattr(layer.a_constraint, "min_value", 0.0)
        return twin(
            param_shape=tuple(layer.a.shape),
            smooth=layer.smooth,
            min_value=min_value,
            name=layer.name,
        )
    if isinstance(layer, keras.Model):
        raise InvalidModelError(
            f"Nested model {layer.name!r}: only flat Functional or Sequential "
            "models can be rebuilt for tfmot."
        )
    cls = getattr(tf_keras.layers, type(layer).__name__, None)
    if cls is None:
        raise InvalidModelError(
            f"Layer {layer.name!r} ({type(layer).__name__}) has no tf_keras "
            "equivalent; only APALU and built-in Keras layers are supported."
        )
    return cls(**_clean_config(cls, layer.get_config()))


def copy_weights(source_layers, target_model, to_tf_keras):
    for layer in source_layers:
        if not layer.weights:
            continue
        twin = target_model.get_layer(layer.name)
        if to_tf_keras:
            twin.set_weights([keras.ops.convert_to_numpy(w) for w in layer.weights])
        else:
            layer.set_weights([np.asarray(w) for w in twin.get_weights()])


def _history(value):
    """(layer name, node index, tensor index) of a serialised KerasTensor."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return tuple(value["config"]["keras_history"])
    return None


def to_tf_keras(model):
    """Rebuilds a Keras 3 Functional or Sequential model for tf_keras.

    Args:
        model: a built `keras.Model` whose layers are built-in Keras layers
            and `keras_apalu.layers.APALU`.

    Returns:
        A `tf_keras.Model` with the same layer names, graph and weights;
        APALU layers become `ApaluTwin`.

    Raises:
        InvalidModelError: an unbuilt or nested model, or a layer with no
            tf_keras equivalent.
    """
    _, tf_keras = import_tf_keras()
    if not model.built:
        raise InvalidModelError("Build the model (call it or fit it) first.")
    config = model.get_config()
    layers = {layer.name: layer for layer in model.layers}
    tensors = {}  # (name, node, index) -> tf_keras tensor

    def resolve(value):
        history = _history(value)
        if history is not None:
            name, node, index = history
            return tensors[(name, node, index)]
        if isinstance(value, (list, tuple)):
            return type(value)(resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    if isinstance(model, keras.Sequential) or "inbound_nodes" not in str(
        config.get("layers", [{}])[:1]
    ):
        shape = model.inputs[0].shape[1:]
        x = inputs = tf_keras.Input(shape=shape, name="input")
        for layer in model.layers:
            x = _tf_keras_layer(layer)(x)
        rebuilt = tf_keras.Model(inputs, x, name=model.name)
    else:
        for spec in config["layers"]:
            name = spec["config"]["name"] if "name" not in spec else spec["name"]
            layer = layers[name]
            if spec["class_name"] == "InputLayer":
                shape = spec["config"]["batch_shape"][1:]
                tensors[(name, 0, 0)] = tf_keras.Input(shape=shape, name=name)
                continue
            twin = _tf_keras_layer(layer)
            for node_index, node in enumerate(spec["inbound_nodes"]):
                args = resolve(node.get("args", []))
                kwargs = resolve(node.get("kwargs", {}))
                outputs = twin(*args, **kwargs)
                flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
                for index, tensor in enumerate(flat):
                    tensors[(name, node_index, index)] = tensor

        def endpoints(entries):
            if entries and isinstance(entries[0], str):
                entries = [entries]
            return [tensors[tuple(e)] for e in entries]

        inputs = endpoints(config["input_layers"])
        outputs = endpoints(config["output_layers"])
        rebuilt = tf_keras.Model(
            inputs[0] if len(inputs) == 1 else inputs,
            outputs[0] if len(outputs) == 1 else outputs,
            name=model.name,
        )
    copy_weights(model.layers, rebuilt, to_tf_keras=True)
    return rebuilt


__all__ = ["copy_weights", "import_tf_keras", "to_tf_keras", "twin_class"]
