"""The benchmarks' one entry point: `python -m benchmarks NAME [options]`.

    python -m benchmarks op --quick
    python -m benchmarks model --activations ReLU GELU APALU
    python -m benchmarks tflite --modes float int8
    python -m benchmarks NAME --help      # the options of one benchmark

Every benchmark takes the same options (--threads, --clock, --rounds,
--min-time, --activations, --backends, --quick, --output) and writes one
report: a markdown table, printed and written to
benchmarks/results/<NAME>.md, with a JSON sidecar of the same rows. An
unknown benchmark or candidate name is a usage error (exit status 2).
"""

import argparse
import importlib
import sys

from benchmarks import _common

#: Name -> module of each benchmark; each has TITLE, CANDIDATES (or None:
#: --activations does not apply), add_arguments(parser), settle(args),
#: child(args) (for those that run per backend) and main(args).
BENCHMARKS = {
    "op": "benchmarks.op",
    "model": "benchmarks.model",
    "memory": "benchmarks.memory",
    "formulations": "benchmarks.formulations",
    "jax-slope-sums": "benchmarks.jax_slope_sums",
    "product-dense": "benchmarks.product_dense",
    "tflite": "benchmarks.tflite",
    "deployment": "benchmarks.deployment",
    "web": "benchmarks.web",
    "workers": "benchmarks.workers",
}


def _usage():
    lines = [__doc__.strip(), "", "Benchmarks:"]
    for name, module_name in BENCHMARKS.items():
        doc = importlib.import_module(module_name).__doc__.strip().splitlines()[0]
        lines.append(f"  {name:<14} {doc}")
    return "\n".join(lines)


def parse(argv):
    """`(module, args)` for `argv` (NAME, then options); exits 2 on bad usage."""
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        raise SystemExit(0 if argv else 2)
    name = argv[0]
    if name not in BENCHMARKS:
        print(
            f"python -m benchmarks: unknown benchmark {name!r}; valid: "
            + ", ".join(BENCHMARKS),
            file=sys.stderr,
        )
        raise SystemExit(2)
    module = importlib.import_module(BENCHMARKS[name])
    parser = argparse.ArgumentParser(
        prog=f"python -m benchmarks {name}",
        description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common.add_common_arguments(parser)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    args.name = name
    args.argv = [a for a in argv if a != "--child"]
    if module.CANDIDATES is None:
        if args.activations:
            parser.error(f"--activations does not apply to the {name} benchmark")
    else:
        _common.check_names(parser, args.activations, module.CANDIDATES)
    module.settle(args)
    return module, args


def main(argv=None):
    module, args = parse(sys.argv[1:] if argv is None else argv)
    if args.child:
        module.child(args)
        return 0
    return module.main(args)


if __name__ == "__main__":
    sys.exit(main())
