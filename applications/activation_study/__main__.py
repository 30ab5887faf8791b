"""Command line: `python -m applications.activation_study <study> [options]`.

Studies (each writes results.md, results.json and plots into its run folder,
default `runs/activation_study/<study>`, and one record per finished run
under `<run folder>/per_run/`; rerun the same command to resume):

    depth         1. depth and gradient flow
    sensitivity   2. initialisation range x learning rate
    limited-data  3. fractions of the training signers
    regression    4. regression test MSE
    convergence   5. epochs and wall time to a fixed validation accuracy

Options of every study: --quick (CI smoke run, seconds), --seeds S [S ...]
(seeds or ranges, default 0-4; 0-1 with --quick; the old count form
`--seeds N` reads as 0-(N-1) for one release), --run-dir DIR,
--activations NAME..., --backend NAME, --quiet (no progress bar),
--verbose (tracebacks, native logs), --no-plots.
`python -m applications.activation_study <study> --help` lists a study's own
options. Exit status: 0 done, 1 failed, 2 bad usage or input, 130
interrupted (rerun to resume).
"""

import argparse
import importlib
import os
import shlex
import sys

from applications.common import cli

#: Study name on the command line -> module of this package.
STUDIES = {
    "depth": "depth",
    "sensitivity": "sensitivity",
    "limited-data": "limited_data",
    "regression": "regression",
    "convergence": "convergence",
}
SEEDS = [0, 1, 2, 3, 4]
QUICK_SEEDS = [0, 1]
#: Flags renamed in this release (kept for one release, with a notice).
RENAMES = {"--seeds": cli.seed_count_form}


def _chosen_study(argv):
    for value in argv:
        if value in STUDIES:
            return value
    return None


def add_common_arguments(parser, study):
    """The options every study takes (see the module docstring)."""
    from applications.activation_study.activations import ACTIVATIONS

    cli.add_common_arguments(
        parser,
        run_dir=cli.default_run_dir("activation_study", study),
        seeds=SEEDS,
        quick=True,
        quiet=True,
    )
    parser.add_argument(
        "--activations",
        nargs="+",
        choices=ACTIVATIONS,
        metavar="NAME",
        default=None,
        help=f"subset of: {', '.join(ACTIVATIONS)}",
    )
    parser.add_argument(
        "--backend",
        choices=cli.BACKENDS,
        help="Keras backend when KERAS_BACKEND is not set",
    )
    parser.add_argument(
        "--no-plots", dest="plots", action="store_false", help="write no plots"
    )


def build_parser(study=None):
    """The parser; only `study`'s module is imported for its own options."""
    parser = cli.ArgumentParser(
        prog="python -m applications.activation_study",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    sub = parser.add_subparsers(dest="study", required=True, metavar="STUDY")
    for name, module_name in STUDIES.items():
        study_parser = sub.add_parser(name, help=f"study {name}")
        add_common_arguments(study_parser, name)
        if name == study:
            module = importlib.import_module(
                f"applications.activation_study.{module_name}"
            )
            module.add_arguments(study_parser)
    return parser


def main(argv=None):
    """Parses `argv`, runs the study and returns its run folder.

    Raises:
        SystemExit: `--help` (0) or a usage error (2).
        UsageError: bad settings or a run folder made with other settings.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = cli.deprecated_flags(argv, RENAMES)
    cli.select_backend(argv)
    study = _chosen_study(argv)
    args = cli.flatten_seeds(build_parser(study).parse_args(argv))
    if args.quick and not any(t == "--seeds" or t.startswith("--seeds=") for t in argv):
        args.seeds = list(QUICK_SEEDS)
    import keras

    args.command = (
        f"KERAS_BACKEND={keras.backend.backend()} "
        "python -m applications.activation_study " + shlex.join(argv)
    )
    module = importlib.import_module(
        f"applications.activation_study.{STUDIES[args.study]}"
    )
    folder = module.run(args)
    if not args.quiet:
        print(f"results: {os.path.join(str(folder), 'results.md')}")
    return folder


if __name__ == "__main__":
    sys.exit(cli.run(main))
