"""tensorflow-model-optimization (tfmot) for Keras 3 models that use APALU.

Optional extra: `pip install "keras-apalu[tfmot]"` (tensorflow-model-
optimization 0.8.1 and tf_keras). Import this module explicitly; the package
never imports it.

tfmot 0.8.1 works on tf_keras (Keras 2) models only. This module rebuilds a
Keras 3 model as a tf_keras model (same layers, names and weights; APALU
becomes `ApaluTwin`, a tf_keras layer computing the same function), then:

    from keras_apalu import model_optimization as mo

    # Quantisation-aware training, then full-int8 TFLite with the APALU op.
    qat = mo.quantize_aware(model)             # a tf_keras model
    qat.compile(...); qat.fit(...)
    content = mo.convert_qat(qat, x_train[:300], mode="custom")

    # Magnitude pruning of Dense/Conv kernels, weights back into Keras 3.
    pruned = mo.prune(model, sparsity=0.5)      # a tf_keras model
    pruned.compile(...); pruned.fit(..., callbacks=mo.pruning_callbacks())
    mo.strip_pruning_into(pruned, model)        # model now holds the zeros

The QuantizeConfig of `ApaluTwin` fake-quantises its output (8 bits,
per tensor, asymmetric) and nothing else: its input is already the previous
layer's fake-quantised output, so the QAT forward pass computes
quantise(apalu(dequantise(q))), which is exactly what the int8 kernel's
lookup table holds. a and b stay float during training; the int8 model stores
them as finely quantised int32 (see keras_apalu/tflite/int8.py).

Importing tfmot sets `os.environ["TF_USE_LEGACY_KERAS"] = "1"`, which would
make later `tf.keras` uses and subprocesses load Keras 2; this module restores
the previous value right after the import. Nothing here uses `tf.keras`.
"""

import contextlib
import inspect
import os

import keras
import numpy as np

from keras_apalu.layers import APALU
from keras_apalu.layers.apalu import SMOOTH_RATIO
from keras_apalu.ops import SIGMOID_SCALE

_TFMOT = None
_TWIN = None


def _import_tfmot():
    """(tf, tf_keras, tensorflow_model_optimization), without leaking
    TF_USE_LEGACY_KERAS into the environment."""
    global _TFMOT
    if _TFMOT is None:
        previous = os.environ.get("TF_USE_LEGACY_KERAS")
        try:
            import tensorflow as tf
            import tensorflow_model_optimization as tfmot
            import tf_keras
        except ImportError as error:
            raise ImportError(
                "keras_apalu.model_optimization needs the optional extra: "
                'pip install "keras-apalu[tfmot]" (tensorflow-model-'
                f"optimization==0.8.1 and tf_keras); {error}"
            ) from None
        finally:
            if previous is None:
                os.environ.pop("TF_USE_LEGACY_KERAS", None)
            else:
                os.environ["TF_USE_LEGACY_KERAS"] = previous
        _TFMOT = (tf, tf_keras, tfmot)
    return _TFMOT


def _twin_classes():
    """Builds (once) the tf_keras classes: ApaluTwin and its QuantizeConfig."""
    global _TWIN
    if _TWIN is not None:
        return _TWIN
    tf, tf_keras, tfmot = _import_tfmot()
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

        def __init__(self, param_shape, smooth=False, min_value=1e-3,
                     **kwargs):
            super().__init__(**kwargs)
            self.param_shape = [int(d) for d in param_shape]
            self.smooth = bool(smooth)
            self.min_value = float(min_value)

        def build(self, input_shape):
            constraint = lambda w: tf.maximum(w, self.min_value)  # noqa: E731
            self.a = self.add_weight(
                name="a", shape=self.param_shape, initializer="ones",
                constraint=constraint)
            if not self.smooth:
                self.b = self.add_weight(
                    name="b", shape=self.param_shape, initializer="ones",
                    constraint=constraint)
            super().build(input_shape)

        def call(self, inputs):
            a = self.a
            b = SMOOTH_RATIO * a if self.smooth else self.b
            if ApaluTwin.fused:
                return fused(inputs, a, b)
            return apalu_tf(inputs, a, b)

        def get_config(self):
            config = super().get_config()
            config.update(param_shape=self.param_shape, smooth=self.smooth,
                          min_value=self.min_value)
            return config

    quantizers = tfmot.quantization.keras.quantizers

    class ApaluQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        """Fake-quantises the APALU output only (8 bits, per tensor)."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False,
                narrow_range=False)]

        def get_config(self):
            return {}

    _TWIN = (ApaluTwin, ApaluQuantizeConfig)
    return _TWIN


def custom_objects():
    """tf_keras custom objects for loading models made here."""
    twin, config = _twin_classes()
    return {"ApaluTwin": twin, "ApaluQuantizeConfig": config}


# ---- Keras 3 -> tf_keras -------------------------------------------------

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
    _, tf_keras, _ = _import_tfmot()
    if isinstance(layer, APALU):
        twin, _ = _twin_classes()
        min_value = getattr(layer.a_constraint, "min_value", 0.0)
        return twin(param_shape=tuple(layer.a.shape), smooth=layer.smooth,
                    min_value=min_value, name=layer.name)
    if isinstance(layer, keras.Model):
        raise ValueError(
            f"Nested model {layer.name!r}: only flat Functional or Sequential "
            "models can be rebuilt for tfmot.")
    cls = getattr(tf_keras.layers, type(layer).__name__, None)
    if cls is None:
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) has no tf_keras "
            "equivalent; only APALU and built-in Keras layers are supported.")
    return cls(**_clean_config(cls, layer.get_config()))


def _copy_weights(source_layers, target_model, to_tf_keras):
    for layer in source_layers:
        if not layer.weights:
            continue
        twin = target_model.get_layer(layer.name)
        if to_tf_keras:
            twin.set_weights([keras.ops.convert_to_numpy(w)
                              for w in layer.weights])
        else:
            layer.set_weights([np.asarray(w) for w in twin.get_weights()])


def _history(value):
    """(layer name, node index, tensor index) of a serialised KerasTensor."""
    if isinstance(value, dict) and value.get("class_name") == \
            "__keras_tensor__":
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
        ValueError: a nested model, or a layer with no tf_keras equivalent.
    """
    _, tf_keras, _ = _import_tfmot()
    if not model.built:
        raise ValueError("Build the model (call it or fit it) first.")
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
            config.get("layers", [{}])[:1]):
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
                flat = outputs if isinstance(outputs, (list, tuple)) else [
                    outputs]
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
    _copy_weights(model.layers, rebuilt, to_tf_keras=True)
    return rebuilt


# ---- quantisation-aware training -------------------------------------------

def quantize_aware(model):
    """The Keras 3 `model` as a tf_keras quantisation-aware model.

    Every layer tfmot supports gets its default 8-bit scheme; APALU layers
    get `ApaluQuantizeConfig` (fake-quantised output). Compile and fit the
    result with tf_keras optimizers/losses (or strings), then `convert_qat`.

    Args:
        model: a built Keras 3 model using APALU (see `to_tf_keras`).

    Returns:
        The QAT `tf_keras.Model` (weights copied from `model`).
    """
    _, tf_keras, tfmot = _import_tfmot()
    twin, quantize_config = _twin_classes()
    quantization = tfmot.quantization.keras
    base = to_tf_keras(model)

    def annotate(layer):
        if isinstance(layer, twin):
            return quantization.quantize_annotate_layer(
                layer, quantize_config())
        if isinstance(layer, tf_keras.layers.InputLayer):
            return layer
        return quantization.quantize_annotate_layer(layer)

    annotated = tf_keras.models.clone_model(base, clone_function=annotate)
    annotated.set_weights(base.get_weights())
    with quantization.quantize_scope(custom_objects()):
        return quantization.quantize_apply(annotated)


@contextlib.contextmanager
def _fused_twins():
    twin, _ = _twin_classes()
    twin.fused = True
    try:
        yield
    finally:
        twin.fused = False


def convert_qat(qat_model, representative_data, mode="custom"):
    """Converts a trained QAT model (`quantize_aware`) to full-int8 TFLite.

    Args:
        qat_model: the tf_keras QAT model.
        mode: "custom" (APALU as the int8 custom op, as
            `keras_apalu.tflite.convert(..., quantize="int8")`) or "builtin"
            (decomposed into int8 builtin ops).
        representative_data: inputs (array, batch axis first; e.g. a few
            hundred training images). The TFLite converter requires them for
            full-integer conversion; the fake-quant ranges learned in QAT
            set the scales of the quantised layers.

    Returns:
        The flatbuffer (bytes): int8 input and output, every APALU op int8.
    """
    tf, _, _ = _import_tfmot()
    from keras_apalu.tflite import int8

    if mode not in ("custom", "builtin"):
        raise ValueError(f"mode must be 'custom' or 'builtin'; got {mode!r}.")
    with contextlib.ExitStack() as stack:
        if mode == "custom":
            stack.enter_context(_fused_twins())
        converter = tf.lite.TFLiteConverter.from_keras_model(qat_model)
        converter.allow_custom_ops = mode == "custom"
        samples = int8.representative_samples(qat_model, representative_data)
        int8.configure_converter(converter, samples, mode)
        content = converter.convert()
    if mode == "custom":
        content = int8.rewrite_custom_op_int8(content)
    return content


# ---- pruning -------------------------------------------------------------

PRUNABLE = ("Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D",
            "SeparableConv2D", "Conv2DTranspose")


def prune(model, sparsity=0.5, begin_step=0, frequency=10):
    """The Keras 3 `model` as a tf_keras model with magnitude-pruned kernels.

    Dense and convolution kernels are wrapped with tfmot's
    `prune_low_magnitude` under a `ConstantSparsity` schedule; other layers
    (APALU included) are left as they are. Fine-tune the result with
    `callbacks=pruning_callbacks()`, then `strip_pruning_into`.

    Args:
        model: a built Keras 3 model (see `to_tf_keras`).
        sparsity: fraction of each kernel's weights set to zero, in [0, 1).
        begin_step: optimizer step at which pruning starts.
        frequency: steps between mask updates.

    Returns:
        The pruning-wrapped `tf_keras.Model`.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1); got {sparsity!r}.")
    _, tf_keras, tfmot = _import_tfmot()
    sparsity_api = tfmot.sparsity.keras
    schedule = sparsity_api.ConstantSparsity(
        sparsity, begin_step=begin_step, frequency=frequency)
    base = to_tf_keras(model)

    def wrap(layer):
        if type(layer).__name__ in PRUNABLE:
            return sparsity_api.prune_low_magnitude(
                layer, pruning_schedule=schedule)
        return layer

    pruned = tf_keras.models.clone_model(base, clone_function=wrap)
    # clone_model keeps the layer order (wrapped layers are renamed).
    for layer, target in zip(base.layers, pruned.layers):
        if layer.weights:
            target = getattr(target, "layer", target)
            target.set_weights(layer.get_weights())
    return pruned


def pruning_callbacks():
    """The callbacks `fit` needs while pruning (mask updates)."""
    _, _, tfmot = _import_tfmot()
    return [tfmot.sparsity.keras.UpdatePruningStep()]


def strip_pruning_into(pruned_model, model):
    """Removes the pruning wrappers and copies the weights into `model`.

    Args:
        pruned_model: the fine-tuned result of `prune`.
        model: the Keras 3 model it came from; its weights are overwritten
            (kernels with the pruned zeros), so saving, TFLite export and
            every other feature work on it as before.

    Returns:
        `model`.
    """
    _, _, tfmot = _import_tfmot()
    stripped = tfmot.sparsity.keras.strip_pruning(pruned_model)
    _copy_weights(model.layers, stripped, to_tf_keras=False)
    return model


def kernel_sparsity(model):
    """{layer name: fraction of zeros} of the Dense/Conv kernels of a Keras 3
    model."""
    result = {}
    for layer in model.layers:
        if type(layer).__name__ in PRUNABLE:
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            result[layer.name] = float(np.mean(kernel == 0))
    return result
