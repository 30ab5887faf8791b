"""Command line: `python -m applications.neural_ode <experiment> [options]`.

Experiments:
    gradients  adjoint vs backprop vs a float64 reference as RK4 steps grow,
               and Dormand-Prince step counts, per activation
    resnet     Euler ResNet of depth L vs the ODE solution, same weights
    ntk        empirical NTK at init as width grows, and its drift in training
    train      full-batch gradient descent on a digits subset, per width

Options:
    --quick                  tiny sizes (seconds; what CI runs)
    --run-dir DIR            the run folder (default runs/neural_ode/<experiment>);
                             an interrupted run resumes there
    --seeds N                number of seeds
    --activations A [A ...]  apalu_smooth apalu relu softplus tanh gelu
    --set NAME=VALUE         any other setting (e.g. --set widths=16,64
                             --set train_steps=50); see each experiment's Settings
    --backend B              Keras backend if KERAS_BACKEND is not set
    --verbose 0|1
    --summary-only           no computing: table and figures from the seeds
                             finished so far (a stopped run's partial results)

Each run writes results.json (every cell, resumable), results.md (the table,
mean +- std over seeds), timing.txt and PNG figures.
"""

import argparse
import ast
import dataclasses
import os
import sys

EXPERIMENTS = ("gradients", "resnet", "ntk", "train")


def _parse_set(items, defaults):
    overrides = {}
    fields = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(defaults)}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set needs NAME=VALUE; got {item!r}")
        key, raw = item.split("=", 1)
        if key not in fields:
            raise SystemExit(f"unknown setting {key!r}; settings: {sorted(fields)}")
        default = fields[key]
        if isinstance(default, tuple):
            kind = type(default[0]) if default else str
            value = tuple(kind(v) for v in raw.split(",") if v)
        elif isinstance(default, bool):
            value = raw.lower() in ("1", "true", "yes")
        elif isinstance(default, (int, float)):
            value = type(default)(ast.literal_eval(raw))
        else:
            value = raw
        overrides[key] = value
    return overrides


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m applications.neural_ode",
        description="Neural ODEs with smooth and kinked activations: experiments.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("experiment", choices=EXPERIMENTS)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--run-dir", default=None, help="run folder (resumed if present)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds")
    parser.add_argument("--activations", nargs="+", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"], default=None)
    parser.add_argument("--verbose", type=int, default=1, choices=[0, 1])
    parser.add_argument("--summary-only", action="store_true",
                        help="write the table and figures from the finished seeds only")
    args = parser.parse_args(argv)

    if args.backend and "KERAS_BACKEND" not in os.environ:
        os.environ["KERAS_BACKEND"] = args.backend
    if os.environ.get("KERAS_BACKEND") == "jax":
        # The float64 references need 64-bit JAX arrays.
        os.environ.setdefault("JAX_ENABLE_X64", "1")

    from applications.neural_ode.experiments import runner

    base = runner.experiment_module(args.experiment).Settings
    defaults = base.quick() if args.quick else base()
    overrides = _parse_set(args.set, defaults)
    if args.seeds is not None:
        overrides["seeds"] = args.seeds
    if args.activations:
        overrides["activations"] = tuple(args.activations)
    try:
        settings = runner.settings_for(args.experiment, quick=args.quick, **overrides)
        run_dir = args.run_dir or os.path.join(
            "runs", "neural_ode", args.experiment + ("-quick" if args.quick else ""))
        runner.run(args.experiment, settings, run_dir, verbose=args.verbose,
                   summary_only=args.summary_only)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
