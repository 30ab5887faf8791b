"""Exports a .keras file under another backend, in this process.

    KERAS_BACKEND=tensorflow python -m keras_apalu.export._worker \
        model.keras --to onnx model.onnx [--to FORMAT PATH ...]

Used by `keras_apalu.export.export` for the format/backend pairs that Keras
cannot export from the caller's backend (see `keras_apalu.export.ROUTES`).
"""

import argparse
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("keras_path")
    parser.add_argument("--to", nargs=2, action="append", required=True,
                        metavar=("FORMAT", "PATH"))
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from keras_apalu import export

    model = keras.saving.load_model(args.keras_path, compile=False)
    for format, path in args.to:
        export._export_here(model, path, format, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
