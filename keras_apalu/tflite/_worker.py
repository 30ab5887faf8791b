"""Converts a .keras file in this (TensorFlow-backend) process.

    KERAS_BACKEND=tensorflow python -m keras_apalu.tflite._worker \
        model.keras model.tflite --mode custom --quantize none

Used by `keras_apalu.tflite.convert` when the caller's backend is JAX or
PyTorch.
"""

import argparse
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("keras_path")
    parser.add_argument("tflite_path")
    parser.add_argument("--mode", default="custom")
    parser.add_argument("--quantize", default="none")
    parser.add_argument("--representative", default=None,
                        help=".npy or .npz of calibration inputs (int8)")
    parser.add_argument("--keep-max-pool-order", action="store_true")
    args = parser.parse_args(argv)
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        sys.exit("keras_apalu.tflite._worker must run with "
                 "KERAS_BACKEND=tensorflow.")
    from keras_apalu.tflite import _convert

    content = _convert.convert(
        args.keras_path,
        mode=args.mode,
        quantize=None if args.quantize == "none" else args.quantize,
        representative_data=_convert.int8.load_samples(args.representative),
        reorder_max_pool=not args.keep_max_pool_order,
    )
    with open(args.tflite_path, "wb") as file:
        file.write(content)


if __name__ == "__main__":
    main()
