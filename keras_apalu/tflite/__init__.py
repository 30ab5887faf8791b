"""TFLite / LiteRT export of Keras models that use APALU.

    from keras_apalu import tflite
    tflite.export(model, "model.tflite")                   # APALU custom ops
    tflite.export(model, "plain.tflite", mode="builtin")   # builtin ops only
    runner = tflite.interpreter("model.tflite")            # kernel registered

`convert` fuses each APALU layer into one CUSTOM op "APALU" (inputs x, a, b)
run by the C kernel in the repository's `tflite/` folder (built with the
machine's compiler on first use and cached; see `build_library`), or
decomposes it into builtin ops. TensorFlow is imported only when a
conversion or an interpreter is asked for, so `import keras_apalu` (and this
module) never imports it. Errors are `keras_apalu.errors` types
(`KernelUnavailableError` is also here). The command line is
`keras-apalu-tflite` (`python -m keras_apalu.tflite`). See docs/tflite.md.
"""

from keras_apalu.errors import KernelUnavailableError
from keras_apalu.tflite._convert import convert
from keras_apalu.tflite._convert import export
from keras_apalu.tflite._interpreter import interpreter
from keras_apalu.tflite._kernel import OP_NAME
from keras_apalu.tflite._kernel import REGISTERER_NAME
from keras_apalu.tflite._kernel import REGISTRATION_GETTER
from keras_apalu.tflite._kernel import build_library
from keras_apalu.tflite._kernel import cache_dir
from keras_apalu.tflite._kernel import library_path
from keras_apalu.tflite._kernel import load_library
from keras_apalu.tflite._kernel import registerer
from keras_apalu.tflite._kernel import source_dir
from keras_apalu.tflite.flatbuffer import op_names

__all__ = [
    "OP_NAME",
    "REGISTERER_NAME",
    "REGISTRATION_GETTER",
    "KernelUnavailableError",
    "build_library",
    "cache_dir",
    "convert",
    "export",
    "interpreter",
    "library_path",
    "load_library",
    "op_names",
    "registerer",
    "source_dir",
]
