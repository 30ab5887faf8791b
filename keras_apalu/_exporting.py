"""`is_exporting()`: whether APALU is being traced into a deployment file.

`keras_apalu.ops.apalu` asks this first and, when it is true, evaluates the
plain `keras.ops` form (no custom gradient: an exported file holds the
forward pass only, and exporters cannot all read a custom-gradient node).

It is true:

- inside `exporting()` (which `keras_apalu.export.export` enters), and
- on the torch backend, while torch traces a model for a file:
  `torch.export` (Keras' "torch" format, the ONNX dynamo exporter,
  litert-torch) or `torch.jit.trace` (Keras' "openvino" format and its
  TorchScript ONNX exporter), so a plain `model.export(...)` works too.

On TensorFlow and JAX the training-time form exports as it is (a
`tf.custom_gradient` is an identity in a forward graph; JAX differentiates
the formula). The converters' missing rules for `expm1` are added when they
are needed, never on import: tf2onnx's (`keras_apalu.export._tensorflow`)
the first time APALU is traced into a TensorFlow graph, the TorchScript ONNX
exporter's (`keras_apalu.export._torch`) when APALU is traced inside an ONNX
export; see docs/deployment.md. This module imports only keras and the
backend keras has already imported.
"""

import contextlib
import sys

import keras

if keras.backend.backend() == "torch":
    import torch  # already imported by keras: a global torch.compile can trace
elif keras.backend.backend() == "tensorflow":
    import tensorflow as tf  # already imported by keras

# A plain module global, not a ContextVar or thread-local: torch.compile
# traces `is_exporting()` with the layer and breaks the graph on those. (So
# `exporting()` is process-wide: do not train in another thread meanwhile.)
_DEPTH = 0


@contextlib.contextmanager
def exporting():
    """Makes `is_exporting()` true inside the block (the whole process)."""
    global _DEPTH
    _DEPTH += 1
    try:
        yield
    finally:
        _DEPTH -= 1


def _torch_is_tracing():
    """True while torch traces for an exported program or file; inside an
    ONNX export it also adds the exporter's missing `expm1` rule."""
    if not (torch.compiler.is_exporting() or torch.jit.is_tracing()):
        return False
    onnx = sys.modules.get("torch.onnx")
    if onnx is not None and onnx.is_in_onnx_export():
        from keras_apalu.export import _torch

        _torch.register_onnx_expm1()
    return True


def _tensorflow_is_tracing():
    """Always False (see the module doc); the first time APALU is traced
    into a TensorFlow graph, it adds tf2onnx's missing `Expm1` rule, so a
    plain `model.export(format="onnx")` works."""
    global _TF2ONNX_RULES
    if not _TF2ONNX_RULES:
        if tf.inside_function():
            from keras_apalu.export import _tensorflow

            _tensorflow.register_converter_rules()
            _TF2ONNX_RULES = True
    return False


_TF2ONNX_RULES = False
if keras.backend.backend() == "tensorflow":
    # Runs as it is inside a traced function (AutoGraph would convert the
    # registration's calls).
    _tensorflow_is_tracing = tf.autograph.experimental.do_not_convert(
        _tensorflow_is_tracing
    )
_BACKEND_IS_EXPORTING = {
    "torch": _torch_is_tracing,
    "tensorflow": _tensorflow_is_tracing,
}.get(keras.backend.backend(), lambda: False)


def is_exporting():
    """True while APALU is traced for an exported file (see module doc)."""
    # The backend check first: it also adds the backend's converter rules.
    return _BACKEND_IS_EXPORTING() or _DEPTH > 0
