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
the formula). The converters' missing rules for `expm1` are added by
`keras_apalu.export._tensorflow` (tf2onnx) and `keras_apalu.export._torch`
(TorchScript ONNX exporter); see docs/deployment.md.
"""

import contextlib

import keras

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


def _never():
    return False


def _backend_check():
    """The backend's own tracing check, chosen once (the backend is fixed)."""
    backend = keras.backend.backend()
    if backend == "torch":
        from keras_apalu.export import _torch

        return _torch.is_tracing_for_export
    if backend == "tensorflow":
        from keras_apalu.export import _tensorflow

        _tensorflow.register_converter_rules()
    return _never


def is_exporting():
    """True while APALU is traced for an exported file (see module doc)."""
    # The backend check first: under torch it also registers the ONNX rule.
    return _BACKEND_IS_EXPORTING() or _DEPTH > 0


# Last: the backend modules import keras_apalu.export, whose __init__ imports
# the names above from this (then partly initialised) module.
_BACKEND_IS_EXPORTING = _backend_check()
