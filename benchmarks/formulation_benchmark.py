"""Which way of computing APALU is fastest, per backend and mode.

    python benchmarks/formulation_benchmark.py --threads 1 --clock cpu
    python benchmarks/formulation_benchmark.py --backends jax --modes compiled

The evidence for what `keras_apalu.ops.apalu` does by default on each backend.
Times, side by side with ReLU and GELU (same tensors and timer as
op_benchmark.py: float32 (2^k/64, 64), per-channel slopes, forward and
forward+backward, eager and compiled), the formulations ops.py holds:

* select-free, custom gradient: `a p (1 + sigmoid(1.702 x)) + b expm1(x - p)`
  with the backward recomputing the derivatives from x (the default on torch
  and tensorflow; on every backend before this benchmark existed).
* select-free, autodiff: the same formula differentiated by the backend
  (`custom_gradient=False`; left slope at 0).
* select-free, autodiff, right slope: the same with `n = -relu(-x)`,
  `p = x - n`, so autodiff takes the right slope at 0 (the default on jax).
* one expm1, custom gradient / autodiff: `select_free=False`, one
  transcendental for both sides, forward and backward.
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks import _common  # noqa: E402
from benchmarks import op_benchmark  # noqa: E402

DEFAULT_LABEL = {"tensorflow": "select-free, custom gradient",
                 "torch": "select-free, custom gradient",
                 "jax": "select-free, autodiff, right slope"}


def _formulations():
    from keras import ops

    from keras_apalu import ops as apalu_ops

    def prepared(fn):
        return lambda x, a, b: fn(*apalu_ops._prepare(x, a, b))

    return {
        "ReLU": (lambda x: ops.relu(x), 0),
        "GELU": (lambda x: ops.gelu(x, approximate=False), 0),
        "select-free, custom gradient": (
            prepared(apalu_ops._apalu_lean), 2),
        "select-free, autodiff": (
            prepared(apalu_ops._forward_select_free), 2),
        "select-free, autodiff, right slope": (
            prepared(apalu_ops._forward_right_slope), 2),
        "one expm1, custom gradient": (
            lambda x, a, b: apalu_ops.apalu(x, a, b, select_free=False), 2),
        "one expm1, autodiff": (
            lambda x, a, b: apalu_ops.apalu(
                x, a, b, custom_gradient=False, select_free=False), 2),
    }


def child(args):
    import keras

    backend = keras.backend.backend()
    _common.apply_thread_limits()
    make = {"tensorflow": op_benchmark._tensorflow_fns,
            "jax": op_benchmark._jax_fns,
            "torch": op_benchmark._torch_fns}[backend]
    if backend == "torch":
        op_benchmark._configure_torch()
    rows = []
    for mode in args.modes:
        for exponent in args.sizes:
            x, dy, params = op_benchmark._inputs(2**exponent)
            for pass_name in ("fwd", "fwd+bwd"):
                fns = {}
                for name, (fn, n_params) in _formulations().items():
                    call = make(fn, n_params, x, dy, params, mode)[pass_name]
                    call()
                    fns[name] = call
                times = _common.time_side_by_side(fns, rounds=args.rounds)
                rows += [{"backend": backend, "mode": mode, "pass": pass_name,
                          "exponent": exponent, "name": name,
                          "seconds": seconds}
                         for name, seconds in times.items()]
                print(f"{backend} {mode} 2^{exponent} {pass_name} done",
                      file=sys.stderr, flush=True)
    _common.emit_rows(rows)


def _sections(rows, exponents):
    by_key = {(r["backend"], r["mode"], r["pass"], r["exponent"], r["name"]):
              r["seconds"] for r in rows}
    names = list(dict.fromkeys(r["name"] for r in rows))
    sections = []
    for backend in sorted({r["backend"] for r in rows},
                          key=_common.BACKENDS.index):
        for mode in ("eager", "compiled"):
            for pass_name in ("fwd", "fwd+bwd"):
                table = []
                for name in names:
                    cells = [name + (" (default)"
                                     if DEFAULT_LABEL[backend] == name else "")]
                    for e in exponents:
                        key = (backend, mode, pass_name, e)
                        t, gelu = by_key.get((*key, name)), by_key.get(
                            (*key, "GELU"))
                        cells.append("n/a" if t is None else
                                     f"{_common.fmt_time(t)} "
                                     f"({t / gelu:.2f})")
                    table.append(cells)
                if all(c == "n/a" for row in table for c in row[1:]):
                    continue
                sections.append(
                    [f"## {backend}, {mode}, {pass_name}", ""]
                    + _common.markdown_table(
                        ["formulation"] + [f"2^{e}: time (x GELU)"
                                           for e in exponents], table))
    return sections


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 22],
                        help="exponents k of the sizes 2^k (default 20 22)")
    _common.add_run_arguments(parser, quick_help="2^20 only, 3 rounds")
    parser.add_argument("--modes", nargs="+", default=["eager", "compiled"],
                        choices=["eager", "compiled"])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds = [20], 3
    if args.child:
        child(args)
        return 0
    rows, bandwidth, failures = _common.run_backends(
        __file__, args, ["--sizes", *map(str, args.sizes), "--modes",
                         *args.modes, "--rounds", str(args.rounds)])
    sections = _sections(rows, args.sizes) if rows else []
    if failures:
        sections.append(failures)
    sections.append([
        "Cells: best time per call over interleaved rounds (ratio to GELU, "
        "erf form, in the same run). (default): what `apalu(x, a, b)` runs "
        "on that backend. torch.compile's ReLU is slow on this CPU (see "
        "README), so ReLU is only a reference in eager mode.",
    ])
    _common.write_report("formulation_benchmark", "APALU formulations",
                         sections, bandwidth, args.output)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
