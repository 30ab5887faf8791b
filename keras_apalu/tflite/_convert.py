"""Keras model -> .tflite flatbuffer, with APALU fused or decomposed.

TensorFlow is imported here only, and only when a conversion runs under the
TensorFlow backend. Models of other backends are saved as .keras and
converted by `python -m keras_apalu.tflite._worker` in a TensorFlow-backend
subprocess.
"""

import contextlib
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile

import keras
import numpy as np

from keras_apalu.layers import APALU
from keras_apalu.ops import apalu
from keras_apalu.tflite import _kernel
from keras_apalu.tflite import flatbuffer
from keras_apalu.tflite import int8
from keras_apalu.tflite._pooling import max_pool_pairs

MODES = ("custom", "builtin")
QUANTIZATIONS = (None, "float16", "dynamic", "int8")

# The TFLite converter turns each call of a tf.function carrying this
# attribute into one CUSTOM op named APALU whose inputs are the function's
# tensor arguments (x, a, b). Not documented by TensorFlow: the tests pin it
# by inspecting the flatbuffer.
_IMPLEMENTS = (
    f'name: "{_kernel.OP_NAME}" attr {{ key: "tfl_fusable_op" '
    "value { b: true } }"
)
_FUSED = None


def _check_arguments(mode, quantize, representative_data):
    if mode not in MODES:
        raise ValueError(
            f"mode must be one of {MODES} ('custom': one APALU op per layer, "
            f"needs the kernel; 'builtin': builtin ops only); got {mode!r}."
        )
    if quantize not in QUANTIZATIONS:
        raise ValueError(
            f"quantize must be one of {QUANTIZATIONS}; got {quantize!r}."
        )
    if representative_data is not None and quantize != "int8":
        raise ValueError(
            "representative_data is only used by quantize='int8'; pass "
            "representative_data=None."
        )


def _fused_apalu():
    global _FUSED
    if _FUSED is None:
        import tensorflow as tf

        @tf.function(experimental_implements=_IMPLEMENTS)
        def fused(x, a, b):
            return apalu(x, a, b, custom_gradient=False)

        _FUSED = fused
    return _FUSED


def _export_call(layer, mode):
    """The `call` an APALU layer uses while being converted."""
    fused = _fused_apalu() if mode == "custom" else None

    def call(inputs, training=None):  # the layer's call takes `training`
        a, b = layer.slopes()
        if fused is None:
            # Plain keras.ops graph, without the training-time custom
            # gradient (which only adds identity ops to a forward graph).
            return apalu(inputs, a, b, custom_gradient=False)
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        x = keras.ops.cast(inputs, "float32")
        a = keras.ops.cast(a, "float32")
        b = keras.ops.cast(b, "float32")
        return keras.ops.cast(fused(x, a, b), dtype)

    return call


def apalu_layers(model):
    """Every APALU layer of `model`, nested models included."""
    return [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, APALU)
    ]


def _pooled_call(pool, apalu_call):
    """`pool`'s call followed by APALU (see keras_apalu/tflite/_pooling.py)."""
    pool_call = pool.call

    def call(inputs):  # Keras passes `training` only where call takes it
        return apalu_call(pool_call(inputs))

    return call


@contextlib.contextmanager
def _export_calls(model, mode, reorder_max_pool=True):
    """Swaps each APALU layer's `call` for its export form, then restores it.

    With `reorder_max_pool`, an APALU layer that may run after the max-pooling
    it feeds becomes the identity and the pooling layer applies it to its
    output. Only the instances of this model change, and only inside the
    block: training keeps the keras.ops path.
    """
    layers = apalu_layers(model)
    pairs = max_pool_pairs(model, layers) if reorder_max_pool else []
    moved = {id(layer): pool for layer, pool in pairs}
    changed = []
    try:
        for layer in layers:
            call = _export_call(layer, mode)
            if id(layer) in moved:
                pool = moved[id(layer)]
                object.__setattr__(pool, "call", _pooled_call(pool, call))
                changed.append(pool)
                call = _identity
            object.__setattr__(layer, "call", call)
            changed.append(layer)
        yield layers
    finally:
        for layer in changed:
            layer.__dict__.pop("call", None)


def _identity(inputs, training=None):  # stands in for APALU's call
    return inputs


def _load(model_or_keras_path):
    if isinstance(model_or_keras_path, keras.Model):
        return model_or_keras_path
    path = _check_path(model_or_keras_path)
    return keras.saving.load_model(path, compile=False)


def _convert_here(model, mode, quantize, representative_data=None,
                  reorder_max_pool=True):
    import tensorflow as tf

    from keras_apalu.export._quiet import quiet

    # Quiet: the converter prints every captured TensorSpec and C++ logs
    # ($KERAS_APALU_EXPORT_VERBOSE=1 lets them through).
    with _export_calls(model, mode, reorder_max_pool) as layers, quiet(
            what="TFLite conversion", wrap_errors=False):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        # Builtins only: never SELECT_TF_OPS (Flex), which edge runtimes lack.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = mode == "custom"
        if quantize == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantize == "int8":
            samples = int8.representative_samples(model, representative_data)
            int8.configure_converter(converter, samples, mode)
        content = converter.convert()
    if quantize == "int8" and mode == "custom" and layers:
        # The converter leaves the custom op float32 between DEQUANTIZE and
        # QUANTIZE: rewire it to int8 (see keras_apalu/tflite/int8.py).
        content = int8.rewrite_custom_op_int8(content)
    names = flatbuffer.op_names(content)
    flex = sorted({n for n in names if n.startswith("Flex")})
    if flex:
        raise RuntimeError(f"The converted model contains Flex ops {flex}.")
    if mode == "custom" and layers and _kernel.OP_NAME not in names:
        raise RuntimeError(
            "The TFLite converter did not fuse APALU into a custom op (the "
            "experimental_implements mechanism may have changed in this "
            "TensorFlow version); use mode='builtin'."
        )
    return content


def _package_root():
    return str(pathlib.Path(__file__).resolve().parents[2])


def _convert_in_subprocess(source, mode, quantize, representative_data=None,
                           reorder_max_pool=True):
    with tempfile.TemporaryDirectory(prefix="keras_apalu_tflite_") as tmp:
        tmp = pathlib.Path(tmp)
        if isinstance(source, keras.Model):
            path = tmp / "model.keras"
            source.save(path)
        else:
            path = pathlib.Path(source)
        output = tmp / "model.tflite"
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        # Set by tensorflow-model-optimization; would make TF load tf_keras.
        env.pop("TF_USE_LEGACY_KERAS", None)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_package_root(), env.get("PYTHONPATH")) if p
        )
        command = [
            sys.executable, "-m", "keras_apalu.tflite._worker", str(path),
            str(output), "--mode", mode, "--quantize", quantize or "none",
        ]
        if not reorder_max_pool:
            command.append("--keep-max-pool-order")
        if representative_data is not None:
            arrays = (representative_data
                      if isinstance(representative_data, (list, tuple))
                      else [representative_data])
            samples = tmp / "representative.npz"
            np.savez(samples, *[np.asarray(a, np.float32) for a in arrays])
            command += ["--representative", str(samples)]
        result = subprocess.run(command, capture_output=True, text=True,
                                env=env)
        if result.returncode != 0 or not output.is_file():
            tail = "\n".join(result.stderr.strip().splitlines()[-25:])
            raise RuntimeError(
                "TFLite conversion runs under the TensorFlow backend; the "
                "TensorFlow-backend subprocess converting "
                f"{path.name} failed (exit {result.returncode}):\n{tail}"
            )
        return output.read_bytes()


def convert(model_or_keras_path, mode="custom", quantize=None,
            representative_data=None, reorder_max_pool=True):
    """Converts a Keras model that uses APALU to a .tflite flatbuffer.

    Args:
        model_or_keras_path: a `keras.Model`, or the path of a `.keras` file.
            Under the JAX or PyTorch backend the model is saved as `.keras`
            and converted in a TensorFlow-backend subprocess (custom layers
            other than keras_apalu's must then be registered on import of a
            module the subprocess can load; pass a path to skip the save).
        mode: `"custom"` (default): each APALU layer becomes one CUSTOM op
            `"APALU"` with inputs `(x, a, b)`, run by the project's C kernel
            (see `interpreter`). `"builtin"`: APALU is decomposed into TFLite
            builtin ops only (no Flex), for runtimes where no custom op can
            be registered.
        quantize: `None` (float32), `"float16"` (weights stored as float16),
            `"dynamic"` (dynamic-range: int8 weights, float activations) or
            `"int8"` (full integer: int8 activations, input and output, int32
            biases; in custom mode the APALU op itself runs in int8 by table
            lookup). See keras_apalu/tflite/int8.py.
        representative_data: for `quantize="int8"` only (required there):
            calibration inputs, an array of N samples (batch axis first) or
            a list of such arrays, one per model input; a few hundred real
            inputs, e.g. training images.
        reorder_max_pool: if `True` (default), an APALU layer whose output
            goes only into a max-pooling layer is applied after the pooling
            when that gives the same values: slopes `a, b >= 0` (as the
            default constraint keeps them) shared over the pooled axes (e.g.
            `shared_axes=[1, 2]` before `MaxPooling2D`). APALU is then
            non-decreasing, so it commutes with the maximum, and runs on the
            pooled map (4x fewer elements after a 2x2 pool). Checked per
            layer from the graph and the slope values; `False` keeps the
            model's order everywhere.

    Returns:
        The flatbuffer as `bytes`.
    """
    _check_arguments(mode, quantize, representative_data)
    _require_tensorflow()
    if keras.backend.backend() != "tensorflow":
        if not isinstance(model_or_keras_path, keras.Model):
            model_or_keras_path = _check_path(model_or_keras_path)
        elif quantize == "int8":
            # Bad data fails here, not in the subprocess.
            representative_data = int8.representative_samples(
                model_or_keras_path, representative_data)
        return _convert_in_subprocess(model_or_keras_path, mode, quantize,
                                      representative_data, reorder_max_pool)
    return _convert_here(_load(model_or_keras_path), mode, quantize,
                         representative_data, reorder_max_pool)


def _require_tensorflow():
    # Without it the TensorFlow-backend subprocess would fail with a traceback.
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError(
            "TFLite export needs TensorFlow, which is not installed: "
            "pip install 'keras-apalu[tflite]' (TensorFlow and the LiteRT "
            "interpreter)."
        )


def _check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            "convert() takes a keras.Model or the path of a .keras file; got "
            f"{type(path).__name__}."
        )
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No Keras model file at {path}.")
    if path.suffix != ".keras":
        raise ValueError(f"Expected a .keras model file; got {path.name!r}.")
    return path


def export(model_or_keras_path, path, **convert_kwargs):
    """Converts (see `convert`) and writes the .tflite file atomically.

    The flatbuffer is written to a temporary file next to `path` and renamed
    over it, so a failed conversion or write leaves an earlier file intact.

    Returns:
        The `pathlib.Path` written.
    """
    path = pathlib.Path(path)
    content = convert(model_or_keras_path, **convert_kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp creates the file 0600; give it the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    return path
