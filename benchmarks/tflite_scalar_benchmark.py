"""APALU kernel speed on the code path ARM builds take, vs TFLite's builtins.

    nice -n 10 python benchmarks/tflite_scalar_benchmark.py [--runs 400]
        [--threads 1 2]

Phones run ARM, where the kernel has none of its x86 paths (target clones
for AVX2/AVX-512, the AVX-512 int8 table lookups). This builds the kernel
three ways on this x86 machine and times each inside the LiteRT interpreter:

  - "x86": as the Python package builds it (clones, AVX-512 lookups);
  - "portable": -DAPALU_NO_SIMD -DAPALU_NO_CLONES, baseline x86-64: the
    source an ARM build compiles, with 128-bit SSE2 auto-vectorisation of
    the float loop standing in for aarch64's NEON;
  - "scalar": the same with -fno-tree-vectorize: no vectors at all, as on
    32-bit armhf, where GCC does not vectorise float code with NEON (NEON
    there is not IEEE-exact) unless -funsafe-math-optimizations is given.

Against them: the builtin decomposition (mode="builtin"), float32 and int8,
run by the interpreter's default XNNPACK delegate ("builtin"), which keeps
its SIMD (AVX-512 here): a conservative comparison for the kernel; and the
same without the delegate ("builtin no-xnnpack": TFLite's own builtin
kernels, as compiled into the LiteRT wheel). Cases: one APALU layer, a and b per
channel, on a 1x64x64x64 tensor; float32 and full-integer int8 (calibrated on
normal samples, scale 2). Variants are timed interleaved, round after round;
the figure is the median of all single invokes, with the spread of the
per-round medians (min-max). Each invoke is timed by the CPU time of the
invoking thread (all the work at 1 thread, and unaffected by other
processes taking the core: the figure to read on a shared machine) and by
the wall clock; at more than 1 thread only the wall clock means anything.
Needs KERAS_BACKEND=tensorflow (set here).
"""

import argparse
import ctypes
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_apalu import tflite  # noqa: E402
from keras_apalu.layers import APALU  # noqa: E402
from keras_apalu.tflite import _kernel  # noqa: E402

BUILDS = {
    "x86": "",
    "portable": "-DAPALU_NO_SIMD -DAPALU_NO_CLONES",
    "scalar": "-DAPALU_NO_SIMD -DAPALU_NO_CLONES -fno-tree-vectorize",
}


def build_registerers(folder):
    """A registerer per kernel build (each library loaded privately)."""
    registerers = {}
    base = os.environ.get("CC", "cc")
    for name, flags in BUILDS.items():
        os.environ["CC"] = f"{base} {flags}".strip()
        try:
            path = _kernel.build_library(directory=pathlib.Path(folder) / name)
        finally:
            os.environ["CC"] = base
        handle = ctypes.CDLL(str(path))
        register = getattr(handle, _kernel.REGISTERER_NAME)
        register.argtypes = [ctypes.c_void_p]
        register.restype = None
        registerers[name] = (
            lambda address, r=register, h=handle: r(ctypes.c_void_p(address)))
    return registerers


def models(shape=(64, 64, 64)):
    rng = np.random.default_rng(0)
    inputs = keras.Input(shape)
    model = keras.Model(inputs, APALU(shared_axes=[1, 2])(inputs))
    calibration = rng.normal(scale=2.0, size=(16, *shape)).astype(np.float32)
    return {
        "float custom": tflite.convert(model, mode="custom"),
        "float builtin": tflite.convert(model, mode="builtin"),
        "int8 custom": tflite.convert(model, mode="custom", quantize="int8",
                                      representative_data=calibration),
        "int8 builtin": tflite.convert(model, mode="builtin", quantize="int8",
                                       representative_data=calibration),
    }, rng.normal(scale=2.0, size=(1, *shape)).astype(np.float32)


def _interpreter(content, registerer, threads):
    from ai_edge_litert.interpreter import InterpreterWithCustomOps
    from ai_edge_litert.interpreter import OpResolverType

    resolver = OpResolverType.AUTO
    if registerer == "no-xnnpack":
        registerer = None
        resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = InterpreterWithCustomOps(
        model_content=content,
        custom_op_registerers=[registerer] if registerer else [],
        num_threads=threads, experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    return it


def _input(it, x):
    detail = it.get_input_details()[0]
    if detail["dtype"] == np.int8:
        scale, zero = detail["quantization"]
        return np.clip(np.round(x / scale) + zero, -128, 127).astype(np.int8)
    return x


def time_variants(variants, x, threads, runs, rounds=10):
    """{name: {"cpu"|"wall": (median s, min, max round median)}}."""
    interpreters = {}
    for name, (content, registerer) in variants.items():
        it = _interpreter(content, registerer, threads)
        it.set_tensor(it.get_input_details()[0]["index"], _input(it, x))
        for _ in range(10):
            it.invoke()
        interpreters[name] = it
    clocks = {"cpu": time.thread_time, "wall": time.perf_counter}
    samples = {(n, c): [] for n in variants for c in clocks}
    round_medians = {(n, c): [] for n in variants for c in clocks}
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for name, it in interpreters.items():
            chunk = {c: [] for c in clocks}
            for _ in range(per_round):
                cpu, wall = time.thread_time(), time.perf_counter()
                it.invoke()
                chunk["wall"].append(time.perf_counter() - wall)
                chunk["cpu"].append(time.thread_time() - cpu)
            for c in clocks:
                samples[name, c].extend(chunk[c])
                round_medians[name, c].append(statistics.median(chunk[c]))
    return {name: {c: (statistics.median(samples[name, c]),
                       min(round_medians[name, c]),
                       max(round_medians[name, c])) for c in clocks}
            for name in variants}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=400,
                        help="invokes per variant and thread count")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    args = parser.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        sys.exit("Run with KERAS_BACKEND=tensorflow (conversion runs here).")
    contents, x = models()
    with tempfile.TemporaryDirectory() as folder:
        registerers = build_registerers(folder)
        for dtype in ("float", "int8"):
            variants = {f"{dtype} {build}": (contents[f"{dtype} custom"], reg)
                        for build, reg in registerers.items()}
            variants[f"{dtype} builtin"] = (contents[f"{dtype} builtin"], None)
            variants[f"{dtype} builtin no-xnnpack"] = (
                contents[f"{dtype} builtin"], "no-xnnpack")
            print(f"\n{dtype}: one APALU (a, b per channel) on 1x64x64x64, "
                  f"{args.runs} invokes per variant; ms per invoke, median "
                  "(min-max of round medians); builtin (XNNPACK) / variant")
            for threads in args.threads:
                t = time_variants(variants, x, threads, args.runs)
                clocks = ("cpu", "wall") if threads == 1 else ("wall",)
                print(f"| threads {threads} | " + " | ".join(
                    f"{c} ms | vs builtin" for c in clocks) + " |")
                for name, by_clock in t.items():
                    cells = []
                    for c in clocks:
                        m, lo, hi = by_clock[c]
                        ratio = t[f"{dtype} builtin"][c][0] / m
                        cells.append(f"{m * 1e3:.3f} ({lo * 1e3:.3f}-"
                                     f"{hi * 1e3:.3f}) | {ratio:.2f}")
                    print(f"| {name} | " + " | ".join(cells) + " |",
                          flush=True)


if __name__ == "__main__":
    main()
