"""Ways of computing APALU, side by side with the library's and GELU.

    python -m benchmarks formulations
    python -m benchmarks formulations --backends jax --modes compiled

The evidence for the library's choice of path per backend: the forms of
benchmarks/_old_formulations.py (select-free with a custom gradient,
select-free autodiff, the right-slope autodiff form, the one-expm1 form with
and without a custom gradient) and the library's "APALU" (fused default) and
"APALU (plain)", with ReLU and GELU as anchors. Same tensors, passes
(forward; gradient of sum(f(x)^2) for x and the slopes), timer and report
as `python -m benchmarks op`; default shapes 2^20 and 2^22, modes eager
and compiled.
"""

from benchmarks import _common
from benchmarks import op

TITLE = "APALU formulations"
CANDIDATES = (
    "ReLU",
    "GELU",
    "APALU",
    "APALU (plain)",
    "select-free, custom gradient",
    "select-free, autodiff",
    "select-free, autodiff, right slope",
    "one expm1, custom gradient",
    "one expm1, autodiff",
)


def add_arguments(parser):
    op.add_arguments(parser)


def settle(args):
    if not args.shapes:
        args.shapes = ["2^14"] if args.quick else ["2^20", "2^22"]
    if args.modes == ["default"]:
        args.modes = ["eager"] if args.quick else ["eager", "compiled"]
    op.settle(args)


def candidates():
    from benchmarks import _old_formulations as old
    from benchmarks.activations import FUNCTIONS

    forms = {
        "select-free, custom gradient": old.select_free_custom_gradient,
        "select-free, autodiff": old.select_free,
        "select-free, autodiff, right slope": old.right_slope,
        "one expm1, custom gradient": old.one_exp_custom_gradient,
        "one expm1, autodiff": old.one_exp,
    }
    table = {name: FUNCTIONS[name] for name in CANDIDATES[:4]}
    table.update({name: (fn, 2) for name, fn in forms.items()})
    return table


def child(args):
    table = candidates()
    names = args.activations or CANDIDATES
    _common.emit_rows(op.time_candidates({n: table[n] for n in names}, args))


def main(args):
    rows, failures = _common.run_children(args)
    sections = op.tables(rows, args.shapes, anchors=("GELU",))
    sections.append([__doc__.split("\n\n", 2)[2].strip()])
    _common.write_report(args, TITLE, sections, rows, failures)
    return _common.exit_status(rows, failures)
