"""Every Keras export format for models with APALU, on every backend.

    from keras_apalu import export
    result = export.export(model, "model.onnx", "onnx", check_inputs=x[:4])
    result.max_abs_error          # file in onnxruntime vs the Keras model
    run = export.load("model.onnx", "onnx"); run(x)

`export` calls Keras' own `model.export(path, format=...)` where Keras can
write that format from the current backend. Where it cannot (`ROUTES`), the
model is saved as `.keras` and exported by `model.export` in a subprocess
under the backend that can (the same route `keras_apalu.tflite.export`
takes). While exporting, APALU is traced in its plain `keras.ops` form (see
`keras_apalu._exporting`). A plain `model.export(...)` works too wherever
Keras supports the pair; see docs/deployment.md for the measured table.
"""

import dataclasses
import importlib.util
import pathlib
import tempfile
from collections import Counter

import numpy as np

from keras_apalu import _worker
from keras_apalu._exporting import exporting
from keras_apalu._exporting import is_exporting
from keras_apalu.errors import ExportError
from keras_apalu.export._quiet import quiet
from keras_apalu.export._runtimes import FORMATS
from keras_apalu.export._runtimes import load

#: File name ending each format needs ("" for the SavedModel directory).
SUFFIXES = {
    "tf_saved_model": "",
    "litert": ".tflite",
    "onnx": ".onnx",
    "openvino": ".xml",
    "torch": ".pt2",
}

#: (backend, format) pairs Keras 3.15 cannot export -> (backend that
#: exports the saved .keras instead, Keras' reason). ReLU models fail the
#: same way, so these are Keras' limits, not APALU's.
ROUTES = {
    ("jax", "litert"): (
        "tensorflow",
        "Keras: LiteRT export requires TensorFlow or PyTorch backend",
    ),
    ("jax", "openvino"): (
        "tensorflow",
        "OpenVINO cannot convert the XlaCallModule op of jax2tf",
    ),
    ("torch", "tf_saved_model"): (
        "tensorflow",
        "Keras' torch SavedModel route fails (torch.export dynamic_shapes mismatch)",
    ),
    ("torch", "litert"): (
        "tensorflow",
        "Keras needs litert-torch, whose pins conflict with this "
        "project's (ai-edge-litert[model-utils])",
    ),
    ("tensorflow", "torch"): ("torch", "Keras: torch export requires PyTorch backend"),
    ("jax", "torch"): ("torch", "Keras: torch export requires PyTorch backend"),
}


@dataclasses.dataclass
class ExportResult:
    """What `export` wrote.

    Attributes:
        path: the file (or SavedModel directory) written.
        format: the Keras format name.
        route: "keras" (model.export in this process) or
            "keras (<backend> subprocess)".
        size_bytes: bytes on disk (all files of a directory; .xml + .bin).
        ops: operator counts of the file (None for SavedModel).
        max_abs_error: largest |file - Keras| over `check_inputs`, if given.
    """

    path: pathlib.Path
    format: str
    route: str
    size_bytes: int
    ops: Counter | None = None
    max_abs_error: float | None = None

    def summary(self):
        """One line: path, size, op count, parity."""
        text = f"{self.path} ({self.format}, {self.size_bytes:,} B"
        if self.ops:
            text += f", {sum(self.ops.values())} ops"
        if self.route != "keras":
            text += f", via {self.route}"
        text += ")"
        if self.max_abs_error is not None:
            text += f", max |file - Keras| = {self.max_abs_error:.1e}"
        return text


def route(format, backend=None):
    """`(exporting backend, reason)` for a format: the current backend with
    reason None where Keras exports it directly."""
    import keras

    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}; got {format!r}.")
    backend = backend or keras.backend.backend()
    if (backend, format) == ("torch", "litert") and importlib.util.find_spec(
        "litert_torch"
    ):
        return backend, None
    return ROUTES.get((backend, format), (backend, None))


def size_on_disk(path, format):
    path = pathlib.Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    size = path.stat().st_size
    if format == "openvino":
        size += path.with_suffix(".bin").stat().st_size
    return size


def op_counts(path, format):
    """Operator type -> count in an exported file (None for SavedModel)."""
    path = pathlib.Path(path)
    if format == "onnx":
        import onnx

        return Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    if format == "openvino":
        import openvino

        model = openvino.Core().read_model(str(path))
        skip = {"Parameter", "Result", "Constant"}
        return Counter(
            t
            for t in (op.get_type_name() for op in model.get_ordered_ops())
            if t not in skip
        )
    if format == "litert":
        from keras_apalu.tflite import op_names

        return Counter(op_names(path.read_bytes()))
    if format == "torch":
        import torch

        graph = torch.export.load(str(path)).graph
        return Counter(
            str(n.target).split(".")[1]
            if str(n.target).startswith("aten.")
            else str(n.target)
            for n in graph.nodes
            if n.op == "call_function"
        )
    return None


def _check_path(path, format):
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}; got {format!r}.")
    path = pathlib.Path(path)
    suffix = SUFFIXES[format]
    if suffix and path.suffix != suffix:
        raise ValueError(
            f'format="{format}" writes a "{suffix}" file; got {path.name!r}.'
        )
    return path


def _ensure_called(model):
    """Keras' ONNX export under JAX needs a model that was called once."""
    import keras

    if getattr(model, "_called", True):
        return
    shapes = [tuple(1 if d is None else d for d in t.shape) for t in model.inputs]
    model(
        [keras.ops.zeros(s) for s in shapes]
        if len(shapes) > 1
        else keras.ops.zeros(shapes[0])
    )


def _export_here(model, path, format, verbose, **kwargs):
    import keras

    _ensure_called(model)
    if format == "onnx" and keras.backend.backend() == "torch":
        from keras_apalu.export import _torch

        _torch.register_onnx_expm1()
    if format == "onnx" and keras.backend.backend() == "tensorflow":
        from keras_apalu.export import _tensorflow

        _tensorflow.register_converter_rules()
    with exporting(), quiet(not verbose, f"model.export(format={format!r})"):
        model.export(str(path), format=format, verbose=verbose, **kwargs)


def _export_in_subprocess(model, jobs, backend, verbose):
    """Exports `model` to every `(format, path)` of `jobs` in one
    `backend`-backend subprocess (through a saved .keras file)."""
    with tempfile.TemporaryDirectory(prefix="keras_apalu_export_") as tmp:
        keras_path = pathlib.Path(tmp) / "model.keras"
        model.save(keras_path)
        job = {
            "kind": "export",
            "model": str(keras_path),
            "to": [(format, str(path)) for format, path in jobs],
        }
        _worker.run_job(
            job, backend, verbose, what="Exporting " + ", ".join(f for f, _ in jobs)
        )


def export_all(model, paths, check_inputs=None, verbose=False):
    """Exports a Keras model to several formats at once (see `export`).

    The formats Keras cannot write from this backend share one subprocess
    per exporting backend.

    Args:
        model: a built `keras.Model`.
        paths: dict format -> output path (see `SUFFIXES` for the endings).
        check_inputs: optional inputs to compare each file with Keras on.
        verbose: let the converters' output through.

    Returns:
        dict format -> `ExportResult`.
    """
    paths = {format: _check_path(path, format) for format, path in paths.items()}
    staged = {}
    how = {}
    try:
        for format, path in paths.items():
            staged[format] = _worker.Staging(path)
        remote = {}
        for format, stage in staged.items():
            backend, reason = route(format)
            if reason is None:
                _export_here(model, stage.partial, format, verbose)
                how[format] = "keras"
            else:
                remote.setdefault(backend, []).append((format, stage.partial))
                how[format] = f"keras ({backend} subprocess)"
        for backend, jobs in remote.items():
            _export_in_subprocess(model, jobs, backend, verbose)
        for stage in staged.values():
            stage.commit()
    finally:
        for stage in staged.values():
            stage.cleanup()
    results = {}
    for format, path in paths.items():
        results[format] = ExportResult(
            path,
            format,
            how[format],
            size_on_disk(path, format),
            op_counts(path, format),
        )
        if check_inputs is not None:
            results[format].max_abs_error = max_abs_error(
                model, path, format, check_inputs
            )
    return results


def export(model, path, format, check_inputs=None, verbose=False, **kwargs):
    """Exports a Keras model (with or without APALU) to one deployment format.

    Args:
        model: a built `keras.Model`.
        path: output file; its ending must match the format: `.onnx`,
            `.xml` (OpenVINO, with `.bin` beside it), `.tflite` (LiteRT),
            `.pt2` (torch ExportedProgram), a directory (SavedModel).
        format: "tf_saved_model", "litert", "onnx", "openvino" or "torch".
        check_inputs: optional inputs (an array, batch axis first, or a list
            of arrays, one per model input): the written file is run on them
            in its runtime (see `load`) and compared with `model.predict`.
        verbose: `False` (default) hides the converters' output (shown if
            the export fails); `True` lets it through.
        **kwargs: passed to `model.export` (e.g. `opset_version` for ONNX);
            not accepted for the subprocess routes.

    Returns:
        An `ExportResult`.

    Raises:
        ExportError: the export failed; the message ends with the
            converter's last output lines. An earlier file at `path` is
            left as it was.
    """
    path = _check_path(path, format)
    backend, reason = route(format)
    if not kwargs:
        return export_all(model, {format: path}, check_inputs, verbose)[format]
    if reason is not None:
        raise ValueError(
            f"format={format!r} is exported in a {backend}-backend subprocess "
            f"here ({reason}); extra arguments {sorted(kwargs)} are not supported."
        )
    stage = _worker.Staging(path)
    try:
        _export_here(model, stage.partial, format, verbose, **kwargs)
        stage.commit()
    finally:
        stage.cleanup()
    result = ExportResult(
        path, format, "keras", size_on_disk(path, format), op_counts(path, format)
    )
    if check_inputs is not None:
        result.max_abs_error = max_abs_error(model, path, format, check_inputs)
    return result


def max_abs_error(model, path, format, inputs):
    """Largest |exported file - Keras model| on `inputs` (see `export`)."""
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    inputs = [np.asarray(x, np.float32) for x in inputs]
    expected = np.asarray(
        model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    )
    got = load(path, format)(*inputs)
    return float(np.max(np.abs(got.reshape(expected.shape) - expected)))


__all__ = [
    "FORMATS",
    "ROUTES",
    "SUFFIXES",
    "ExportError",
    "ExportResult",
    "export",
    "export_all",
    "exporting",
    "is_exporting",
    "load",
    "max_abs_error",
    "op_counts",
    "route",
    "size_on_disk",
]
