"""Every export format x every backend: route, parity, size.

    python -m benchmarks deployment
    python -m benchmarks deployment --backends jax

For each backend (its own process) and each format Keras offers, the export
model of benchmarks/models.py (Conv2D and Dense, APALU per channel, shared
+ smooth, per element, smooth per element) is exported with
`keras_apalu.export.export` (Keras' own `model.export` where Keras can do
the pair from that backend, else the subprocess route), run in the format's
runtime on 16 random inputs and compared with Keras (max abs error). For
the routed pairs, the same model with ReLU is given to Keras' own
`model.export` to show the failure is Keras' (its error is recorded). The
LiteRT latency of the sign-language model is `python -m benchmarks tflite
--modes app`.
"""

import pathlib
import tempfile
import time

from benchmarks import _common

TITLE = "Deployment: every export format from every backend"
CANDIDATES = None
RUNTIMES = {
    "tf_saved_model": "tf.saved_model.load",
    "litert": "ai_edge_litert",
    "onnx": "onnxruntime",
    "openvino": "OpenVINO (f32)",
    "torch": "torch.export.load",
}


def add_arguments(parser):
    parser.add_argument(
        "--formats", nargs="+", choices=list(RUNTIMES), help="default: all"
    )


def settle(args):
    args.formats = args.formats or (["litert"] if args.quick else list(RUNTIMES))


def child(args):
    import keras
    import numpy as np

    from benchmarks.models import export_model
    from keras_apalu import export

    backend = keras.backend.backend()
    model, relu = export_model(), export_model("relu")
    x = np.random.default_rng(0).normal(0, 1.5, (16, 8, 8, 3)).astype("float32")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats:
            path = pathlib.Path(tmp) / f"model{export.SUFFIXES[fmt]}"
            row = {"backend": backend, "format": fmt, "runtime": RUNTIMES[fmt]}
            start = time.perf_counter()
            try:
                result = export.export(model, path, fmt, check_inputs=x)
                row.update(
                    route=result.route,
                    max_abs_error=result.max_abs_error,
                    bytes=result.size_bytes,
                )
            except Exception as failure:  # recorded in the table
                row.update(route="FAILED", error=str(failure).splitlines()[0])
            row["seconds"] = round(time.perf_counter() - start, 1)
            reason = export.route(fmt)[1]
            if reason is not None:
                row["keras_reason"] = reason
                try:
                    with export.quiet():
                        relu.export(
                            str(pathlib.Path(tmp) / f"relu{export.SUFFIXES[fmt]}"),
                            format=fmt,
                            verbose=False,
                        )
                    row["relu_control"] = "Keras exports ReLU: route no longer needed"
                except Exception as failure:
                    message = str(failure.__cause__ or failure).strip().splitlines()
                    row["relu_control"] = (
                        f"{type(failure.__cause__ or failure).__name__}: "
                        f"{message[0][:90] if message else ''}"
                    )
            rows.append(row)
    _common.emit_rows(rows)


def _markdown(rows):
    formats = [f for f in RUNTIMES if any(r["format"] == f for r in rows)]
    backends = ["tensorflow", "jax", "torch"]
    cell = {(r["backend"], r["format"]): r for r in rows}
    lines = [
        "| format (runtime) | " + " | ".join(backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    for fmt in formats:
        items = []
        for backend in backends:
            r = cell.get((backend, fmt))
            if r is None:
                items.append("not measured")
            elif r["route"] == "FAILED":
                items.append(f"**fails**: {r['error'][:80]}")
            else:
                how = (
                    "Keras"
                    if r["route"] == "keras"
                    else r["route"]
                    .replace("keras (", "Keras in a ")
                    .replace(" subprocess)", " subprocess")
                )
                items.append(f"{how}, {r['max_abs_error']:.1e}")
        lines.append(f"| {fmt} ({RUNTIMES[fmt]}) | " + " | ".join(items) + " |")
    lines += [
        "",
        "Routed pairs, the ReLU control given to Keras' own `model.export`:",
        "",
    ]
    for r in rows:
        if "relu_control" in r:
            lines.append(f"- {r['backend']} -> {r['format']}: {r['relu_control']}")
    return lines


def main(args):
    rows, failures = _common.run_children(args)
    sections = [
        ["## Format x backend: route, max abs error against Keras", ""]
        + _markdown(rows)
    ]
    sections.append([__doc__.split("\n\n", 2)[2].strip()])
    _common.write_report(args, TITLE, sections, rows, failures)
    return _common.exit_status(rows, failures)
