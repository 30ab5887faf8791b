"""The deployment table: every export format x every backend, measured.

    python benchmarks/deployment_table.py [--backends tensorflow jax torch]
        [--runs 200] [--out benchmarks/results/deployment]

For each backend (its own process) and each format Keras 3.15 offers, the
test model of tests/export (Conv2D and Dense, APALU per channel, shared +
smooth, per element, smooth per element) is exported with
`keras_apalu.export.export` (Keras' own `model.export` where Keras can do
the pair from that backend, else the subprocess route), run in the format's
runtime on 16 random inputs and compared with Keras (max abs error). For
the routed pairs, the same model with ReLU is given to Keras' own
`model.export` to show the failure is Keras' (its error is recorded).

Then, under TensorFlow, the sign-language model (64x64x3, 4 blocks, random
weights) as LiteRT three ways: keras_apalu.tflite's fused custom op, its
builtin decomposition and Keras' own `model.export(format="litert")`: size,
operators, parity and per-invoke latency at 1 thread (thread CPU time,
interleaved rounds; median and interquartile range).

Writes table.md and table.json into --out and prints the tables.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
RUNTIMES = {"tf_saved_model": "tf.saved_model.load", "litert": "ai_edge_litert",
            "onnx": "onnxruntime", "openvino": "OpenVINO (f32)",
            "torch": "torch.export.load"}


def measure_backend():
    """Rows of this process's backend (run with KERAS_BACKEND set)."""
    import keras
    import numpy as np

    from keras_apalu import export
    from tests.export.conftest import build_model

    backend = keras.backend.backend()
    model, relu = build_model(), build_model("relu")
    x = np.random.default_rng(0).normal(0, 1.5, (16, 8, 8, 3)).astype("float32")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in export.FORMATS:
            path = pathlib.Path(tmp) / f"model{export.SUFFIXES[fmt]}"
            row = {"backend": backend, "format": fmt, "runtime": RUNTIMES[fmt]}
            start = time.perf_counter()
            try:
                result = export.export(model, path, fmt, check_inputs=x)
                row.update(route=result.route, error=result.max_abs_error,
                           bytes=result.size_bytes)
            except Exception as failure:  # recorded in the table
                row.update(route="FAILED", failure=str(failure).splitlines()[0])
            row["seconds"] = round(time.perf_counter() - start, 1)
            reason = export.route(fmt)[1]
            if reason is not None:
                row["keras_reason"] = reason
                try:
                    with export.quiet():
                        relu.export(str(pathlib.Path(tmp) / f"relu{export.SUFFIXES[fmt]}"),
                                    format=fmt, verbose=False)
                    row["relu_control"] = "Keras exports ReLU: route no longer needed"
                except Exception as failure:
                    message = str(failure.__cause__ or failure).strip().splitlines()
                    row["relu_control"] = (f"{type(failure.__cause__ or failure).__name__}: "
                                           f"{message[0][:90] if message else ''}")
            rows.append(row)
    return rows


def _interleaved_latency(files, x, runs, rounds=10):
    import numpy as np

    from keras_apalu import tflite

    runners = {}
    for name, path in files.items():
        it = tflite.interpreter(model_path=str(path), num_threads=1)
        index = it.get_input_details()[0]["index"]
        it.set_tensor(index, x)
        for _ in range(10):
            it.invoke()
        runners[name] = it
    samples = {name: [] for name in files}
    for _ in range(rounds):
        for name, it in runners.items():
            for _ in range(max(1, runs // rounds)):
                start = time.thread_time()
                it.invoke()
                samples[name].append(time.thread_time() - start)
    return {name: [float(np.percentile(s, q)) * 1e3 for q in (25, 50, 75)]
            for name, s in samples.items()}


def measure_litert(runs):
    """The custom-op TFLite path next to Keras' own LiteRT export."""
    from collections import Counter

    import numpy as np

    from applications.sign_language.model import build_model
    from keras_apalu import export
    from keras_apalu import tflite

    model = build_model(seed=0, augment=0.0)
    x = np.random.default_rng(1).uniform(0, 255, (8, 64, 64, 3)).astype("float32")
    expected = np.asarray(model.predict(x, verbose=0))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "keras_apalu.tflite custom op": pathlib.Path(tmp) / "custom.tflite",
            "keras_apalu.tflite builtin": pathlib.Path(tmp) / "builtin.tflite",
            'Keras model.export(format="litert")': pathlib.Path(tmp) / "keras.tflite",
        }
        paths = list(files.values())
        tflite.export(model, paths[0], mode="custom")
        tflite.export(model, paths[1], mode="builtin")
        export.export(model, paths[2], "litert")
        latency = _interleaved_latency(files, x[:1], runs)
        for name, path in files.items():
            got = export.load(path, "litert")(x)
            ops = Counter(tflite.op_names(path.read_bytes()))
            rows[name] = {"bytes": path.stat().st_size, "ops": sum(ops.values()),
                          "op_types": dict(ops),
                          "error": float(np.max(np.abs(got - expected))),
                          "latency_ms_q25_median_q75": latency[name]}
    return rows


def _markdown(rows, litert):
    formats = ["tf_saved_model", "litert", "onnx", "openvino", "torch"]
    backends = ["tensorflow", "jax", "torch"]
    cell = {(r["backend"], r["format"]): r for r in rows}
    lines = ["| format (runtime) | " + " | ".join(backends) + " |",
             "|---|" + "---|" * len(backends)]
    for fmt in formats:
        items = []
        for backend in backends:
            r = cell.get((backend, fmt))
            if r is None:
                items.append("not measured")
            elif r["route"] == "FAILED":
                items.append(f"**fails**: {r['failure'][:80]}")
            else:
                how = "Keras" if r["route"] == "keras" else r["route"].replace(
                    "keras (", "Keras in a ").replace(" subprocess)", " subprocess")
                items.append(f"{how}, {r['error']:.1e}")
        lines.append(f"| {fmt} ({RUNTIMES[fmt]}) | " + " | ".join(items) + " |")
    lines += ["", "Routed pairs, the ReLU control given to Keras' own `model.export`:", ""]
    for r in rows:
        if "relu_control" in r:
            lines.append(f"- {r['backend']} -> {r['format']}: {r['relu_control']}")
    if litert:
        lines += ["", "| sign-language model as LiteRT | bytes | ops | max abs error | "
                  "ms per invoke, 1 thread (median [q25, q75]) |", "|---|---|---|---|---|"]
        for name, r in litert.items():
            q25, median, q75 = r["latency_ms_q25_median_q75"]
            types = ", ".join(f"{k} {v}" for k, v in sorted(r["op_types"].items(),
                                                          key=lambda kv: -kv[1])[:6])
            lines.append(f"| {name} | {r['bytes']:,} | {r['ops']} ({types}) | "
                         f"{r['error']:.1e} | {median:.3f} [{q25:.3f}, {q75:.3f}] |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/deployment"))
    parser.add_argument("--child", choices=["cells", "litert"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(REPO))
        result = measure_backend() if args.child == "cells" else measure_litert(args.runs)
        print("RESULT " + json.dumps(result))
        return 0
    rows, litert = [], None
    jobs = [(b, "cells") for b in args.backends] + [("tensorflow", "litert")]
    for backend, child in jobs:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("TF_USE_LEGACY_KERAS", None)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        done = subprocess.run([sys.executable, __file__, "--child", child,
                               "--runs", str(args.runs)], env=env, cwd=REPO,
                              capture_output=True, text=True)
        found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if not found:
            print(f"{backend} {child}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
            continue
        value = json.loads(found[-1][len("RESULT "):])
        if child == "cells":
            rows += value
        else:
            litert = value
        print(f"{backend} {child}: done", file=sys.stderr, flush=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/deployment_table.py " + " ".join(argv or sys.argv[1:])
    table = _markdown(rows, litert)
    (out / "table.md").write_text(f"Command: `{command.strip()}`\n\n{table}\n")
    (out / "table.json").write_text(json.dumps({"cells": rows, "litert": litert}, indent=1))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
