"""keras_apalu: the APALU trainable activation for Keras 3.

`from keras_apalu import layers; layers.APALU()` works under the TensorFlow,
JAX and PyTorch backends; `keras_apalu.ops.apalu(x, a, b)` is the functional
form shared by the layer, the TFLite exporter and the tests.
`keras_apalu.replace_activations(model)` swaps APALU into a model, started
as the fit of the activation it replaces (`keras_apalu.initialization`);
`keras_apalu.callbacks.APALURecorder` and `keras_apalu.plotting` record and
draw what it learns. `keras_apalu.errors` holds the errors it raises on
purpose.
"""

from keras_apalu import _command_line

# Only in the keras-apalu-tflite command: TensorFlow's import logs (see
# keras_apalu/_command_line.py).
with _command_line.quiet_import():
    from keras_apalu import callbacks
    from keras_apalu import constraints
    from keras_apalu import errors
    from keras_apalu import initialization
    from keras_apalu import layers
    from keras_apalu import ops
    from keras_apalu import plotting
    from keras_apalu.replace import replace_activations

__version__ = "0.1.0"

__all__ = [
    "callbacks",
    "constraints",
    "errors",
    "initialization",
    "layers",
    "ops",
    "plotting",
    "replace_activations",
    "__version__",
]
