"""Int8 APALU in TFLite: int8 lookup-table kernel vs float custom op vs int8
builtin decomposition; model sizes and accuracy of the sign-language model.

    KERAS_BACKEND=tensorflow python benchmarks/int8_benchmark.py \
        [--runs 300] [--threads 1 2] [--epochs 8] [--dataset DIR]

Cases:
  - tensor: one APALU layer (a, b per channel, then one a, b for the whole
    layer) on a 1x64x64x64 tensor:
    "float custom" (float32 C kernel), "int8 custom" (the kernel's int8 path:
    one table lookup per element) and "int8 builtin" (the select-free
    decomposition in int8 builtin ops); the int8 models are calibrated on
    normal samples (scale 2). Timed interleaved, round after round, median of
    all single invokes. Target: int8 custom >= 1.5x faster than float custom.
  - sizes: the benchmark CNN of tflite_benchmark.py (conv 32-64-128, dense
    64) as float32, int8 custom and int8 builtin flatbuffers.
  - sign language: the small APALU CNN of tests/tflite/sign_language.py
    trained for --epochs on the development signers, accuracy on the held-out
    signers of the Keras model and of the int8 models (custom and builtin),
    and the file sizes. Target: int8 <= 30% of the float size, <= 1 point of
    accuracy lost.
"""

import argparse
import os
import pathlib
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.tflite_benchmark import small_cnn  # noqa: E402
from benchmarks.tflite_benchmark import time_variants  # noqa: E402
from keras_apalu import tflite  # noqa: E402
from keras_apalu.layers import APALU  # noqa: E402


def int8_variants(model, calibration):
    return {
        "float custom": tflite.convert(model, mode="custom"),
        "int8 custom": tflite.convert(model, mode="custom", quantize="int8",
                                      representative_data=calibration),
        "int8 builtin": tflite.convert(model, mode="builtin", quantize="int8",
                                       representative_data=calibration),
    }


def tensor_case(runs, threads, shared_axes=(1, 2)):
    rng = np.random.default_rng(0)
    inputs = keras.Input((64, 64, 64))
    layer = APALU(shared_axes=list(shared_axes) if shared_axes != "all"
                  else "all")
    model = keras.Model(inputs, layer(inputs))
    shape = model.input_shape[1:]
    calibration = rng.normal(scale=2.0, size=(16, *shape)).astype(np.float32)
    contents = int8_variants(model, calibration)
    x = rng.normal(scale=2.0, size=(1, *shape)).astype(np.float32)
    what = "one a, b" if shared_axes == "all" else "a, b per channel"
    print(f"\ntensor 1x64x64x64, APALU {what}; {runs} invokes per variant")
    header = (f"{'thr':>3} {'float custom ms':>16} {'int8 custom ms':>15} "
              f"{'int8 builtin ms':>16} {'float/int8 custom':>18} "
              f"{'int8 builtin/custom':>20}")
    print(header)
    print("-" * len(header))
    for n in threads:
        t = time_variants(contents, x, n, runs)
        print(f"{n:>3} {t['float custom'] * 1e3:>16.3f} "
              f"{t['int8 custom'] * 1e3:>15.3f} "
              f"{t['int8 builtin'] * 1e3:>16.3f} "
              f"{t['float custom'] / t['int8 custom']:>18.2f} "
              f"{t['int8 builtin'] / t['int8 custom']:>20.2f}", flush=True)


def sizes_case():
    rng = np.random.default_rng(1)
    model = small_cnn(
        lambda rank: APALU(shared_axes=[1, 2] if rank == 4 else None))
    calibration = rng.uniform(size=(32, *model.input_shape[1:])).astype(
        np.float32)
    contents = int8_variants(model, calibration)
    base = len(contents["float custom"])
    print(f"\nbenchmark CNN ({model.count_params()} parameters), file sizes:")
    for name, content in contents.items():
        print(f"  {name:<13} {len(content):>9} bytes  "
              f"{len(content) / base:6.1%} of float")


def _accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, 1) == labels))


def sign_language_case(dataset, epochs):
    from tests.tflite import sign_language

    x_train, y_train, x_test, y_test = sign_language.load(dataset)
    model = sign_language.trained_model(dataset, epochs=epochs)
    contents = int8_variants(model, x_train[::6])
    logits = keras.ops.convert_to_numpy(model.predict(x_test, verbose=0))
    print(f"\nsign language ({model.count_params()} parameters, "
          f"{epochs} epochs, {len(x_train)} training images, {len(x_test)} "
          "of held-out signers)")
    print(f"  keras float32   accuracy {_accuracy(logits, y_test):.4f}")
    base = len(contents["float custom"])
    for name, content in contents.items():
        runner = tflite.interpreter(model_content=content)
        if name.startswith("int8"):
            out = sign_language.run_int8(runner, x_test)
        else:
            out = np.concatenate([_run_float(runner, s[None]) for s in x_test])
        agreement = float(np.mean(out.argmax(1) == logits.argmax(1)))
        rel = float(np.sqrt(np.mean((out - logits) ** 2)
                            / np.mean(logits ** 2)))
        print(f"  {name:<13}   accuracy {_accuracy(out, y_test):.4f}  "
              f"top-1 agreement {agreement:.4f}  relRMSE {rel:.4f}  "
              f"{len(content):>7} bytes ({len(content) / base:.1%})")


def _run_float(runner, x):
    runner.set_tensor(runner.get_input_details()[0]["index"], x)
    runner.invoke()
    return runner.get_tensor(runner.get_output_details()[0]["index"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--dataset", default=os.environ.get(
            "SIGN_LANGUAGE_DIGITS_DIR",
            str(ROOT.parent / "shared" / "datasets" / "sign-language-digits")))
    args = parser.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        sys.exit("Run with KERAS_BACKEND=tensorflow (conversion runs here).")
    print(f"cpu count {os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.2f}")
    tensor_case(args.runs, args.threads, shared_axes=(1, 2))
    tensor_case(args.runs, args.threads, shared_axes="all")
    sizes_case()
    if pathlib.Path(args.dataset, "Dataset").is_dir():
        sign_language_case(args.dataset, args.epochs)
    else:
        print(f"\n(no dataset at {args.dataset}: sign-language case skipped)")


if __name__ == "__main__":
    main()
