"""Command line: `python -m applications.neural_ode <experiment> [options]`.

Experiments:
    gradients  adjoint vs backprop vs a float64 reference as RK4 steps grow,
               and Dormand-Prince step counts, per activation
    resnet     Euler ResNet of depth L vs the ODE solution, same weights
    ntk        empirical NTK at init as width grows, and its drift in training
    train      full-batch gradient descent on a digits subset, per width

Options:
    --quick                  tiny sizes (seconds; what CI runs)
    --run-dir DIR            the run folder (default runs/neural_ode/<experiment>,
                             <experiment>-quick with --quick); rerun to resume
    --seeds S [S ...]        seeds or ranges (default 0-2; resnet 0-4; 0-1 with
                             --quick); the old count form --seeds N reads as
                             0-(N-1) for one release
    --activations A [A ...]  apalu_smooth apalu relu softplus tanh gelu
    --set NAME=VALUE         any other setting (e.g. --set widths=16,64
                             --set train_steps=50); see each experiment's Settings
    --backend B              Keras backend if KERAS_BACKEND is not set
    --quiet                  no progress bar (was --verbose 0)
    --verbose                tracebacks and native log lines
    --summary-only           no computing: table and figures from the seeds
                             finished so far (a stopped run's partial results)

Each run writes one record per finished cell under <run folder>/per_run/ (a
rerun skips them) and the summary: results.json (the settings and every
cell), results.md (the table, mean ± std over seeds), timing.txt and PNG
figures. Exit status: 0 done, 1 failed, 2 bad usage or input, 130
interrupted (rerun to resume).
"""

import argparse
import ast
import dataclasses
import os
import sys

from applications.common import cli
from applications.common.errors import UsageError

EXPERIMENTS = ("gradients", "resnet", "ntk", "train")
#: What --help shows as the default run folder (one per experiment).
DEFAULT_RUN_DIR = cli.default_run_dir("neural_ode", "<experiment>[-quick]")


def _verbose_level(rest):
    """For `cli.deprecated_flags`: the old `--verbose 0|1`; 0 is `--quiet`,
    1 the default; a bare `--verbose` (tracebacks) is kept."""
    if rest and rest[0] in ("0", "1"):
        return (["--quiet"] if rest[0] == "0" else []), 1
    return None


#: Flags whose meaning changed in this release (kept for one release).
RENAMES = {"--seeds": cli.seed_count_form, "--verbose": _verbose_level}


def _parse_set(items, defaults):
    overrides = {}
    fields = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(defaults)}
    for item in items:
        if "=" not in item:
            raise UsageError(
                f"--set needs NAME=VALUE; got {item!r}", hint="e.g. --set widths=16,64"
            )
        key, raw = item.split("=", 1)
        if key not in fields:
            raise UsageError(
                f"--set: unknown setting {key!r}",
                hint=f"settings: {', '.join(sorted(fields))}",
            )
        default = fields[key]
        try:
            if isinstance(default, tuple):
                kind = type(default[0]) if default else str
                value = tuple(kind(v) for v in raw.split(",") if v)
            elif isinstance(default, bool):
                value = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, (int, float)):
                value = type(default)(ast.literal_eval(raw))
            else:
                value = raw
        except (ValueError, SyntaxError):
            raise UsageError(
                f"--set {item}: {raw!r} is not a valid value of {key}",
                hint=f"default: {default!r}",
            ) from None
        overrides[key] = value
    return overrides


def main(argv=None):
    """Parses `argv` and runs (or resumes) the experiment; returns 0.

    Raises:
        SystemExit: `--help` (0) or a usage error (2).
        UsageError: bad settings, or a run folder made with other settings.
    """
    argv = cli.deprecated_flags(list(sys.argv[1:] if argv is None else argv), RENAMES)
    cli.select_backend(argv)
    parser = cli.ArgumentParser(
        prog="python -m applications.neural_ode",
        description="Neural ODEs with smooth and kinked activations: experiments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("experiment", choices=EXPERIMENTS)
    cli.add_common_arguments(
        parser,
        run_dir=DEFAULT_RUN_DIR,
        seeds=["0-2; resnet 0-4; 0-1 with --quick"],
        quick=True,
        quiet=True,
    )
    parser.set_defaults(seeds=None)
    parser.add_argument("--activations", nargs="+", default=None, metavar="A")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--backend", choices=cli.BACKENDS, default=None)
    parser.add_argument(
        "--summary-only",
        action="store_true",
        help="write the table and figures from the finished seeds only",
    )
    args = cli.flatten_seeds(parser.parse_args(argv))

    if os.environ.get("KERAS_BACKEND") == "jax":
        # The float64 references need 64-bit JAX arrays.
        os.environ.setdefault("JAX_ENABLE_X64", "1")

    from applications.neural_ode.experiments import runner

    base = runner.experiment_module(args.experiment).Settings
    defaults = base.quick() if args.quick else base()
    overrides = _parse_set(args.set, defaults)
    if args.seeds is not None:
        overrides["seeds"] = tuple(args.seeds)
    if args.activations:
        overrides["activations"] = tuple(args.activations)
    settings = runner.settings_for(args.experiment, quick=args.quick, **overrides)
    run_dir = (
        args.run_dir
        if args.run_dir != DEFAULT_RUN_DIR
        else cli.default_run_dir(
            "neural_ode", args.experiment + ("-quick" if args.quick else "")
        )
    )
    runner.run(
        args.experiment,
        settings,
        run_dir,
        verbose=not args.quiet,
        summary_only=args.summary_only,
    )
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
