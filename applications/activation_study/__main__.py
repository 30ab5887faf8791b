"""Command line: `python -m applications.activation_study <study> [options]`.

Studies (each writes results.md, results.json and plots into its run folder,
default `runs/activation_study/<study>`; rerun the same command to resume):

    depth         1. depth and gradient flow
    sensitivity   2. initialisation range x learning rate
    limited-data  3. fractions of the training signers
    regression    4. regression test MSE
    convergence   5. epochs and wall time to a fixed validation accuracy

Options of every study: --quick (CI smoke run, seconds), --seeds N (default
5; 2 with --quick), --run-dir DIR, --activations NAME..., --backend NAME
(sets KERAS_BACKEND; keras is imported only after it is set), --quiet,
--no-plots. `python -m applications.activation_study <study> --help` lists a
study's own options.
"""

import argparse
import importlib
import os
import shlex
import sys

#: Study name on the command line -> module of this package.
STUDIES = {
    "depth": "depth",
    "sensitivity": "sensitivity",
    "limited-data": "limited_data",
    "regression": "regression",
    "convergence": "convergence",
}
BACKENDS = ("tensorflow", "jax", "torch")


def _select_backend(argv):
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--backend", choices=BACKENDS)
    known, _ = pre.parse_known_args(argv)
    if known.backend:
        if "keras" in sys.modules:
            import keras

            if keras.backend.backend() != known.backend:
                raise SystemExit(
                    f"--backend {known.backend}: keras is already imported with "
                    f"the {keras.backend.backend()} backend in this process."
                )
        os.environ["KERAS_BACKEND"] = known.backend


def _chosen_study(argv):
    for value in argv:
        if value in STUDIES:
            return value
    return None


def add_common_arguments(parser, study):
    """The options every study takes (see the module docstring)."""
    from applications.activation_study.activations import ACTIVATIONS

    parser.add_argument("--quick", action="store_true",
                        help="CI smoke mode: tiny models, a few seconds")
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of seeds (default 5; 2 with --quick)")
    parser.add_argument("--run-dir", default=f"runs/activation_study/{study}",
                        help="run folder (resumed when it exists)")
    parser.add_argument("--activations", nargs="+", choices=ACTIVATIONS,
                        metavar="NAME", default=None,
                        help=f"subset of: {', '.join(ACTIVATIONS)}")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="Keras backend (sets KERAS_BACKEND)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar")
    parser.add_argument("--no-plots", dest="plots", action="store_false",
                        help="write no plots")


def build_parser(study=None):
    """The parser; only `study`'s module is imported for its own options."""
    parser = argparse.ArgumentParser(
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
                f"applications.activation_study.{module_name}")
            module.add_arguments(study_parser)
    return parser


def main(argv=None):
    """Parses `argv`, runs the study and returns its run folder."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _select_backend(argv)
    study = _chosen_study(argv)
    args = build_parser(study).parse_args(argv)
    if args.seeds is None:
        args.seeds = 2 if args.quick else 5
    if args.seeds < 1:
        raise SystemExit(f"--seeds must be >= 1; got {args.seeds}.")
    import keras

    args.command = (f"KERAS_BACKEND={keras.backend.backend()} "
                    "python -m applications.activation_study " + shlex.join(argv))
    module = importlib.import_module(
        f"applications.activation_study.{STUDIES[args.study]}")
    folder = module.run(args)
    if not args.quiet:
        print(f"results: {os.path.join(str(folder), 'results.md')}")
    return folder


if __name__ == "__main__":
    main()
