"""Command line: `python -m applications.sign_language <command> [options]`.

Commands:
    main      train with the default settings, then export to TFLite
              (the project's main job)
    train     train (or resume) one run
    evaluate  accuracy of a .keras/.tflite model on a run's split or a folder
    predict   top-k classes of image files
    export    write model.tflite (custom APALU op) and model_builtin.tflite
    compare   activations x seeds on the same signer split -> table and plot
    web       serve the model in a web page; --selftest tests it in Chromium

The flags every application shares (`applications.common.cli`): `--backend`,
`--run-dir` (default `runs/sign_language/`), `--data-dir`, `--seeds`
(compare), `--quick`, `--quiet` (no progress bars) and `--verbose`
(tracebacks and native log lines), before or after the command. Exit status
0 success, 1 failure (a failed download, skipped inputs), 2 bad usage or
input, 130 interrupted (rerun the same command to resume). Deprecated, for
one release: `--verbose LEVEL` after main/train/compare (`0` reads as
`--quiet`) and compare's `--out-dir` (now `--run-dir`).

Nothing here imports keras before the arguments are parsed and the backend
is chosen; `--help` answers without loading one.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import sys

from applications.common import cli
from applications.common.errors import RunFailedError
from applications.sign_language.config import ACTIVATIONS
from applications.sign_language.config import DEFAULT_RUN_DIR
from applications.sign_language.config import TrainConfig

PROG = "python -m applications.sign_language"
COMMANDS = ("main", "train", "evaluate", "predict", "export", "compare", "web")
#: Default folder of `compare` (`runs/sign_language/compare`).
COMPARE_DIR = cli.default_run_dir("sign_language", "compare")
#: Settings of `--quick` (unless given explicitly): 120 images at 16x16,
#: a two-block network, two epochs (seconds per run).
QUICK = dict(
    max_per_class=12,
    image_size=16,
    width=4,
    blocks=2,
    epochs=2,
    patience=0,
    batch_size=16,
    augment=0.0,
    val_fraction=0.2,
    test_fraction=0.2,
)

_HELPS = {
    "data_dir": "dataset folder (default: $SIGN_LANGUAGE_DIGITS_DIR, the Keras "
    "cache, or a download)",
    "image_size": "side of the square input images in pixels",
    "color_mode": "rgb or grayscale",
    "activation": "the network's activation",
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
    "worker_timeout": "seconds a worker waits for the others before the job "
    "stops with an error (several workers only)",
}
_TYPES = {
    "image_size": int,
    "width": int,
    "blocks": int,
    "convs_per_block": int,
    "epochs": int,
    "patience": int,
    "batch_size": int,
    "split_seed": int,
    "seed": int,
    "max_per_class": int,
    "worker_timeout": int,
    "dropout": float,
    "augment": float,
    "learning_rate": float,
    "weight_decay": float,
    "val_fraction": float,
    "test_fraction": float,
}
_CHOICES = {
    "color_mode": ["rgb", "grayscale"],
    "split": ["signer", "random"],
    "activation": list(ACTIVATIONS),
}
# TrainConfig fields that are not plain options (or are shared flags).
_SPECIAL = ("run_dir", "data_dir", "verbose", "distribute", "plots", "verify_data")


def _worker_count(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a count >= 1, got {text!r}")
    return value


def _defaults():
    return {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _add_shared(parser, verbose=True):
    """`--backend` and `--verbose`, accepted before and after the command
    (`cli.run` reads both from the command line itself)."""
    parser.add_argument(
        "--backend",
        choices=cli.BACKENDS,
        help="Keras backend when KERAS_BACKEND is not set",
    )
    if verbose:
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="show tracebacks and native log lines",
        )


def _add_train_options(parser, run_dir, seeds=None):
    defaults = _defaults()
    _add_shared(parser, verbose=False)
    cli.add_common_arguments(
        parser, run_dir=run_dir, data_dir=True, seeds=seeds, quick=True, quiet=True
    )
    for action in parser._actions:  # noqa: SLF001 - our wording of one help text
        if action.dest == "data_dir":
            action.help = _HELPS["data_dir"]
    for name, default in defaults.items():
        if name in _SPECIAL:
            continue
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=_TYPES.get(name, str),
            default=default,
            choices=_CHOICES.get(name),
            help=f"{_HELPS[name]} (default: {default})",
        )
    for name, default, text in (
        (
            "distribute",
            False,
            "data-parallel training on all local devices (JAX, TensorFlow)",
        ),
        ("plots", True, "write the PNG figures"),
        (
            "verify-data",
            True,
            "check the images against the SHA-256 manifest; "
            "--no-verify-data trains on unverified data",
        ),
    ):
        parser.add_argument(
            f"--{name}",
            dest=name.replace("-", "_"),
            default=default,
            action=argparse.BooleanOptionalAction,
            help=text,
        )


def build_parser():
    """The parser of every command (imports no keras)."""
    parser = cli.ArgumentParser(
        prog=PROG,
        description="Sign-language digit recognition with the APALU activation.",
    )
    _add_shared(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, function, text in (
        ("main", cmd_main, "train with default settings, then export to TFLite"),
        ("train", cmd_train, "train (or resume) one run"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        _add_train_options(sub, DEFAULT_RUN_DIR)
        sub.add_argument(
            "--local-workers",
            type=_worker_count,
            metavar="N",
            help="train data-parallel in N worker processes on this machine "
            "(torch backend; under torchrun, set nothing: RANK, WORLD_SIZE, "
            "MASTER_ADDR and MASTER_PORT are read)",
        )
        sub.set_defaults(function=function)

    text = "accuracy of a model on a run's split or a labelled folder"
    sub = commands.add_parser("evaluate", help=text, description=text)
    _add_shared(sub)
    sub.add_argument("model", help="model file (.keras or .tflite)")
    sub.add_argument(
        "--run-dir",
        metavar="DIR",
        help="run whose split to use (default: the model's folder)",
    )
    sub.add_argument("--data-dir", metavar="DIR", help="dataset folder for the split")
    sub.add_argument("--part", default="test", choices=["train", "val", "test"])
    sub.add_argument(
        "--folder", help="labelled folder <digit>/<image> instead of a split"
    )
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.set_defaults(function=cmd_evaluate)

    text = "top-k classes of image files"
    sub = commands.add_parser("predict", help=text, description=text)
    _add_shared(sub)
    sub.add_argument("images", nargs="+", metavar="IMAGE")
    sub.add_argument(
        "--model",
        default=f"{DEFAULT_RUN_DIR}/model.keras",
        help="model file (.keras or .tflite; default: %(default)s)",
    )
    sub.add_argument("--top-k", type=int, default=3)
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.set_defaults(function=cmd_predict)

    text = "write .tflite files into a run folder"
    sub = commands.add_parser("export", help=text, description=text)
    _add_shared(sub)
    sub.add_argument(
        "--run-dir",
        default=DEFAULT_RUN_DIR,
        metavar="DIR",
        help="the training run (default: %(default)s)",
    )
    sub.add_argument(
        "--modes",
        nargs="+",
        default=["custom", "builtin"],
        choices=["custom", "builtin"],
    )
    quantize = sub.add_mutually_exclusive_group()
    quantize.add_argument("--quantize", choices=["float16", "dynamic", "int8"])
    quantize.add_argument(
        "--int8",
        dest="quantize",
        action="store_const",
        const="int8",
        help="full-integer model calibrated on training images "
        "(same as --quantize int8)",
    )
    sub.set_defaults(function=cmd_export)

    text = "activations x seeds on one signer split -> table and plot"
    sub = commands.add_parser("compare", help=text, description=text)
    _add_train_options(sub, COMPARE_DIR, seeds=[0, 1, 2, 3, 4])
    sub.add_argument(
        "--activations",
        nargs="+",
        default=["apalu", "relu", "gelu"],
        choices=list(ACTIVATIONS),
    )
    sub.set_defaults(function=cmd_compare)

    from applications.sign_language.web import command as web_command

    web_command.add_parser(commands, _add_shared)
    return parser


def _config_from(args, run_dir=True):
    """The TrainConfig of parsed train options (with `--quick` applied)."""
    defaults = _defaults()
    values = {
        name: getattr(args, name)
        for name in defaults
        if name != "verbose" and hasattr(args, name)
    }
    if not run_dir:
        values.pop("run_dir", None)
    if getattr(args, "quick", False):
        for name, quick in QUICK.items():
            if values.get(name) == defaults[name]:
                values[name] = quick
    values["verbose"] = 0 if getattr(args, "quiet", False) else "auto"
    return TrainConfig(**values)


def _print_json(value):
    print(json.dumps(value, indent=1))


def _metrics_line(metrics, run_dir):
    return (
        f"test accuracy on unseen signers: {metrics['test_accuracy']:.2%} "
        f"({metrics['images']['test']} images, {metrics['signers']['test']} signers; "
        f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}, "
        f"{metrics['seconds_per_epoch']:.1f} s/epoch"
        + (f", {metrics['workers']} workers" if metrics.get("workers", 1) > 1 else "")
        + f") -> {run_dir}"
    )


def cmd_train(args):
    """Trains (or resumes) one run; returns its metrics."""
    from applications.sign_language.train import train

    cli.writable_folder(args.run_dir)
    metrics = train(_config_from(args))
    if "rank" not in metrics:  # workers other than 0 print nothing
        print(_metrics_line(metrics, args.run_dir))
    return metrics


def cmd_main(args):
    """Train with the given (default) settings, then export to TFLite."""
    metrics = cmd_train(args)
    if "rank" in metrics:  # worker 0 alone exports
        return metrics
    try:
        from applications.sign_language.export import export_run

        written = export_run(args.run_dir, verbose=args.verbose)
    except ImportError as error:
        print(
            f"export skipped: keras_apalu.tflite is not available ({error})",
            file=sys.stderr,
        )
        return metrics
    _print_export_summary(args.run_dir, written)
    return metrics


def _print_export_summary(run_dir, written):
    from applications.sign_language.export import describe
    from applications.sign_language.export import summary_lines

    for line in summary_lines(describe(run_dir, written)):
        print(line)


def cmd_evaluate(args):
    """Accuracy of a model file; returns the result dict."""
    from applications.sign_language.inference import evaluate

    result = evaluate(
        args.model,
        run_dir=args.run_dir,
        part=args.part,
        folder=args.folder,
        data_dir=args.data_dir,
    )
    if args.json:
        _print_json(result)
    else:
        print(
            f"{result['model']} on {result['data']}: accuracy "
            f"{result['accuracy']:.2%} ({result['images']} images)"
        )
        for name, value in result["per_class_accuracy"].items():
            print(f"  class {name}: " + ("n/a" if value is None else f"{value:.2%}"))
    return result


def cmd_predict(args):
    """Top-k classes of every readable image; returns the result list.

    Raises:
        RunFailedError: after printing the others, if any input was skipped.
    """
    from applications.sign_language.inference import predict_files

    results = predict_files(args.model, args.images, top_k=args.top_k)
    skipped = [result for result in results if "error" in result]
    for result in skipped:
        print(f"skipped {result['file']}: {result['error']}", file=sys.stderr)
    if args.json:
        _print_json(results)
    else:
        for result in results:
            if "error" not in result:
                tops = ", ".join(
                    f"{t['class']} ({t['probability']:.1%})" for t in result["top"]
                )
                print(f"{result['file']}: {tops}")
    if skipped:
        raise RunFailedError(
            f"skipped {len(skipped)} of {len(results)} inputs (named above); "
            "the others were predicted"
        )
    return results


def cmd_export(args):
    """Writes the .tflite files of a run; returns mode -> path."""
    from applications.sign_language.export import export_run

    cli.writable_folder(args.run_dir)
    written = export_run(
        args.run_dir, modes=args.modes, quantize=args.quantize, verbose=args.verbose
    )
    _print_export_summary(args.run_dir, written)
    return written


def cmd_compare(args):
    """Trains every activation x seed; returns the summary."""
    from applications.sign_language.compare import compare

    cli.writable_folder(args.run_dir)
    config = _config_from(args, run_dir=False)
    command = f"{PROG} " + " ".join(args.argv)
    summary = compare(
        config, args.activations, args.seeds, args.run_dir, command=command
    )
    print((pathlib.Path(args.run_dir) / "results.md").read_text())
    return summary


def main(argv=None):
    """Parses `argv` and runs the command; returns the command's result.

    Raises the application's errors (see `applications.common.errors`);
    `console_main` turns them into messages and exit statuses.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    argv = cli.deprecated_flags(argv, renames_for(argv))  # no-op after console_main
    args = build_parser().parse_args(argv)
    cli.flatten_seeds(args)
    args.argv = argv
    if getattr(args, "local_workers", None):
        return launch_workers(args)
    return args.function(args)


def launch_workers(args):
    """`--local-workers N`: runs the same command as N workers here."""
    from applications.sign_language import workers

    if "WORLD_SIZE" in os.environ:
        raise workers.WorkerError(
            "--local-workers was given to a process that is already a worker "
            "(WORLD_SIZE is set)",
            hint="drop --local-workers under torchrun or another launcher",
        )
    workers.check_backend(cli.select_backend(args.argv))
    workers.per_worker_batch(_config_from(args).batch_size, args.local_workers)
    cli.writable_folder(args.run_dir)
    return workers.launch_local(
        workers.strip_option(args.argv, "--local-workers"),
        args.local_workers,
        "applications.sign_language",
    )


def _old_verbose_level(rest):
    """`--verbose LEVEL` (Keras' progress level until this release)."""
    if rest and rest[0] == "0":
        return ["--quiet"], 1
    if rest and rest[0] in ("1", "2", "auto"):
        return [], 1
    return None


def renames_for(argv):
    """Deprecated flags of the command in `argv` (`cli.deprecated_flags`)."""
    command = next((token for token in argv if token in COMMANDS), None)
    renames = {"--out-dir": "--run-dir"} if command == "compare" else {}
    if command in ("main", "train", "compare"):
        renames["--verbose"] = _old_verbose_level
    return renames


def console_main(argv=None):
    """`python -m applications.sign_language`: returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return cli.run(
        lambda tokens: _status(main(tokens)), argv, renames=renames_for(argv)
    )


def _status(result):
    return 0 if result is None or not isinstance(result, int) else result


if __name__ == "__main__":
    sys.exit(console_main())
