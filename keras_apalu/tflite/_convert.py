"""Keras model -> .tflite flatbuffer, with APALU fused or decomposed.

TensorFlow is imported here only, and only when a conversion runs under the
TensorFlow backend. Models of other backends are saved as .keras and
converted in a TensorFlow-backend subprocess (`keras_apalu._worker`).
"""

import contextlib
import importlib.util
import os
import pathlib
import tempfile
import zipfile

import keras
import numpy as np

from keras_apalu import _worker
from keras_apalu._exporting import exporting
from keras_apalu.errors import ExportError
from keras_apalu.errors import InvalidModelError
from keras_apalu.errors import ModelNotFoundError
from keras_apalu.export._quiet import quiet
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
    f'name: "{_kernel.OP_NAME}" attr {{ key: "tfl_fusable_op" value {{ b: true }} }}'
)
_FUSED = None


def _check_arguments(mode, quantize, representative_data):
    if mode not in MODES:
        raise ValueError(
            f"mode must be one of {MODES} ('custom': one APALU op per layer, "
            f"needs the kernel; 'builtin': builtin ops only); got {mode!r}."
        )
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}; got {quantize!r}.")
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
            return apalu(x, a, b)  # the plain form: see _export_calls

        _FUSED = fused
    return _FUSED


def _export_call(layer, mode):
    """The `call` an APALU layer uses while being converted."""
    fused = _fused_apalu() if mode == "custom" else None

    def call(inputs, training=None):  # the layer's call takes `training`
        a, b = layer.slopes()
        if fused is None:
            return apalu(inputs, a, b)  # the plain form: see _export_calls
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
    block: training keeps the keras.ops path. Inside, `exporting()` is on,
    so `apalu` traces its plain `keras.ops` form (no custom gradient, which
    only adds identity ops to a forward graph, and no compiled kernel).
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
        with exporting():
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
    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, TypeError, OSError, KeyError) as error:
        raise InvalidModelError(
            f"{path} could not be loaded as a Keras model ({error}); "
            "custom layers other than keras_apalu's must be registered "
            "(keras.saving.register_keras_serializable) on import."
        ) from error


def _convert_here(
    model,
    mode,
    quantize,
    representative_data=None,
    reorder_max_pool=True,
    verbose=False,
    library=None,
):
    import tensorflow as tf

    if quantize == "int8":
        samples = int8.representative_samples(model, representative_data)
    # Quiet unless verbose: the converter prints every captured TensorSpec
    # and C++ logs.
    with (
        _export_calls(model, mode, reorder_max_pool) as layers,
        quiet(not verbose, what="TFLite conversion"),
    ):
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
            int8.configure_converter(converter, samples, mode, library)
        content = converter.convert()
    if quantize == "int8" and mode == "custom" and layers:
        # The converter leaves the custom op float32 between DEQUANTIZE and
        # QUANTIZE: rewire it to int8 (see keras_apalu/tflite/int8.py).
        content = int8.rewrite_custom_op_int8(content)
    names = flatbuffer.op_names(content)
    flex = sorted({n for n in names if n.startswith("Flex")})
    if flex:
        raise ExportError(f"The converted model contains Flex ops {flex}.")
    if mode == "custom" and layers and _kernel.OP_NAME not in names:
        raise ExportError(
            "The TFLite converter did not fuse APALU into a custom op (the "
            "experimental_implements mechanism may have changed in this "
            "TensorFlow version); use mode='builtin'."
        )
    return content


def _convert_in_subprocess(
    source,
    mode,
    quantize,
    representative_data=None,
    reorder_max_pool=True,
    verbose=False,
    library=None,
):
    with tempfile.TemporaryDirectory(prefix="keras_apalu_tflite_") as tmp:
        tmp = pathlib.Path(tmp)
        if isinstance(source, keras.Model):
            path = tmp / "model.keras"
            source.save(path)
        else:
            path = pathlib.Path(source)
        job = {
            "kind": "tflite",
            "model": str(path),
            "output": str(tmp / "model.tflite"),
            "mode": mode,
            "quantize": quantize,
            "representative": None,
            "reorder_max_pool": reorder_max_pool,
            "library": str(library) if library else None,
        }
        if quantize == "int8" and mode == "custom" and not library:
            # The calibrator runs the kernel: build it here, where the
            # caller's cache folder is known.
            job["library"] = str(_kernel.build_library())
        if representative_data is not None:
            arrays = (
                representative_data
                if isinstance(representative_data, (list, tuple))
                else [representative_data]
            )
            job["representative"] = str(tmp / "representative.npz")
            np.savez(
                job["representative"], *[np.asarray(a, np.float32) for a in arrays]
            )
        _worker.run_job(
            job, "tensorflow", verbose, what=f"TFLite conversion of {path.name}"
        )
        return pathlib.Path(job["output"]).read_bytes()


def convert(
    model_or_keras_path,
    mode="custom",
    quantize=None,
    representative_data=None,
    reorder_max_pool=True,
    verbose=False,
    library=None,
):
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
        verbose: `False` (default) hides the converter's output (shown in
            the error if the conversion fails); `True` lets it through.
        library: a prebuilt APALU kernel library for the int8 calibration
            of custom mode (see `load_library`); default: the cached build.

    Returns:
        The flatbuffer as `bytes`.

    Raises:
        ModelNotFoundError: no file at the given path.
        InvalidModelError: the file is not a (complete) `.keras` archive.
        ExportError: the conversion failed; the message ends with the
            converter's last output lines.
    """
    _check_arguments(mode, quantize, representative_data)
    _require_tensorflow()
    if keras.backend.backend() != "tensorflow":
        if not isinstance(model_or_keras_path, keras.Model):
            model_or_keras_path = _check_path(model_or_keras_path)
        elif quantize == "int8":
            # Bad data fails here, not in the subprocess.
            representative_data = int8.representative_samples(
                model_or_keras_path, representative_data
            )
        return _convert_in_subprocess(
            model_or_keras_path,
            mode,
            quantize,
            representative_data,
            reorder_max_pool,
            verbose,
            library,
        )
    return _convert_here(
        _load(model_or_keras_path),
        mode,
        quantize,
        representative_data,
        reorder_max_pool,
        verbose,
        library,
    )


def _require_tensorflow():
    # Without it the TensorFlow-backend subprocess would fail with a traceback.
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError(
            "TFLite export needs TensorFlow, which is not installed: "
            "pip install 'keras-apalu[tflite]' (TensorFlow and the LiteRT "
            "interpreter)."
        )


def _check_path(path):
    """`path` as a `pathlib.Path` if it holds a complete `.keras` archive."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            "convert() takes a keras.Model or the path of a .keras file; got "
            f"{type(path).__name__}."
        )
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"No Keras model file at {path}; check the path.")
    if path.suffix != ".keras":
        raise InvalidModelError(
            f"Expected a .keras model file; got {path.name!r} (save the "
            "model with model.save('model.keras'))."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            complete = archive.testzip() is None
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError):
        complete, names = False, set()
    if not complete or "config.json" not in names:
        raise InvalidModelError(
            f"{path} is not a complete .keras archive (truncated, or not "
            "written by model.save); save the model again."
        )
    return path


def export(model_or_keras_path, path, **convert_kwargs):
    """Converts (see `convert`) and writes the .tflite file atomically.

    The flatbuffer is written to a hidden folder next to `path` and moved
    over it only when complete, so a failed conversion or write leaves an
    earlier file intact. A folder that cannot be written fails before the
    conversion starts (`PermissionError`).

    Returns:
        The `pathlib.Path` written.
    """
    with _worker.Staging(path) as stage:
        stage.write_bytes(convert(model_or_keras_path, **convert_kwargs))
        stage.commit()
    return stage.path
