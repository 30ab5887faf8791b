"""Command line (`keras-apalu-tflite`, or `python -m keras_apalu.tflite`).

    keras-apalu-tflite build [--force] [--directory DIR]
    keras-apalu-tflite convert model.keras model.tflite \
        [--mode custom|builtin] [--quantize none|float16|dynamic|int8]
        [--representative samples.npy]   # required with --quantize int8
        [--keep-max-pool-order]          # see convert(reorder_max_pool=...)
    keras-apalu-tflite inspect model.tflite   # its ops; opens it, kernel and all
    keras-apalu-tflite run model.tflite --runtime RUNTIME \
        --images DIR [--limit N] [--tflm-dir DIR]   # agreement with LiteRT
        (RUNTIME: litert, litert-c, litert-c-aarch64, tflm-host, tflm-cortex-m4)

Bad input (a missing, truncated or non-Keras model, a file that is not a
.tflite flatbuffer, int8 without calibration data, a folder that cannot be
written) gets one or two lines on stderr naming the file and the fix, exit
status 2, and no output file; `--verbose` shows the converter's output and
the traceback.
"""

import argparse
import sys
from collections import Counter

PROG = "keras-apalu-tflite"


def _parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Build the APALU TFLite kernel, convert a .keras "
        "model to .tflite, or inspect a .tflite file.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose",
        action="store_true",
        help="show the converter's output and tracebacks",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build", parents=[common], help="build the APALU kernel library"
    )
    build.add_argument("--force", action="store_true", help="rebuild")
    build.add_argument(
        "--directory", help="cache folder (default: ~/.cache/keras_apalu/tflite)"
    )
    conv = commands.add_parser(
        "convert", parents=[common], help="convert a .keras file"
    )
    conv.add_argument("keras_path")
    conv.add_argument("tflite_path")
    conv.add_argument("--mode", default="custom", choices=["custom", "builtin"])
    conv.add_argument(
        "--quantize", default="none", choices=["none", "float16", "dynamic", "int8"]
    )
    conv.add_argument(
        "--representative",
        default=None,
        help="int8: .npy (or .npz, one array per input) of "
        "calibration inputs, batch axis first",
    )
    conv.add_argument(
        "--keep-max-pool-order",
        action="store_true",
        help="never apply APALU after the max-pooling that "
        "follows it (by default it is, where exact)",
    )
    conv.add_argument(
        "--library", help="a prebuilt kernel library (int8 calibration of custom mode)"
    )
    inspect = commands.add_parser(
        "inspect", parents=[common], help="list a .tflite file's ops and open it"
    )
    inspect.add_argument("tflite_path")
    inspect.add_argument("--library", help="a prebuilt kernel library")
    from keras_apalu.tflite import run as run_module

    run_module.add_run_parser(commands).add_argument(
        "--verbose", action="store_true", help="show tracebacks"
    )
    return parser


def _convert(args):
    from keras_apalu import tflite
    from keras_apalu.tflite import int8

    if args.quantize == "int8" and args.representative is None:
        raise ValueError(
            "--quantize int8 needs --representative samples.npy: a few hundred "
            f"real inputs of {args.keras_path} (batch axis first) to calibrate "
            "the int8 ranges."
        )
    path = tflite.export(
        args.keras_path,
        args.tflite_path,
        mode=args.mode,
        quantize=None if args.quantize == "none" else args.quantize,
        representative_data=int8.load_samples(args.representative),
        reorder_max_pool=not args.keep_max_pool_order,
        verbose=args.verbose,
        library=args.library,
    )
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


def _inspect(args):
    from keras_apalu import tflite

    counts = Counter(tflite.op_names(args.tflite_path))
    runner = tflite.interpreter(args.tflite_path, library=args.library)
    print(
        f"{args.tflite_path}: "
        + ", ".join(f"{name} {count}" for name, count in counts.most_common())
    )
    for kind, details in (
        ("input", runner.get_input_details()),
        ("output", runner.get_output_details()),
    ):
        for detail in details:
            print(
                f"  {kind} {detail['name']}: {[int(d) for d in detail['shape']]} "
                f"{detail['dtype'].__name__}"
            )


def _message(error):
    """The first line of an error's message, with the file it names."""
    if isinstance(error, FileNotFoundError) and error.filename is not None:
        return f"no file {error.filename}; check the path."
    if isinstance(error, OSError) and error.filename is not None:
        return (
            f"cannot write {error.filename} ({error.strerror}); choose an "
            "output folder you can write to."
        )
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def main(argv=None):
    args = _parser().parse_args(argv)
    # Everything heavy is imported after parsing, so --help prints help only.
    from keras_apalu._command_line import native_stderr_silenced
    from keras_apalu.errors import APALUError

    try:
        with native_stderr_silenced(not args.verbose):
            if args.command == "build":
                from keras_apalu import tflite

                print(tflite.build_library(force=args.force, directory=args.directory))
            elif args.command == "convert":
                _convert(args)
            elif args.command == "run":
                from keras_apalu.tflite import run as run_module

                return run_module.run_command(args)
            else:
                _inspect(args)
    except (APALUError, OSError, ValueError) as error:
        if args.verbose:
            raise
        print(f"{PROG}: error: {_message(error)}", file=sys.stderr)
        print(f"{PROG}: (--verbose shows the details)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
