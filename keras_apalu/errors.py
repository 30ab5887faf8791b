"""The errors keras_apalu raises on purpose, for callers to catch.

Each is an `APALUError` and also the builtin exception it refines, so code
that catches `ValueError`, `RuntimeError` or `OSError` keeps working:

    try:
        tflite.export("model.keras", "model.tflite")
    except keras_apalu.errors.APALUError as error:
        print(error)   # names the file and the fix

Wrong argument values (an unknown `mode`, `format` or `quantize`) stay plain
`ValueError`s: they are programming errors, not conditions to handle.
"""


class APALUError(Exception):
    """Base class of every error in this module."""


class ModelNotFoundError(APALUError, FileNotFoundError):
    """No model file at the given path."""


class InvalidModelError(APALUError, ValueError):
    """A model or model file keras_apalu cannot use: not a `.keras` archive
    (or a truncated one), a `.tflite` file that is not a TFLite flatbuffer,
    or a layer with no tf_keras equivalent."""


class ExportError(APALUError, RuntimeError):
    """An export or conversion failed; the message ends with the converter's
    last output lines. Files written earlier at the target are left intact."""


class KernelUnavailableError(APALUError, RuntimeError):
    """The APALU TFLite kernel library cannot be found, built or loaded; the
    message says how to register the kernel another way."""


__all__ = [
    "APALUError",
    "ExportError",
    "InvalidModelError",
    "KernelUnavailableError",
    "ModelNotFoundError",
]
