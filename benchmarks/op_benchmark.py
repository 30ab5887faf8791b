"""Op-level cost of APALU against ReLU, GELU, ELU and PReLU, per backend.

    python benchmarks/op_benchmark.py            # the issue's two shapes, default modes
    python benchmarks/op_benchmark.py --quick    # the same, fewer rounds
    python benchmarks/op_benchmark.py --sizes 20 22 --modes eager compiled

Shapes: `--shapes nhwc rows` (default) are a (32, 64, 64, 32) feature map
with per-channel slopes (32,) and a (65536, 64) matrix with per-unit slopes
(64,), what real models produce; `--sizes k ...` the older (2^k / 64, 64).
Modes: "default" is each backend's Keras default on CPU (TensorFlow graph
mode: `tf.function` without XLA; `jax.jit`; eager torch), the mode the
targets are stated in.

For each backend (its own process), mode (eager; compiled = tf.function with
jit_compile=True, jax.jit, torch.compile) and pass (forward; forward+backward
with a given upstream gradient, gradients for the input and the slopes), times
every activation on a float32 tensor of shape (2^k / 64, 64) with per-channel
slopes (64,). The activations are timed in turn, round after round, so the
ratios to ReLU and GELU are measured side by side on the same load.

Achieved bandwidth counts the minimum traffic of an element-wise op: forward
reads x and writes y (8 bytes per element); forward+backward also reads x and
the upstream gradient again and writes dx (20 bytes per element). It is shown
against the measured copy bandwidth of the machine.
"""

import argparse
import pathlib
import sys
import traceback

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks import _common  # noqa: E402

CHANNELS = 64
TARGET_RATIO_GELU = 1.2
BYTES_PER_ELEMENT = {"fwd": 8, "fwd+bwd": 20}


# --------------------------------------------------------------------------
# Child side: one backend.
# --------------------------------------------------------------------------


#: Named shapes of `--shapes`.
SHAPES = {"nhwc": (32, 64, 64, 32), "rows": (65536, 64)}


def _shape(key):
    """`key` is a name of SHAPES or an exponent k (shape (2^k / 64, 64))."""
    if key in SHAPES:
        return SHAPES[key]
    return (2**int(key) // CHANNELS, CHANNELS)


def _label(key):
    return key if key in SHAPES else f"2^{key}"


def _elements(key):
    n = 1
    for d in _shape(key):
        n *= d
    return n


def _inputs(key, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(_shape(key)).astype("float32")
    dy = rng.standard_normal(x.shape).astype("float32")
    params = [
        rng.uniform(0.5, 1.5, (x.shape[-1],)).astype("float32")
        for _ in range(2)
    ]
    return x, dy, params


def _tensorflow_fns(act, n_params, x, dy, params, mode):
    import tensorflow as tf

    x, dy = tf.constant(x), tf.constant(dy)
    params = [tf.constant(p) for p in params[:n_params]]

    def fwd(x, *params):
        return act(x, *params)

    def fwd_bwd(x, dy, *params):
        with tf.GradientTape() as tape:
            tape.watch(x)
            tape.watch(params)
            y = act(x, *params)
        return y, tape.gradient(y, [x, *params], output_gradients=dy)

    if mode in ("compiled", "default"):
        jit = mode == "compiled"
        fwd = tf.function(fwd, jit_compile=jit)
        fwd_bwd = tf.function(fwd_bwd, jit_compile=jit)
    # Eager CPU ops and XLA calls return finished tensors; nothing to sync.
    return {
        "fwd": lambda: fwd(x, *params),
        "fwd+bwd": lambda: fwd_bwd(x, dy, *params),
    }


def _jax_fns(act, n_params, x, dy, params, mode):
    import jax
    import jax.numpy as jnp

    x, dy = jnp.asarray(x), jnp.asarray(dy)
    params = [jnp.asarray(p) for p in params[:n_params]]

    def fwd(x, *params):
        return act(x, *params)

    def fwd_bwd(x, dy, *params):
        y, vjp = jax.vjp(act, x, *params)
        return y, vjp(dy)

    if mode in ("compiled", "default"):
        fwd, fwd_bwd = jax.jit(fwd), jax.jit(fwd_bwd)
    return {
        "fwd": lambda: jax.block_until_ready(fwd(x, *params)),
        "fwd+bwd": lambda: jax.block_until_ready(fwd_bwd(x, dy, *params)),
    }


def _torch_fns(act, n_params, x, dy, params, mode):
    import torch

    x = torch.from_numpy(x)
    dy = torch.from_numpy(dy)
    params = [torch.from_numpy(p) for p in params[:n_params]]
    x_grad = x.clone().requires_grad_(True)
    params_grad = [p.clone().requires_grad_(True) for p in params]
    fn = act
    if mode == "compiled":
        # Default dynamic=None: after a second size torch recompiles once with
        # a symbolic size instead of once per size.
        fn = torch.compile(act)

    def fwd():
        with torch.no_grad():
            return fn(x, *params)

    def fwd_bwd():
        y = fn(x_grad, *params_grad)
        return y, torch.autograd.grad(y, [x_grad, *params_grad], dy)

    return {"fwd": fwd, "fwd+bwd": fwd_bwd}


def _configure_torch():
    import torch

    torch._dynamo.config.cache_size_limit = 256
    if hasattr(torch._dynamo.config, "recompile_limit"):
        torch._dynamo.config.recompile_limit = 256


def child(args):
    import keras

    from benchmarks.activations import ACTIVATIONS

    backend = keras.backend.backend()
    _common.apply_thread_limits()
    make = {"tensorflow": _tensorflow_fns, "jax": _jax_fns,
            "torch": _torch_fns}[backend]
    if backend == "torch":
        _configure_torch()
    rows = []
    for mode in args.modes:
        for exponent in args.sizes:
            x, dy, params = _inputs(exponent)
            for pass_name in ("fwd", "fwd+bwd"):
                fns, errors, first = {}, {}, {}
                for name, (act, n_params) in ACTIVATIONS.items():
                    if args.activations and name not in args.activations:
                        continue
                    try:
                        fn = make(act, n_params, x, dy, params, mode)[pass_name]
                        start = _common.clock("wall")()
                        fn()  # compiles (compiled mode) and checks it runs
                        first[name] = _common.clock("wall")() - start
                        fns[name] = fn
                    except Exception as error:  # recorded, not hidden
                        traceback.print_exc()
                        errors[name] = f"{type(error).__name__}: {error}"[:300]
                stats = _common.time_side_by_side(
                    fns, min_time=args.min_time, rounds=args.rounds,
                    stats=True)
                times = {n: v[0] for n, v in stats.items()}
                spreads = {n: v[1:] for n, v in stats.items()}
                for name in fns.keys() | errors.keys():
                    rows.append({
                        "backend": backend, "mode": mode, "pass": pass_name,
                        "exponent": exponent, "activation": name,
                        "seconds": times.get(name), "error": errors.get(name),
                        "spread": spreads.get(name),
                        "first_call": first.get(name),
                    })
                print(f"{backend} {mode} {_label(exponent)} {pass_name} done "
                      f"(load {_common.load_average()})", file=sys.stderr,
                      flush=True)
    _common.emit_rows(rows)


# --------------------------------------------------------------------------
# Parent side: report.
# --------------------------------------------------------------------------


def _ratio(a, b):
    if a is None or b is None:
        return "n/a"
    return f"{a / b:.2f}"


def _report_sections(rows, bandwidth, keys):
    by_key = {(r["backend"], r["mode"], r["pass"], str(r["exponent"]),
               r["activation"]): r for r in rows}
    keys = [str(k) for k in keys]
    backends = sorted({r["backend"] for r in rows},
                      key=_common.BACKENDS.index)
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    activations = list(dict.fromkeys(r["activation"] for r in rows))
    sections = []

    # Headline: forward+backward, APALU (fused default) and APALU (ops, the
    # unfused path of before) against GELU, per shape and mode.
    head = []
    for backend in backends:
        for mode in modes:
            for key in keys:
                get = lambda act, k="seconds": by_key.get(
                    (backend, mode, "fwd+bwd", key, act), {}).get(k)
                apalu, gelu, relu = get("APALU"), get("GELU"), get("ReLU")
                before = get("APALU (ops)")
                spread = get("APALU", "spread")
                met = "n/a"
                if apalu and gelu:
                    met = "yes" if apalu / gelu <= TARGET_RATIO_GELU else "**no**"
                head.append([
                    backend, mode, _label(key), _common.fmt_time(apalu)
                    + (f" ({_common.fmt_time(spread[0])}-"
                       f"{_common.fmt_time(spread[1])})" if spread else ""),
                    _common.fmt_time(gelu), _ratio(apalu, gelu),
                    _ratio(before, gelu), _ratio(apalu, relu),
                    f"{get('APALU', 'first_call') or 0:.2f} s", met])
    sections.append(
        ["## Headline: forward+backward (gradients of x, a and b), float32",
         "",
         f"Target: APALU fwd+bwd <= {TARGET_RATIO_GELU}x GELU in each "
         "backend's default mode. 'APALU (ops)' is the unfused path "
         "(`implementation=\"ops\"`, the default before the fused path), "
         "timed in the same rounds.", ""]
        + _common.markdown_table(
            ["backend", "mode", "shape", "APALU median (min-max)", "GELU",
             "APALU / GELU", "APALU (ops) / GELU", "APALU / ReLU",
             "APALU first call", "target met"], head)
    )

    errors = [r for r in rows if r.get("error")]
    if errors:
        seen = {}
        for r in errors:
            seen.setdefault((r["backend"], r["mode"], r["error"]), []).append(
                f"{r['activation']} {_label(str(r['exponent']))} {r['pass']}")
        lines = ["## Failures (recorded, not hidden)", ""]
        for (backend, mode, error), where in seen.items():
            lines.append(f"- {backend} {mode}: `{error}` "
                         f"({len(where)} cases, e.g. {where[0]})")
        sections.append(lines)

    largest = max(keys, key=_elements)
    for backend in backends:
        for mode in modes:
            for pass_name in ("fwd", "fwd+bwd"):
                table = []
                for act in activations:
                    cells = [act]
                    for e in keys:
                        get = lambda a: by_key.get(
                            (backend, mode, pass_name, e, a), {}).get("seconds")
                        t = get(act)
                        cells.append(
                            f"{_common.fmt_time(t)} ({_ratio(t, get('ReLU'))} / "
                            f"{_ratio(t, get('GELU'))})")
                    t = by_key.get((backend, mode, pass_name, largest,
                                    act), {}).get("seconds")
                    if t:
                        rate = (BYTES_PER_ELEMENT[pass_name]
                                * _elements(largest) / t)
                        cells.append(f"{rate / 1e9:.1f} GB/s "
                                     f"({100 * rate / bandwidth:.0f}%)")
                    else:
                        cells.append("n/a")
                    table.append(cells)
                header = (["activation"]
                          + [f"{_label(e)}: median (xReLU / xGELU)"
                             for e in keys]
                          + [f"achieved at {_label(largest)} (% of copy BW)"])
                sections.append(
                    [f"## {backend}, {mode}, {pass_name}", ""]
                    + _common.markdown_table(header, table))
    return sections


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+",
                        help="exponents k of the sizes 2^k, shape (2^k/64, 64), "
                             "instead of --shapes")
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES),
                        help="named shapes (default: nhwc rows)")
    _common.add_run_arguments(
        parser, quick_help="sizes 2^18 and 2^22, 3 rounds: a smoke run")
    parser.add_argument("--modes", nargs="+", default=["default"],
                        choices=["default", "eager", "compiled"])
    parser.add_argument("--rounds", type=int, help="interleaved rounds (5)")
    parser.add_argument("--activations", nargs="+",
                        help="names to time (default: all of "
                             "benchmarks/activations.py)")
    parser.add_argument("--min-time", type=float,
                        help="seconds per timed batch of calls (0.05)")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = args.shapes or ["nhwc", "rows"]
    args.sizes = [str(k) for k in args.sizes]
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    if args.min_time is None:
        args.min_time = 0.02 if args.quick else 0.05
    return args


def child_args(args):
    extra = ["--activations", *args.activations] if args.activations else []
    return (extra + ["--sizes", *args.sizes, "--modes", *args.modes,
             "--rounds", str(args.rounds), "--min-time", str(args.min_time)])


def main(argv):
    args = parse_args(argv)
    if args.child:
        child(args)
        return 0
    rows, bandwidth, failures = _common.run_backends(
        __file__, args, child_args(args))
    sections = _report_sections(rows, bandwidth, args.sizes) if rows else []
    if failures:
        sections.append(failures)
    sections.append([
        "Cells: median time per call over interleaved rounds (ratio to ReLU / "
        "to GELU in the same run). GELU is the exact erf form "
        "(keras.activations.gelu's default); 'GELU (tanh)' the approximation. "
        "Tensors: float32; nhwc (32, 64, 64, 32) with per-channel slopes, "
        "rows (65536, 64) with per-unit slopes, 2^k (2^k/64, 64) per column. "
        "fwd+bwd: gradients for the input and the slopes from a given "
        "upstream gradient. Achieved bandwidth counts 8 (fwd) or 20 (fwd+bwd) "
        "bytes per element, the minimum traffic of an element-wise op.",
    ])
    _common.write_report("op_benchmark", "APALU op benchmark", sections,
                         bandwidth, args.output)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
