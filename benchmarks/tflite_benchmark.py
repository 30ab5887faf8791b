"""Per-invoke latency of APALU in TFLite: fused custom op vs builtin ops vs ReLU.

    python benchmarks/tflite_benchmark.py [--model path.keras] [--runs 300]
        [--threads 1 2]

Cases (each converted here, under the TensorFlow backend):
  - tensor: one APALU layer (one a, b per channel) on a 1x64x64x64 tensor;
  - model: a small CNN with APALU activations (a stand-in for the
    sign-language model), or the model given with --model (a .keras file);
    its ReLU twin is the same model with every APALU layer replaced by ReLU.
For each case: the custom op ("custom"), the custom op with the model's
layer order kept ("kept": `reorder_max_pool=False`, APALU before each
max-pooling instead of after it), the builtin decomposition ("builtin") and
ReLU ("relu"), with 1 and 2 interpreter threads. Variants are
timed interleaved, round after round, so that a busy shared CPU affects them
alike; the figure is the median of all single invokes. Targets: custom at
least 2x faster than builtin on the tensor; the APALU model (custom) within
1.2x of its ReLU twin.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_apalu import tflite  # noqa: E402
from keras_apalu.layers import APALU  # noqa: E402


def tensor_models(shape=(64, 64, 64)):
    inputs = keras.Input(shape)
    apalu = keras.Model(inputs, APALU(shared_axes=[1, 2])(inputs))
    relu = keras.Model(inputs, keras.layers.ReLU()(inputs))
    return apalu, relu


def small_cnn(activation, input_shape=(64, 64, 3), classes=10):
    """Conv 32-64-128 with an activation after each, then a classifier.

    `activation(rank)` makes one activation layer for inputs of that rank.
    """
    keras.utils.set_random_seed(0)
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (32, 64, 128):
        x = keras.layers.Conv2D(filters, 3, padding="same")(x)
        x = activation(4)(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64)(x)
    x = activation(2)(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


def relu_twin(model):
    """`model` with each APALU layer replaced by ReLU (same other weights)."""
    def clone(layer):
        if isinstance(layer, APALU):
            return keras.layers.ReLU(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    for source, target in zip(model.layers, twin.layers):
        if not isinstance(source, APALU) and source.weights:
            target.set_weights(source.get_weights())
    return twin


def input_for(interpreter, x):
    """`x` as the interpreter's input: quantised if the model takes int8."""
    detail = interpreter.get_input_details()[0]
    if detail["dtype"] == np.int8:
        scale, zero = detail["quantization"]
        x = np.clip(np.round(x / scale) + zero, -128, 127).astype(np.int8)
    return x


def random_input(input_shape, seed=0):
    """One float32 sample of `input_shape`, batch axis first."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(1, *input_shape)).astype(np.float32)


def time_variants(contents, x, threads, runs, rounds=10):
    """Median per-invoke seconds of each flatbuffer on input `x`, interleaved."""
    interpreters = {}
    for name, content in contents.items():
        it = tflite.interpreter(model_content=content, num_threads=threads)
        it.set_tensor(it.get_input_details()[0]["index"], input_for(it, x))
        for _ in range(10):  # warm-up
            it.invoke()
        interpreters[name] = it
    samples = {name: [] for name in contents}
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for name, it in interpreters.items():
            for _ in range(per_round):
                start = time.perf_counter()
                it.invoke()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a .keras model using APALU")
    parser.add_argument("--runs", type=int, default=300,
                        help="invokes per variant and thread count")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        sys.exit("Run with KERAS_BACKEND=tensorflow (conversion runs here).")

    cases = {}
    apalu, relu = tensor_models()
    cases["tensor 1x64x64x64"] = (apalu, relu)  # a, b per channel
    if args.model:
        model = keras.saving.load_model(args.model, compile=False)
        cases[f"model {os.path.basename(args.model)}"] = (model,
                                                          relu_twin(model))
    else:
        relu = small_cnn(lambda rank: keras.layers.ReLU())
        # a, b per channel (as PReLU is used in CNNs), and the layer's
        # default: one a, b per element.
        per_channel = small_cnn(
            lambda rank: APALU(shared_axes=[1, 2] if rank == 4 else None))
        per_element = small_cnn(lambda rank: APALU())
        cases["CNN APALU/channel"] = (per_channel, relu)
        cases["CNN APALU/element"] = (per_element, relu)

    print(f"cpu count {os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.2f}, runs {args.runs} per variant")
    header = (f"{'case':<22} {'thr':>3} {'custom ms':>10} {'kept ms':>8} "
              f"{'builtin ms':>11} {'relu ms':>8} {'builtin/custom':>15} "
              f"{'custom/relu':>12} {'kept/relu':>10}")
    print(header)
    print("-" * len(header))
    for case, (model, twin) in cases.items():
        contents = {
            "custom": tflite.convert(model, mode="custom"),
            "kept": tflite.convert(model, mode="custom",
                                   reorder_max_pool=False),
            "builtin": tflite.convert(model, mode="builtin"),
            "relu": tflite.convert(twin, mode="builtin"),
        }
        sizes = {name: len(content) for name, content in contents.items()}
        for threads in args.threads:
            t = time_variants(contents, random_input(model.input_shape[1:]), threads,
                              args.runs)
            print(f"{case:<22} {threads:>3} {t['custom'] * 1e3:>10.3f} "
                  f"{t['kept'] * 1e3:>8.3f} "
                  f"{t['builtin'] * 1e3:>11.3f} {t['relu'] * 1e3:>8.3f} "
                  f"{t['builtin'] / t['custom']:>15.2f} "
                  f"{t['custom'] / t['relu']:>12.2f} "
                  f"{t['kept'] / t['relu']:>10.2f}", flush=True)
        print(f"{'':<22} sizes (bytes): " + ", ".join(
            f"{name} {size}" for name, size in sizes.items()))


if __name__ == "__main__":
    main()
