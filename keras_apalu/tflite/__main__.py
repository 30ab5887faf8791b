"""Command line: build the kernel, or convert a .keras file.

    python -m keras_apalu.tflite build [--force]
    python -m keras_apalu.tflite convert model.keras model.tflite \
        [--mode custom|builtin] [--quantize none|float16|dynamic|int8]
        [--representative samples.npy]   # required with --quantize int8
        [--keep-max-pool-order]          # see convert(reorder_max_pool=...)
"""

import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m keras_apalu.tflite")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the APALU kernel library")
    build.add_argument("--force", action="store_true")
    conv = commands.add_parser("convert", help="convert a .keras file")
    conv.add_argument("keras_path")
    conv.add_argument("tflite_path")
    conv.add_argument("--mode", default="custom", choices=["custom", "builtin"])
    conv.add_argument("--quantize", default="none",
                      choices=["none", "float16", "dynamic", "int8"])
    conv.add_argument("--representative", default=None,
                      help="int8: .npy (or .npz, one array per input) of "
                           "calibration inputs, batch axis first")
    conv.add_argument("--keep-max-pool-order", action="store_true",
                      help="never apply APALU after the max-pooling that "
                           "follows it (by default it is, where exact)")
    from keras_apalu.tflite import run as run_module  # the `run` command
    run_module.add_run_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "run":
        raise SystemExit(run_module.run_command(args))
    from keras_apalu import tflite

    if args.command == "build":
        print(tflite.build_library(force=args.force))
    else:
        quantize = None if args.quantize == "none" else args.quantize
        from keras_apalu.tflite import int8

        path = tflite.export(
            args.keras_path, args.tflite_path, mode=args.mode,
            quantize=quantize,
            representative_data=int8.load_samples(args.representative),
            reorder_max_pool=not args.keep_max_pool_order)
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
