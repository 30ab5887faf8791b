"""Command line: `python -m applications.lrnn_claims <claim> [options]`.

Claims:
    dimension   ANOVA targets on [0, 1]^d: test error against d and N
    spectral    per-frequency residual over training; LRNN functions frozen vs trained
    width       variance against projection width; relevance determination

Each writes results.md, results.json and a figure into `<run-dir>/<claim>`
(default run folder runs/lrnn_claims), one record per finished job under its
`per_run/`, and resumes an interrupted run (rerun the same command). Every
model of a study has the same parameter count and the same number of
full-batch Adam steps. `--quick` is a smoke run (tiny grid, 2 seeds).
`--seeds` takes seeds and ranges (`--seeds 0-4`, the default). `--backend`
picks the Keras backend when KERAS_BACKEND is not set; `--quiet` hides the
progress bars, `--verbose` shows tracebacks and native logs. Exit status:
0 done, 1 failed, 2 bad usage or input, 130 interrupted (rerun to resume).
"""

import argparse
import shlex
import sys

from applications.common import cli
from applications.lrnn_claims.models import FROZEN
from applications.lrnn_claims.models import MODELS

CLAIMS = ("dimension", "spectral", "width")
SEEDS = [0, 1, 2, 3, 4]

#: The committed full runs (docs/lrnn_claims.md), sized for a shared
#: 2-core CPU: about 15 minutes for the three claims.
DEFAULTS = {
    "dimension": {
        "kinds": ["decaying", "control"],
        "dims": [2, 4, 8, 16, 32, 64],
        "n_train": [64, 256],
        "curve_dims": [64],
        "models": list(MODELS),
        "params": 800,
        "steps": 100,
        "omega_0": 10.0,
        "fourier_sigma": 1.0,
    },
    "spectral": {
        "signals": ["1d", "2d"],
        "models": list(MODELS) + list(FROZEN),
        "size_1d": 256,
        "size_2d": 32,
        "params": 800,
        "steps": 200,
        "eval_every": 20,
        "omega_0": 30.0,
        "fourier_sigma": 8.0,
    },
    "width": {
        "widths": [8, 32, 128, 512, 1024],
        "inputs": 8,
        "units": 4,
        "hidden": 4,
        "batch": 512,
        "n_train": 256,
        "steps": 100,
        "irrelevant": [2, 8],
        "relevance_models": ["lrnn_sin", "lrnn_apalu", "mlp_relu"],
        "relevance_params": 1000,
        "omega_0": 10.0,
        "spread_bound": 10.0,
    },
}
QUICK = {
    "dimension": {
        "kinds": ["decaying", "control"],
        "dims": [2, 4],
        "n_train": [16, 32],
        "curve_dims": [2],
        "models": ["lrnn_sin", "mlp_relu"],
        "params": 200,
        "steps": 5,
    },
    "spectral": {
        "signals": ["1d", "2d"],
        "models": ["lrnn_sin", "lrnn_sin_frozen", "siren"],
        "size_1d": 64,
        "size_2d": 16,
        "params": 200,
        "steps": 6,
        "eval_every": 3,
        "fourier_sigma": 4.0,
    },
    "width": {
        "widths": [8, 32],
        "batch": 64,
        "n_train": 32,
        "steps": 3,
        "irrelevant": [2],
        "relevance_models": ["lrnn_sin", "mlp_relu"],
        "relevance_params": 200,
    },
}
#: The grid options a user may change (flag -> settings key).
OPTIONS = {
    "dimension": ("dims", "n_train", "models", "params", "steps"),
    "spectral": ("models", "params", "steps", "eval_every"),
    "width": ("widths", "steps"),
}


def parse(argv):
    parser = cli.ArgumentParser(
        prog="python -m applications.lrnn_claims",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backend",
        choices=cli.BACKENDS,
        help="Keras backend (if KERAS_BACKEND is not set)",
    )
    sub = parser.add_subparsers(dest="claim", required=True)
    helps = dict(line.split(None, 1) for line in __doc__.split("\n")[3:6])
    for claim in CLAIMS:
        p = sub.add_parser(claim, help=helps[claim].strip())
        p.add_argument(
            "--backend",
            choices=cli.BACKENDS,
            default=None,
            help="Keras backend (if KERAS_BACKEND is not set)",
        )
        cli.add_common_arguments(
            p,
            run_dir=cli.default_run_dir("lrnn_claims"),
            seeds=SEEDS,
            quick=True,
            quiet=True,
        )
        p.set_defaults(seeds=None)
        options = OPTIONS[claim]
        if "models" in options:
            choices = MODELS + (FROZEN if claim == "spectral" else ())
            p.add_argument(
                "--models",
                nargs="+",
                choices=choices,
                metavar="MODEL",
                help=f"models to compare (choices: {', '.join(choices)})",
            )
        if "dims" in options:
            p.add_argument("--dims", nargs="+", type=int, help="input dimensions d")
            p.add_argument(
                "--n-train", nargs="+", type=int, help="training-set sizes N"
            )
        if "params" in options:
            p.add_argument(
                "--params", type=int, help="target parameter count of every model"
            )
        if "widths" in options:
            p.add_argument("--widths", nargs="+", type=int, help="projection widths")
        p.add_argument("--steps", type=int, help="full-batch Adam steps")
        if "eval_every" in options:
            p.add_argument("--eval-every", type=int, help="steps between evaluations")
        p.add_argument(
            "--learning-rate",
            type=float,
            help="one peak rate for all models (default: per model)",
        )
        p.add_argument(
            "--no-plots", dest="plots", action="store_false", help="skip the figure"
        )
    args = cli.flatten_seeds(parser.parse_args(argv))
    settings = dict(DEFAULTS[args.claim])
    if args.quick:
        settings.update(QUICK[args.claim])
    if args.seeds is None:
        args.seeds = [0, 1] if args.quick else list(SEEDS)
    for key in OPTIONS[args.claim]:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    settings["seeds"] = args.seeds
    settings["learning_rate"] = args.learning_rate
    for key in ("dims", "n_train", "params", "steps", "widths", "eval_every"):
        values = settings.get(key)
        values = values if isinstance(values, list) else [values]
        if key in settings and min(values) < (2 if key == "dims" else 1):
            parser.error(
                f"--{key.replace('_', '-')} must be >= {2 if key == 'dims' else 1}"
            )
    if args.claim == "spectral" and settings["steps"] % settings["eval_every"]:
        parser.error(
            f"--steps ({settings['steps']}) must be a multiple of "
            f"--eval-every ({settings['eval_every']})"
        )
    if len(args.seeds) < 2:
        parser.error("--seeds: give at least 2 seeds (the statistics need a spread)")
    args.settings = settings
    return args


def main(argv=None):
    """Parses `argv`, runs (or resumes) the claim's study; returns 0.

    Raises:
        SystemExit: `--help` (0) or a usage error (2).
        UsageError: a run folder made with other settings, or one that
            cannot be written.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    cli.select_backend(argv)
    args = parse(argv)
    cli.writable_folder(f"{args.run_dir}/{args.claim}")
    from applications.lrnn_claims import dimension
    from applications.lrnn_claims import spectral
    from applications.lrnn_claims import width

    study = {"dimension": dimension, "spectral": spectral, "width": width}[args.claim]
    command = "python -m applications.lrnn_claims " + shlex.join(argv)
    summary = study.run(
        args.run_dir,
        args.settings,
        command,
        verbose=not args.quiet,
        plots=args.plots,
    )
    v = summary["verdict"]
    if isinstance(v, dict) and "verdict" in v:
        print(f"dimension: the claim {v['verdict']}.")
    elif isinstance(v, dict):
        print(f"width (variance): the claim {v['variance']}.")
        print(f"width (relevance): {v['relevance']}.")
    else:
        print(f"spectral: the claim {v}.")
    print(f"Written to {args.run_dir}/{args.claim}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
