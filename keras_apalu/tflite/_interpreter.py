"""TFLite interpreters with the APALU kernel registered."""

from keras_apalu.errors import KernelUnavailableError
from keras_apalu.tflite import _kernel
from keras_apalu.tflite import flatbuffer

RUNTIMES = ("litert", "tensorflow")


def _interpreter_class(runtime):
    if runtime == "litert":
        from ai_edge_litert.interpreter import InterpreterWithCustomOps
    elif runtime == "tensorflow":
        # tf.lite.Interpreter, deprecated by TensorFlow in favour of LiteRT.
        from tensorflow.lite.python.interpreter import InterpreterWithCustomOps
    else:
        raise ValueError(f"runtime must be one of {RUNTIMES}; got {runtime!r}.")
    return InterpreterWithCustomOps


def _looks_like_missing_kernel(error):
    text = str(error)
    return _kernel.OP_NAME in text and (
        "custom op" in text.lower() or "unresolved" in text.lower()
    )


def interpreter(
    model_path=None,
    model_content=None,
    num_threads=None,
    runtime="litert",
    register_kernel=True,
    library=None,
):
    """Opens a .tflite model, registering the APALU kernel, and allocates it.

    Args:
        model_path: path of a .tflite file (or give `model_content`).
        model_content: the flatbuffer as bytes.
        num_threads: threads for the builtin kernels and the APALU kernel
            (which splits float32 tensors of 65,536 elements or more over
            them). Default: the runtime's (1).
        runtime: `"litert"` (default) for
            `ai_edge_litert.interpreter.Interpreter`, or `"tensorflow"` for
            `tf.lite.Interpreter`.
        register_kernel: register the APALU kernel (built on first use, see
            `build_library`). It is only built when the model uses the op.
        library: a prebuilt kernel library to register instead (see
            `load_library`).

    Returns:
        The interpreter, with tensors allocated.

    Raises:
        InvalidModelError: the file or bytes are not a TFLite flatbuffer.
        KernelUnavailableError: the model uses the APALU custom op and the
            kernel is missing or cannot be built; the message says how to
            register it.
    """
    if (model_path is None) == (model_content is None):
        raise ValueError("Give exactly one of model_path and model_content.")
    cls = _interpreter_class(runtime)
    source = model_path if model_path is not None else model_content
    registerers = []
    if register_kernel and flatbuffer.uses_custom_op(source, _kernel.OP_NAME):
        registerers.append(_kernel.registerer(library))
    kwargs = {"custom_op_registerers": registerers, "num_threads": num_threads}
    if model_path is not None:
        kwargs["model_path"] = str(model_path)
    else:
        kwargs["model_content"] = bytes(model_content)
    try:
        result = cls(**kwargs)
        result.allocate_tensors()
    except (RuntimeError, ValueError) as error:
        if _looks_like_missing_kernel(error):
            raise KernelUnavailableError(
                f"{error}\n\n{_kernel.how_to_register()}"
            ) from error
        raise
    return result
