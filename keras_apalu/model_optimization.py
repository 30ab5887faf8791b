"""tensorflow-model-optimization (tfmot) for Keras 3 models that use APALU.

Optional extra: `pip install "keras-apalu[tfmot]"` (tensorflow-model-
optimization 0.8.1 and tf_keras). Import this module explicitly; the package
never imports it.

tfmot 0.8.1 works on tf_keras (Keras 2) models only. `to_tf_keras`
(keras_apalu/_tf_keras.py) rebuilds a Keras 3 model as a tf_keras model
(same layers, names and weights; APALU becomes `ApaluTwin`, a tf_keras layer
computing the same function); this module wraps tfmot around it:

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
import os

import keras
import numpy as np

from keras_apalu import _tf_keras
from keras_apalu._tf_keras import copy_weights
from keras_apalu._tf_keras import twin_class

_TFMOT = None
_QUANTIZE_CONFIG = None


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


def _quantize_config_class():
    """`ApaluQuantizeConfig`, the tfmot QuantizeConfig of `ApaluTwin`."""
    global _QUANTIZE_CONFIG
    if _QUANTIZE_CONFIG is not None:
        return _QUANTIZE_CONFIG
    _, _, tfmot = _import_tfmot()
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
            return [
                quantizers.MovingAverageQuantizer(
                    num_bits=8, per_axis=False, symmetric=False, narrow_range=False
                )
            ]

        def get_config(self):
            return {}

    _QUANTIZE_CONFIG = ApaluQuantizeConfig
    return _QUANTIZE_CONFIG


def _twin_classes():
    _import_tfmot()  # first, so that TF_USE_LEGACY_KERAS is restored
    return twin_class(), _quantize_config_class()


def to_tf_keras(model):
    """The Keras 3 `model` rebuilt for tf_keras, tfmot imported first (see
    `keras_apalu._tf_keras.to_tf_keras`: arguments, result and errors)."""
    _import_tfmot()
    return _tf_keras.to_tf_keras(model)


def custom_objects():
    """tf_keras custom objects for loading models made here."""
    twin, config = _twin_classes()
    return {"ApaluTwin": twin, "ApaluQuantizeConfig": config}


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
            return quantization.quantize_annotate_layer(layer, quantize_config())
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

PRUNABLE = (
    "Dense",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Conv2DTranspose",
)


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
        sparsity, begin_step=begin_step, frequency=frequency
    )
    base = to_tf_keras(model)

    def wrap(layer):
        if type(layer).__name__ in PRUNABLE:
            return sparsity_api.prune_low_magnitude(layer, pruning_schedule=schedule)
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
    copy_weights(model.layers, stripped, to_tf_keras=False)
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


__all__ = [
    "PRUNABLE",
    "convert_qat",
    "custom_objects",
    "kernel_sparsity",
    "prune",
    "pruning_callbacks",
    "quantize_aware",
    "strip_pruning_into",
    "to_tf_keras",
]
