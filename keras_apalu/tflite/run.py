"""`python -m keras_apalu.tflite run`: a .tflite model on a folder of images,
on one runtime, checked against the Python LiteRT interpreter.

    python -m keras_apalu.tflite run MODEL.tflite \\
        --runtime {litert,litert-c,litert-c-aarch64,tflm-host,tflm-cortex-m4} \\
        [--tflm-dir DIR] \\
        --images DIR [--limit N] [--pixel-scale S]

Images: DIR holds one sub-folder per label (named by the class index, as the
Sign Language Digits dataset is laid out), or image files directly (no
labels). Each image is read with Pillow, converted to the model's channels,
resized (bilinear) to its input size, and its [0, 255] pixels are multiplied
by `--pixel-scale` (1 for the sign-language application's models, which
rescale inside; 1/255 for models trained on [0, 1]). An int8 model's input is
quantised with the model's input scale and zero point. An image that cannot
be read is named and skipped.

Every output is compared with the Python LiteRT interpreter running the
project's APALU kernel (apalu_op.c) and its default builtin kernels:
    tflm-host, tflm-cortex-m4: TFLite Micro (apalu_micro.cc; TFLM built with
        LiteRT's single-rounding requantisation, see micro.py): int8 outputs
        identical, float32 within 1e-6;
    litert-c: the LiteRT 2 C API (apalu_litert.c; float32 models): within
        1e-6; litert-c-aarch64: the same on aarch64 under qemu-aarch64 (the
        aarch64 wheel's libLiteRt.so, downloaded once; see litert_c.py);
    litert: the Python interpreter itself, checked against its reference
        builtin kernels: int8 within one step (they requantise with two
        roundings), float32 within 1e-5 (other summation orders).
It prints `agreement: N/N`, `accuracy: X%` when labels are known, and the
runtime's sizes. TFLM builds are cached per runtime and
kernel version (see keras_apalu/tflite/micro.py).
"""

import pathlib
import sys

RUNTIMES = ("litert", "litert-c", "litert-c-aarch64", "tflm-host", "tflm-cortex-m4")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
FLOAT_TOLERANCE = 1e-6


class RunInputError(ValueError):
    """Bad input to the run command (a missing file, an empty folder)."""


def add_run_parser(subparsers):
    """Adds the `run` command to an argparse sub-parser collection."""
    run = subparsers.add_parser(
        "run",
        help="run a .tflite model on images with one runtime and "
        "check it against the Python LiteRT interpreter",
    )
    run.add_argument("model", help="the .tflite file")
    run.add_argument("--runtime", required=True, choices=RUNTIMES)
    run.add_argument(
        "--images", required=True, help="folder of images, one sub-folder per label"
    )
    run.add_argument(
        "--tflm-dir",
        default=None,
        help="a TFLite Micro checkout (default: the pinned "
        "bundle in ../shared/vendor/tflite-micro)",
    )
    run.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use at most N images (spread over the labels)",
    )
    run.add_argument(
        "--pixel-scale",
        type=float,
        default=1.0,
        help="multiply [0, 255] pixels by this (default 1)",
    )
    return run


def _image_files(folder, limit):
    """[(path, label or None)], every `limit`-th file spread over labels."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise RunInputError(
            f"--images {folder}: no such folder; give a "
            "folder of images, one sub-folder per label."
        )
    entries = []
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            label = int(path.name) if path.name.isdigit() else None
            entries += [
                (p, label)
                for p in sorted(path.iterdir())
                if p.suffix.lower() in IMAGE_SUFFIXES
            ]
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            entries.append((path, None))
    if not entries:
        raise RunInputError(
            f"--images {folder}: no image files found (.jpg, "
            ".png, ...), directly or in label sub-folders."
        )
    if limit is not None and 0 < limit < len(entries):
        picks = [
            round(i * (len(entries) - 1) / max(limit - 1, 1)) for i in range(limit)
        ]
        entries = [entries[i] for i in sorted(set(picks))]
    return entries


def load_images(folder, size, channels, limit=None, pixel_scale=1.0, warn=None):
    """Reads the images of `folder` for a model input of size x size x
    channels. Returns (float32 images, labels (None where unknown), paths);
    unreadable images are passed to `warn` (or skipped silently)."""
    import numpy as np
    from PIL import Image

    images, labels, paths = [], [], []
    for path, label in _image_files(folder, limit):
        try:
            with Image.open(path) as image:
                image.draft("RGB", (size, size))
                image = image.convert("L" if channels == 1 else "RGB")
                image = image.resize((size, size), Image.Resampling.BILINEAR)
                array = np.asarray(image, np.float32)
        except (OSError, ValueError, SyntaxError) as error:
            if warn is not None:
                warn(f"skipped {path}: not a readable image ({error})")
            continue
        images.append(array.reshape(size, size, channels) * pixel_scale)
        labels.append(label)
        paths.append(path)
    if not images:
        raise RunInputError(f"--images {folder}: none of the images could be read.")
    return np.stack(images), labels, paths


def _reference_interpreter(path, reference=False):
    """The classic LiteRT interpreter with the project's APALU kernel and,
    with `reference`, LiteRT's reference builtin kernels."""
    from ai_edge_litert.interpreter import InterpreterWithCustomOps
    from ai_edge_litert.interpreter import OpResolverType

    from keras_apalu.tflite import _kernel

    kind = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    interpreter = InterpreterWithCustomOps(
        model_path=str(path),
        custom_op_registerers=[_kernel.registerer()],
        experimental_op_resolver_type=kind,
    )
    interpreter.allocate_tensors()
    return interpreter


def quantize_inputs(path, x):
    """`x` (float images) as the model's input: quantised for int8 models."""
    import numpy as np

    detail = _reference_interpreter(path).get_input_details()[0]
    if detail["dtype"] == np.int8:
        scale, zero = detail["quantization"]
        return np.clip(np.round(x / scale) + zero, -128, 127).astype(np.int8)
    return x.astype(detail["dtype"])


def classic_outputs(path, samples, reference=False):
    """Outputs (one flattened row per sample) of the Python LiteRT
    interpreter; see `_reference_interpreter`."""
    import numpy as np

    interpreter = _reference_interpreter(path, reference)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    rows = []
    for sample in samples:
        interpreter.set_tensor(inp["index"], sample[None])
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"]).reshape(-1).copy())
    return np.stack(rows)


def _agree(outputs, expected, int8_steps=0, tolerance=FLOAT_TOLERANCE):
    import numpy as np

    if expected.dtype == np.int8:
        difference = np.abs(outputs.astype(np.int32) - expected)
        return (difference <= int8_steps).all(axis=1)
    return (np.abs(outputs.astype(np.float64) - expected) <= tolerance).all(axis=1)


def run_command(args):
    """Runs the `run` command; returns the exit status (2: bad input or a
    missing tool, 1: outputs disagree)."""
    import numpy as np

    from keras_apalu.tflite import _kernel
    from keras_apalu.tflite import micro

    say = print
    model = pathlib.Path(args.model)
    try:
        if not model.is_file():
            raise RunInputError(f"{model}: no such .tflite file.")
        try:
            interpreter = _reference_interpreter(model)
        except _kernel.KernelUnavailableError as error:
            raise RunInputError(str(error).strip().splitlines()[0]) from None
        except (ValueError, RuntimeError) as error:
            first = str(error).strip().splitlines()[:1] or [""]
            raise RunInputError(
                f"{model}: LiteRT cannot open it as a .tflite model ({first[0]})."
            ) from None
        detail = interpreter.get_input_details()[0]
        shape = [int(v) for v in detail["shape"]]
        if len(shape) != 4 or shape[1] != shape[2]:
            raise RunInputError(
                f"{model}: expected a square image input (1, size, size, "
                f"channels); it takes {tuple(shape)}."
            )
        x, labels, _ = load_images(
            args.images,
            shape[1],
            shape[3],
            args.limit,
            args.pixel_scale,
            warn=lambda line: print(line, file=sys.stderr),
        )
        samples = quantize_inputs(model, x)
        expected = classic_outputs(model, samples, reference=args.runtime == "litert")
        say(
            f"{len(samples)} images, {model.name} "
            f"({model.stat().st_size} bytes), runtime {args.runtime}"
        )
        if args.runtime == "litert":
            outputs = classic_outputs(model, samples, reference=False)
            sizes = f"model {model.stat().st_size} bytes"
        elif args.runtime in ("litert-c", "litert-c-aarch64"):
            from keras_apalu.tflite import litert_c

            if samples.dtype != np.float32:
                raise RunInputError(
                    f"{model}: --runtime {args.runtime} runs float32 models; "
                    "this one is int8 (use tflm-host or litert)."
                )
            arch = "aarch64" if args.runtime.endswith("aarch64") else None
            outputs = litert_c.run_model(
                model,
                samples,
                interpreter.get_output_details()[0]["shape"],
                log=say,
                arch=arch,
            )
            library = litert_c.aarch64_library() if arch else litert_c.litert_library()
            sizes = (
                f"model {model.stat().st_size} bytes, libLiteRt.so "
                f"{library.stat().st_size} bytes"
            )
        else:
            target = args.runtime[len("tflm-") :]
            outputs, result = micro.run_model(
                model,
                samples,
                expected.dtype,
                target=target,
                tflm_dir=args.tflm_dir,
                log=say,
            )
            text, data, bss = micro.sizes(
                target, micro.build_runner(target, args.tflm_dir)
            )
            sizes = (
                f"model {result.model_bytes} bytes, arena "
                f"{result.arena_used} bytes used, runner text {text} "
                f"data {data} bss {bss} bytes"
            )
            if result.ticks:
                per = result.ticks * 40 / result.samples
                sizes += f", ~{per:,.0f} instructions per inference"
    except (RunInputError, micro.ToolMissingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except micro.MicroBuildError as error:  # a build or run that broke
        print(f"error: {error}", file=sys.stderr)
        return 1
    # LiteRT's reference int8 kernels round some conv and dense outputs one
    # step away from its default (optimised, XNNPACK) ones.
    steps = 1 if args.runtime == "litert" else 0
    tolerance = 1e-5 if args.runtime == "litert" else FLOAT_TOLERANCE
    agree = _agree(outputs, expected, steps, tolerance)
    if expected.dtype == np.int8:
        note = " (int8: within 1 step)" if steps else " (identical)"
    else:
        note = f" (within {tolerance:g})"
    say(f"agreement: {int(agree.sum())}/{len(agree)}{note}")
    known = [i for i, label in enumerate(labels) if label is not None]
    if known:
        predicted = outputs.reshape(len(outputs), -1).argmax(axis=1)
        correct = sum(int(predicted[i] == labels[i]) for i in known)
        say(f"accuracy: {100.0 * correct / len(known):.1f}% ({correct}/{len(known)})")
    say(f"sizes: {sizes}")
    return 0 if agree.all() else 1
