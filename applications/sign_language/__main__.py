"""Command line: `python -m applications.sign_language <command> [options]`.

Commands:
    main      train with the default settings, then export to TFLite
              (the project's main job)
    train     train (or resume) one run
    evaluate  accuracy of a .keras/.tflite model on a run's split or a folder
    predict   top-k classes of image files
    export    write model.tflite (custom APALU op) and model_builtin.tflite
    compare   activations x seeds on the same signer split -> table and plot

`--backend` (before the command) picks the Keras backend when KERAS_BACKEND
is not set; keras is imported only after the arguments are parsed.
TensorFlow's C++ log lines and the converters' output are hidden;
`--verbose` before the command (or after `export`) shows them. (After `main`
and `train`, `--verbose LEVEL` is Keras' progress output.)
"""

import argparse
import dataclasses
import json
import os
import sys

# The backend must be chosen before keras is imported, so every module of
# the app that imports keras is imported inside the functions below.


def _bool_flag(parser, name, default, help_text):
    parser.add_argument(f"--{name}", dest=name.replace("-", "_"),
                        action=argparse.BooleanOptionalAction, default=default,
                        help=help_text)


def _add_train_options(parser, fields):
    defaults = _config_defaults()
    helps = {
        "run_dir": "run directory (resumed if unfinished)",
        "data_dir": "dataset folder (else $SIGN_LANGUAGE_DIGITS_DIR, the Keras "
                    "cache, or a download)",
        "image_size": "side of the square input images in pixels",
        "color_mode": "rgb or grayscale",
        "activation": "apalu, relu, gelu, elu, leaky_relu, prelu or swish",
        "width": "filters of the first conv block (doubled per block)",
        "blocks": "number of conv blocks",
        "convs_per_block": "3x3 convolutions per block",
        "dropout": "dropout rate before the classifier",
        "augment": "augmentation strength (0 = off)",
        "epochs": "maximum epochs",
        "patience": "early-stopping patience on val_loss (0 = off)",
        "batch_size": "global batch size",
        "learning_rate": "peak AdamW learning rate (cosine decay)",
        "weight_decay": "AdamW weight decay",
        "split": "signer (default) or random",
        "split_seed": "seed of the train/val/test split",
        "val_fraction": "share of images for validation",
        "test_fraction": "share of images for the test",
        "seed": "seed of weights, augmentation and shuffling",
        "max_per_class": "use only the first N images of each class (quick trials)",
        "cache_dir": "folder of the decoded-image cache",
        "download_url": "archive to download if no dataset is found",
    }
    for name in fields:
        default = defaults[name]
        flag = "--" + name.replace("_", "-")
        if name == "distribute":
            _bool_flag(parser, "distribute", False,
                       "data-parallel training on all local devices (JAX, TensorFlow)")
        elif name == "plots":
            _bool_flag(parser, "plots", True, "write the PNG figures")
        elif name == "verify_data":
            _bool_flag(parser, "verify-data", True,
                       "check the images against the SHA-256 manifest; "
                       "--no-verify-data trains on unverified data")
        elif name == "verbose":
            parser.add_argument("--verbose", default="auto",
                                help="Keras progress output: auto, 0, 1 (bar) or 2")
        else:
            kind = {"image_size": int, "width": int, "blocks": int, "convs_per_block": int,
                    "epochs": int, "patience": int, "batch_size": int, "split_seed": int,
                    "seed": int, "max_per_class": int, "dropout": float, "augment": float,
                    "learning_rate": float, "weight_decay": float, "val_fraction": float,
                    "test_fraction": float}.get(name, str)
            choices = {"color_mode": ["rgb", "grayscale"], "split": ["signer", "random"],
                       "activation": list(_activations())}.get(name)
            parser.add_argument(flag, type=kind, default=default, choices=choices,
                                help=f"{helps.get(name, name)} (default: {default})")


_CONFIG_FIELDS = (
    "run_dir", "data_dir", "image_size", "color_mode", "activation", "width", "blocks",
    "convs_per_block", "dropout", "augment", "epochs", "patience", "batch_size",
    "learning_rate", "weight_decay", "split", "split_seed", "val_fraction",
    "test_fraction", "seed", "distribute", "plots", "verbose", "max_per_class",
    "cache_dir", "download_url", "verify_data",
)


def _config_defaults():
    from applications.sign_language.train import TrainConfig

    return {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _activations():
    from applications.sign_language.model import ACTIVATIONS

    return ACTIVATIONS


def _config_from(args, fields):
    from applications.sign_language.train import TrainConfig

    values = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    verbose = values.get("verbose")
    if isinstance(verbose, str) and verbose.isdigit():
        values["verbose"] = int(verbose)
    return TrainConfig(**values)


def _print_json(value):
    print(json.dumps(value, indent=1))


def cmd_train(args):
    from applications.sign_language.train import train

    metrics = train(_config_from(args, _CONFIG_FIELDS))
    print(_metrics_line(metrics, args.run_dir))
    return metrics


def _metrics_line(metrics, run_dir):
    return (
        f"test accuracy on unseen signers: {metrics['test_accuracy']:.2%} "
        f"({metrics['images']['test']} images, {metrics['signers']['test']} signers; "
        f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}, "
        f"{metrics['seconds_per_epoch']:.1f} s/epoch) -> {run_dir}"
    )


def cmd_main(args):
    """Train with the given (default) settings, then export to TFLite."""
    metrics = cmd_train(args)
    try:
        from applications.sign_language.export import export_run

        written = export_run(args.run_dir, verbose=args.show_logs)
    except ImportError as error:
        print(f"export skipped: keras_apalu.tflite is not available ({error})",
              file=sys.stderr)
        return metrics
    _print_export_summary(args.run_dir, written)
    return metrics


def _print_export_summary(run_dir, written):
    from applications.sign_language.export import describe
    from applications.sign_language.export import summary_lines

    for line in summary_lines(describe(run_dir, written)):
        print(line)


def cmd_evaluate(args):
    from applications.sign_language.inference import evaluate

    result = evaluate(args.model, run_dir=args.run_dir, part=args.part,
                      folder=args.folder, data_dir=args.data_dir)
    if args.json:
        _print_json(result)
    else:
        print(f"{result['model']} on {result['data']}: accuracy "
              f"{result['accuracy']:.2%} ({result['images']} images)")
        for name, value in result["per_class_accuracy"].items():
            print(f"  class {name}: " + ("n/a" if value is None else f"{value:.2%}"))
    return result


def cmd_predict(args):
    from applications.sign_language.inference import predict_files

    results = predict_files(args.model, args.images, top_k=args.top_k)
    for result in results:
        if "error" in result:
            print(f"skipped {result['file']}: {result['error']}", file=sys.stderr)
    if args.json:
        _print_json(results)
    else:
        for result in results:
            if "error" in result:
                continue
            tops = ", ".join(f"{t['class']} ({t['probability']:.1%})" for t in result["top"])
            print(f"{result['file']}: {tops}")
    return results


def cmd_export(args):
    from applications.sign_language.export import export_run

    written = export_run(args.run_dir, modes=args.modes, quantize=args.quantize,
                         verbose=args.show_logs)
    _print_export_summary(args.run_dir, written)
    return written


def cmd_compare(args):
    from applications.sign_language.compare import compare

    config = _config_from(args, [f for f in _CONFIG_FIELDS if f != "run_dir"])
    command = "python -m applications.sign_language " + " ".join(args.argv)
    summary = compare(config, args.activations, args.seeds, args.out_dir, command=command)
    print((__import__("pathlib").Path(args.out_dir) / "results.md").read_text())
    return summary


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m applications.sign_language",
        description="Sign-language digit recognition with the APALU activation.",
    )
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"],
                        help="Keras backend if KERAS_BACKEND is not set")
    parser.add_argument("--verbose", dest="show_logs", action="store_true",
                        help="show TensorFlow's C++ logs and the converters' "
                             "output (hidden by default)")
    commands = parser.add_subparsers(dest="command", required=True)

    for name, function, help_text in (
        ("main", cmd_main, "train with default settings, then export to TFLite"),
        ("train", cmd_train, "train (or resume) one run"),
    ):
        sub = commands.add_parser(name, help=help_text)
        _add_train_options(sub, _CONFIG_FIELDS)
        sub.set_defaults(function=function)

    sub = commands.add_parser("evaluate", help="accuracy on a run's split or a folder")
    sub.add_argument("model", help="model file (.keras or .tflite)")
    sub.add_argument("--run-dir", help="run whose split to use (default: the model's folder)")
    sub.add_argument("--part", default="test", choices=["train", "val", "test"])
    sub.add_argument("--folder", help="labelled folder <digit>/<image> instead of a split")
    sub.add_argument("--data-dir", help="dataset location for the split")
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.set_defaults(function=cmd_evaluate)

    sub = commands.add_parser("predict", help="top-k classes of image files")
    sub.add_argument("images", nargs="+", metavar="IMAGE")
    sub.add_argument("--model", default="runs/sign-language/model.keras",
                     help="model file (.keras or .tflite; default: %(default)s)")
    sub.add_argument("--top-k", type=int, default=3)
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.set_defaults(function=cmd_predict)

    sub = commands.add_parser("export", help="write .tflite files into a run directory")
    sub.add_argument("--run-dir", default="runs/sign-language")
    sub.add_argument("--verbose", dest="show_logs", action="store_true",
                     default=argparse.SUPPRESS,
                     help="show TensorFlow's C++ logs and the converters' output")
    sub.add_argument("--modes", nargs="+", default=["custom", "builtin"],
                     choices=["custom", "builtin"])
    quantize = sub.add_mutually_exclusive_group()
    quantize.add_argument("--quantize", choices=["float16", "dynamic", "int8"])
    quantize.add_argument("--int8", dest="quantize", action="store_const", const="int8",
                          help="full-integer model calibrated on training images "
                               "(same as --quantize int8)")
    sub.set_defaults(function=cmd_export)

    sub = commands.add_parser("compare", help="activations x seeds on one signer split")
    _add_train_options(sub, [f for f in _CONFIG_FIELDS if f != "run_dir"])
    sub.add_argument("--activations", nargs="+", default=["apalu", "relu", "gelu"],
                     choices=list(_activations()))
    sub.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    sub.add_argument("--out-dir", default="runs/compare")
    sub.set_defaults(function=cmd_compare)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    backend_parser = argparse.ArgumentParser(add_help=False)
    backend_parser.add_argument("--backend")
    known, _ = backend_parser.parse_known_args(argv)
    if known.backend and "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", known.backend)
    show_logs = _wants_logs(argv)
    from applications.sign_language.logs import native_stderr_to_file

    # From here on (building the parser imports keras, and TensorFlow logs
    # on import), native log lines go to a file unless asked for.
    with native_stderr_to_file(enabled=not show_logs,
                               expected=(FileNotFoundError, ValueError)):
        args = build_parser().parse_args(argv)
        args.argv = argv
        args.show_logs = show_logs
        return args.function(args)


_COMMANDS = ("main", "train", "evaluate", "predict", "export", "compare")


def _wants_logs(argv):
    """`--verbose` before the command, or anywhere after `export` (after
    `main`/`train`/`compare` it is Keras' progress level instead)."""
    command = next((i for i, token in enumerate(argv) if token in _COMMANDS),
                   len(argv))
    if "--verbose" in argv[:command]:
        return True
    return command < len(argv) and argv[command] == "export" and \
        "--verbose" in argv[command:]


def console_main():
    """Entry point of `python -m applications.sign_language`: bad input ends
    with a one-line error."""
    try:
        main()
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        # DatasetError is a ValueError, DistributionError a RuntimeError.
        # (Imported lazily: keras must not load before --backend is read.)
        from applications.sign_language.data import DatasetError
        from applications.sign_language.distribute import DistributionError

        if not isinstance(error, (DatasetError, DistributionError, FileNotFoundError,
                                  ValueError)):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(console_main())
