"""Command line: `python -m applications.implicit_fields <task> [options]`.

Tasks:
    image   fit the cameraman (skimage.data.camera()) with every model
    ct      sparse-view CT of the Shepp-Logan phantom through the Radon
            transform, at each --angles count, with FBP (iradon) as baseline

Each writes a table (mean ± std over seeds), reconstructions, error maps and
PSNR curves into `<run-dir>/image` or `<run-dir>/ct-<angles>` (default
run folder runs/implicit_fields), one record per finished run under its
`per_run/`, and resumes an interrupted run (rerun the same command).
`--quick` is a smoke run (16x16, 20 steps, one seed). `--seeds` takes seeds
and ranges (`--seeds 0-2`). `--backend` picks the Keras backend when
KERAS_BACKEND is not set; `--quiet` hides the progress bars, `--verbose`
shows tracebacks and native logs. Exit status: 0 done, 1 failed, 2 bad usage
or input, 130 interrupted (rerun to resume).
"""

import argparse
import shlex
import sys

from applications.common import cli
from applications.implicit_fields.models import MODELS

DEFAULTS = {
    # The committed full comparison (docs/implicit_fields.md): 64x64 (50
    # angles is sparse-view there, 100 about full sampling), about one weight
    # per pixel, 200 full-batch steps, 3 seeds: about 15 CPU-minutes for the
    # three tasks, i.e. about an hour on a core shared with other jobs.
    "image": {
        "size": 64,
        "steps": 200,
        "params": 4000,
        "seeds": [0, 1, 2],
        "eval_every": 25,
    },
    "ct": {
        "size": 64,
        "steps": 200,
        "params": 4000,
        "seeds": [0, 1, 2],
        "eval_every": 25,
    },
}
QUICK = {"size": 16, "steps": 20, "params": 1500, "seeds": [0], "eval_every": 10}


def parse(argv):
    parser = cli.ArgumentParser(
        prog="python -m applications.implicit_fields",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backend",
        choices=cli.BACKENDS,
        help="Keras backend (if KERAS_BACKEND is not set)",
    )
    sub = parser.add_subparsers(dest="task", required=True)
    for task in ("image", "ct"):
        p = sub.add_parser(
            task, help=__doc__.split("\n")[4 if task == "image" else 5].strip()
        )
        p.add_argument(
            "--backend",
            choices=cli.BACKENDS,
            default=None,
            help="Keras backend (if KERAS_BACKEND is not set)",
        )
        cli.add_common_arguments(
            p,
            run_dir=cli.default_run_dir("implicit_fields"),
            seeds=DEFAULTS[task]["seeds"],
            quick=True,
            quiet=True,
        )
        p.set_defaults(seeds=None)
        p.add_argument(
            "--models",
            nargs="+",
            default=list(MODELS),
            choices=MODELS,
            metavar="MODEL",
            help=f"models to compare (default: all of {', '.join(MODELS)})",
        )
        p.add_argument("--size", type=int, help="image side in pixels")
        p.add_argument("--steps", type=int, help="full-batch Adam steps")
        p.add_argument(
            "--params", type=int, help="target trainable parameter count of every model"
        )
        p.add_argument("--eval-every", type=int, help="steps between evaluations")
        p.add_argument(
            "--learning-rate",
            type=float,
            help="one peak rate for all models (default: per model)",
        )
        p.add_argument(
            "--no-plots",
            dest="plots",
            action="store_false",
            help="skip the PNG figures",
        )
        if task == "image":
            p.add_argument(
                "--batch-pixels",
                type=int,
                help="pixels per step (a random mini-batch); default: the whole image",
            )
        if task == "ct":
            p.add_argument(
                "--angles",
                nargs="+",
                type=int,
                default=[50, 100],
                help="numbers of projection angles over 180 degrees",
            )
    args = cli.flatten_seeds(parser.parse_args(argv))
    base = QUICK if args.quick else DEFAULTS[args.task]
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.task == "ct" and args.quick and args.angles == [50, 100]:
        args.angles = [10]
    if args.steps % args.eval_every:
        parser.error(
            f"--steps ({args.steps}) must be a multiple of "
            f"--eval-every ({args.eval_every})"
        )
    return args


def main(argv=None):
    """Parses `argv`, runs (or resumes) the task; returns 0.

    Raises:
        SystemExit: `--help` (0) or a usage error (2).
        UsageError: a run folder made with other settings, or one that
            cannot be written.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    cli.select_backend(argv)
    args = parse(argv)
    from applications.implicit_fields.compare import compare
    from applications.implicit_fields.compare import table

    command = "python -m applications.implicit_fields " + shlex.join(argv)

    for angles in args.angles if args.task == "ct" else [None]:
        rows = compare(
            args.task,
            args.run_dir,
            args.models,
            args.seeds,
            args.size,
            args.steps,
            args.params,
            args.eval_every,
            angles=angles,
            learning_rate=args.learning_rate,
            plots=args.plots,
            verbose=not args.quiet,
            command=command,
            batch_pixels=getattr(args, "batch_pixels", None),
        )
        title = "image" if angles is None else f"ct, {angles} angles"
        print(table(rows, f"{title} ({args.size}x{args.size}, {args.steps} steps)"))
    print(f"Written to {args.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
