"""Seconds per inference under qemu-aarch64 through the LiteRT 2 C API
(the aarch64 wheel's libLiteRt.so, keras_apalu.tflite.litert_c): the APALU
custom op with the NEON float kernel, the same op built without it
(-DAPALU_NO_NEON: the portable C loop, which GCC -O3 auto-vectorises; the
runner's flags are keras_apalu.tflite.litert_c.C_FLAGS), and the same model exported with mode="builtin" (TFLite
builtins only: LiteRT's own ARM kernels / XNNPACK), side by side.

    python -m tests.tflite.litert_aarch64_measure [--repeats 40]

Models: one APALU layer on a 1x64x64x64 input (the layer's default
slopes, one a and one b per element), and the
float sign-language model (tests/tflite/sign_language.py, untrained
weights). Per inference: the runner's CPU time (user + system, from
getrusage) with `repeats` + 1 inputs minus that with 1 input, divided by
`repeats`, so model loading and compilation drop out; best of 3. qemu
emulates each float operation with a helper call, vector or not, so these
times do not show what NEON saves on a real core: for the one-op model the
script also counts executed aarch64 instructions per inference (qemu
`-singlestep -d exec,nochain`, one trace line per instruction; 2 inputs
minus 1 input), as tests/tflite/neon_measure.py does for the kernel alone.
"""

import argparse
import os
import pathlib
import subprocess
import tempfile

import numpy as np

from keras_apalu import tflite
from keras_apalu.tflite import litert_c
from keras_apalu.tflite import micro


def _cpu_seconds(command):
    before = os.times()
    subprocess.run(command, check=True, capture_output=True, timeout=1800)
    after = os.times()
    return (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def per_inference(runner, model, sample, output_shape, repeats, tmp):
    """CPU seconds per inference of `model` (already aligned) under qemu."""
    qemu = micro.tool("qemu-aarch64", "qemu-user")
    root = litert_c.emulator_root()
    dims = ",".join(str(d) for d in sample.shape)
    out_dims = ",".join(str(d) for d in output_shape)
    times = {}
    for count in (1, repeats + 1):
        inputs = tmp / f"inputs{count}.bin"
        inputs.write_bytes(np.repeat(sample, count, axis=0).tobytes())
        command = [qemu, "-L", str(root), str(runner), str(model), str(inputs)]
        command += [str(tmp / "outputs.bin"), dims, out_dims]
        times[count] = min(_cpu_seconds(command) for _ in range(3))
    return (times[repeats + 1] - times[1]) / repeats


def instructions(runner, model, sample, output_shape, tmp):
    """aarch64 instructions per inference of `model` under qemu."""
    qemu = micro.tool("qemu-aarch64", "qemu-user")
    dims = ",".join(str(d) for d in sample.shape)
    out_dims = ",".join(str(d) for d in output_shape)
    counts = {}
    for count in (1, 2):
        inputs = tmp / f"count{count}.bin"
        inputs.write_bytes(np.repeat(sample, count, axis=0).tobytes())
        command = [qemu, "-singlestep", "-d", "exec,nochain"]
        command += ["-L", str(litert_c.emulator_root()), str(runner), str(model)]
        command += [str(inputs), str(tmp / "outputs.bin"), dims, out_dims]
        # qemu logs to stderr: count its trace lines as they stream.
        with subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ) as process:
            counts[count] = sum(line.startswith(b"Trace") for line in process.stderr)
        if process.returncode != 0:
            raise RuntimeError(f"{command} exited {process.returncode}")
    return counts[2] - counts[1]


def models(tmp):
    """(name, custom .tflite, builtin .tflite, input sample, output shape)."""
    import keras

    from keras_apalu import layers
    from tests.tflite import sign_language

    rng = np.random.default_rng(0)
    inputs = keras.Input((64, 64, 64), batch_size=1)
    apalu = layers.APALU()
    one_op = keras.Model(inputs, apalu(inputs))
    apalu.set_weights(
        [rng.uniform(0.2, 1.5, w.shape).astype(np.float32) for w in apalu.weights]
    )
    sign = sign_language.model()
    for name, model, shape in (
        ("APALU 1x64x64x64", one_op, (1, 64, 64, 64)),
        ("sign language", sign, (1, 10)),
    ):
        sample = rng.normal(0, 1, (1, *model.input_shape[1:])).astype(np.float32)
        paths = []
        for mode in ("custom", "builtin"):
            path = tmp / f"{name.split()[0]}-{mode}.tflite"
            tflite.export(model, path, mode=mode)
            aligned = path.with_suffix(".aligned.tflite")
            aligned.write_bytes(litert_c.aligned_model(path.read_bytes()))
            paths.append(aligned)
        yield name, *paths, sample, shape


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    neon = litert_c.build_runner(print, arch="aarch64")
    scalar = litert_c.build_runner(print, arch="aarch64", defines=("APALU_NO_NEON",))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for name, custom, builtin, sample, shape in models(tmp):
            figures = {
                "APALU op, NEON": per_inference(
                    neon, custom, sample, shape, args.repeats, tmp
                ),
                "APALU op, portable C": per_inference(
                    scalar, custom, sample, shape, args.repeats, tmp
                ),
                "builtins": per_inference(
                    neon, builtin, sample, shape, args.repeats, tmp
                ),
            }
            print(
                f"{name}: "
                + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in figures.items())
                + " per inference (qemu-aarch64 CPU time)",
                flush=True,
            )
            if name.startswith("APALU"):
                counts = {
                    "APALU op, NEON": instructions(neon, custom, sample, shape, tmp),
                    "APALU op, portable C": instructions(
                        scalar, custom, sample, shape, tmp
                    ),
                    "builtins": instructions(neon, builtin, sample, shape, tmp),
                }
                elements = sample.size
                print(
                    f"{name}: "
                    + ", ".join(
                        f"{k} {v / 1e6:.2f} M ({v / elements:.1f}/element)"
                        for k, v in counts.items()
                    )
                    + " aarch64 instructions per inference",
                    flush=True,
                )


if __name__ == "__main__":
    main()
