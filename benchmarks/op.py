"""Op cost: APALU against ReLU, GELU, ELU and PReLU, forward and train-step form.

    python -m benchmarks op
    python -m benchmarks op --shapes 2^20 2^22 --modes eager compiled

Shapes: "nhwc" is a (32, 64, 64, 32) feature map with per-channel slopes,
"rows" a (65536, 64) matrix with per-unit slopes, "2^k" a (2^k / 64, 64)
matrix. Modes: "default" is each backend's Keras default on CPU (TensorFlow
graph mode, `tf.function` without XLA; `jax.jit`; eager torch), "eager",
and "compiled" (`tf.function(jit_compile=True)`, `jax.jit`, `torch.compile`).

Three passes per activation: "fwd" (inference); "grad", the form a train
step uses (the headline): the gradient of the scalar loss `sum(f(x) ** 2)`
with respect to x and the activation's own parameters (none for ReLU,
GELU and ELU; the per-channel slope of PReLU; both slopes of APALU); and
"vjp", the output with its vector-Jacobian product for a given upstream
gradient (`jax.vjp`, `GradientTape.gradient(y, ..., output_gradients=u)`,
`torch.autograd.grad(y, ..., grad_outputs=u)`), beside it. Every
activation is timed in the same rounds, interleaved, so the ratios to the
anchors are measured under the same load; cells are medians with the
rounds' spread. Achieved bandwidth counts the least traffic of an
element-wise op: 8 bytes per element forward, 20 for the gradient, 16 for
the vjp.
"""

from benchmarks import _common

TITLE = "APALU op benchmark"
CANDIDATES = _common.ACTIVATION_NAMES
SHAPES = {"nhwc": (32, 64, 64, 32), "rows": (65536, 64)}
PASSES = ("fwd", "grad", "vjp")
BYTES_PER_ELEMENT = {"fwd": 8, "grad": 20, "vjp": 16}
TARGET_RATIO_GELU = 1.2
TARGET_RATIO_PRELU = 1.5
#: The anchors of the headline table and of each section's ratios.
ANCHORS = ("ReLU", "PReLU", "GELU")


def add_arguments(parser):
    parser.add_argument(
        "--shapes",
        nargs="+",
        help="'nhwc', 'rows' or '2^k' (default: nhwc rows; --quick: 2^14)",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["default"],
        choices=["default", "eager", "compiled"],
    )


def settle(args):
    for key in args.shapes or ():
        if key not in SHAPES and not (key.startswith("2^") and key[2:].isdigit()):
            raise SystemExit(f"--shapes: {key!r} is not nhwc, rows or 2^k")
    args.shapes = args.shapes or (["2^14"] if args.quick else ["nhwc", "rows"])
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.min_time = args.min_time or (0.01 if args.quick else 0.05)


def shape(key):
    if key in SHAPES:
        return SHAPES[key]
    return (2 ** int(key[2:]) // 64, 64)


def _elements(key):
    n = 1
    for d in shape(key):
        n *= d
    return n


def inputs(key, seed=0):
    """`(x, params, upstream)`: a float32 tensor of shape `key`, two slope
    vectors and an upstream gradient of the shape of `x` (for "vjp")."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape(key)).astype("float32")
    params = [rng.uniform(0.5, 1.5, (x.shape[-1],)).astype("float32") for _ in "ab"]
    upstream = rng.standard_normal(x.shape).astype("float32")
    return x, params, upstream


# --------------------------------------------------------------------------
# Per backend: the forward and the loss gradient as argument-free callables.
# --------------------------------------------------------------------------


def _tensorflow_fns(act, x, params, upstream, mode):
    import tensorflow as tf

    x, params = tf.constant(x), [tf.constant(p) for p in params]
    upstream = tf.constant(upstream)

    def fwd(x, *params):
        return act(x, *params)

    def grad(x, *params):
        with tf.GradientTape() as tape:
            tape.watch([x, *params])
            loss = tf.reduce_sum(tf.square(act(x, *params)))
        return tape.gradient(loss, [x, *params])

    def vjp(u, x, *params):
        with tf.GradientTape() as tape:
            tape.watch([x, *params])
            y = act(x, *params)
        return y, tape.gradient(y, [x, *params], output_gradients=u)

    if mode != "eager":
        jit = mode == "compiled"
        fwd = tf.function(fwd, jit_compile=jit)
        grad = tf.function(grad, jit_compile=jit)
        vjp = tf.function(vjp, jit_compile=jit)
    return {
        "fwd": lambda: fwd(x, *params),
        "grad": lambda: grad(x, *params),
        "vjp": lambda: vjp(upstream, x, *params),
    }


def _jax_fns(act, x, params, upstream, mode):
    import jax
    import jax.numpy as jnp

    x, params = jnp.asarray(x), [jnp.asarray(p) for p in params]
    upstream = jnp.asarray(upstream)
    argnums = tuple(range(1 + len(params)))
    fwd = act
    grad = jax.grad(lambda *v: jnp.sum(jnp.square(act(*v))), argnums=argnums)

    def vjp(u, *v):
        y, pull = jax.vjp(act, *v)
        return y, pull(u)

    if mode != "eager":
        fwd, grad, vjp = jax.jit(fwd), jax.jit(grad), jax.jit(vjp)
    return {
        "fwd": lambda: jax.block_until_ready(fwd(x, *params)),
        "grad": lambda: jax.block_until_ready(grad(x, *params)),
        "vjp": lambda: jax.block_until_ready(vjp(upstream, x, *params)),
    }


def _torch_fns(act, x, params, upstream, mode):
    import torch

    torch._dynamo.config.cache_size_limit = 256
    x, params = torch.from_numpy(x), [torch.from_numpy(p) for p in params]
    upstream = torch.from_numpy(upstream)
    leaves = [v.clone().requires_grad_(True) for v in (x, *params)]
    fn = torch.compile(act) if mode == "compiled" else act

    def fwd():
        with torch.no_grad():
            return fn(x, *params)

    def grad():
        loss = torch.sum(torch.square(fn(*leaves)))
        return torch.autograd.grad(loss, leaves)

    def vjp():
        y = fn(*leaves)
        return y.detach(), torch.autograd.grad(y, leaves, grad_outputs=upstream)

    return {"fwd": fwd, "grad": grad, "vjp": vjp}


def backend_fns(act, n_params, x, params, mode, upstream=None):
    """`{"fwd": f, "grad": g, "vjp": v}` for `act` on this process's backend
    (`upstream`: the vjp's upstream gradient; zeros if not given)."""
    import keras
    import numpy as np

    if upstream is None:
        upstream = np.zeros_like(x)
    make = {"tensorflow": _tensorflow_fns, "jax": _jax_fns, "torch": _torch_fns}
    return make[keras.backend.backend()](act, x, params[:n_params], upstream, mode)


def time_candidates(candidates, args):
    """Rows of `{mode, shape, pass, activation, stats, first_call, error}`.

    `candidates` maps a name to `(fn, n_params)`; all are timed side by side
    per mode, shape and pass.
    """
    import traceback

    import keras

    _common.apply_thread_limits()
    rows = []
    for mode in args.modes:
        for key in args.shapes:
            x, params, upstream = inputs(key)
            for pass_name in PASSES:
                fns, errors, first = {}, {}, {}
                for name, (act, n_params) in candidates.items():
                    try:
                        fn = backend_fns(act, n_params, x, params, mode, upstream)[
                            pass_name
                        ]
                        start = _common.clock()()
                        fn()  # traces and compiles; checks that it runs
                        first[name] = _common.clock()() - start
                        fns[name] = fn
                    except Exception as error:  # recorded in the report
                        traceback.print_exc()
                        errors[name] = f"{type(error).__name__}: {error}"[:300]
                stats = _common.time_side_by_side(
                    fns, min_time=args.min_time, rounds=args.rounds
                )
                rows += [
                    {
                        "backend": keras.backend.backend(),
                        "mode": mode,
                        "shape": key,
                        "pass": pass_name,
                        "activation": name,
                        "stats": stats.get(name),
                        "first_call": first.get(name),
                        "error": errors.get(name),
                    }
                    for name in candidates
                ]
    return rows


def child(args):
    from benchmarks.activations import FUNCTIONS

    names = args.activations or CANDIDATES
    _common.emit_rows(time_candidates({n: FUNCTIONS[n] for n in names}, args))


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def _median(row):
    return row["stats"][0] if row and row.get("stats") else None


def tables(rows, shapes, bandwidth=None, anchors=ANCHORS):
    """One section per backend, mode and pass: each candidate's median
    (min-max) per shape and its ratio to each anchor present."""
    index = {
        (r["backend"], r["mode"], r["pass"], r["shape"], r["activation"]): r
        for r in rows
    }
    names = list(dict.fromkeys(r["activation"] for r in rows))
    anchors = [a for a in anchors if a in names]
    sections = []
    for backend in _common.BACKENDS:
        for mode in dict.fromkeys(r["mode"] for r in rows if r["backend"] == backend):
            for pass_name in PASSES:
                table = []
                for name in names:
                    cells = [name]
                    for key in shapes:
                        row = index.get((backend, mode, pass_name, key, name))
                        if row and row.get("error"):
                            cells.append(f"error: {row['error'][:60]}")
                            continue
                        t = _median(row)
                        ratios = " / ".join(
                            _common.ratio(
                                t,
                                _median(index.get((backend, mode, pass_name, key, a))),
                            )
                            for a in anchors
                        )
                        cells.append(
                            _common.fmt_spread(row and row.get("stats"))
                            + (f"; {ratios}" if anchors else "")
                        )
                    if bandwidth:
                        largest = max(shapes, key=_elements)
                        t = _median(
                            index.get((backend, mode, pass_name, largest, name))
                        )
                        rate = (
                            BYTES_PER_ELEMENT[pass_name] * _elements(largest) / t
                            if t
                            else 0
                        )
                        cells.append(
                            f"{rate / 1e9:.1f} GB/s ({100 * rate / bandwidth:.0f}%)"
                            if t
                            else "n/a"
                        )
                    table.append(cells)
                header = ["candidate"] + [
                    f"{key}: median (min-max)"
                    + (f"; x {' / x '.join(anchors)}" if anchors else "")
                    for key in shapes
                ]
                if bandwidth:
                    header.append("achieved (% of copy bandwidth)")
                sections.append(
                    [f"## {backend}, {mode}, {pass_name}", ""]
                    + _common.markdown_table(header, table)
                )
    return sections


def _headline_rows(index, backend, mode, key):
    """The headline row of one backend, mode and shape (none if APALU or
    GELU has no figure)."""
    names = ("APALU", "APALU (plain)", "ReLU", "PReLU", "GELU")

    def medians(pass_name):
        return {
            name: _median(index.get((backend, mode, pass_name, key, name)))
            for name in names
        }

    grad, vjp = medians("grad"), medians("vjp")
    if grad["APALU"] is None or grad["GELU"] is None:
        return []
    met = grad["APALU"] <= TARGET_RATIO_GELU * grad["GELU"] and (
        grad["PReLU"] is None or grad["APALU"] <= TARGET_RATIO_PRELU * grad["PReLU"]
    )
    return [
        [
            backend,
            mode,
            key,
            *(_common.fmt_time(grad[n]) for n in ("APALU", "ReLU", "PReLU", "GELU")),
            _common.ratio(grad["APALU"], grad["ReLU"]),
            _common.ratio(grad["APALU"], grad["PReLU"]),
            _common.ratio(grad["APALU"], grad["GELU"]),
            _common.ratio(grad["APALU (plain)"], grad["GELU"]),
            "yes" if met else "**no**",
            _common.ratio(vjp["APALU"], vjp["GELU"]),
        ]
    ]


def main(args):
    rows, failures = _common.run_children(args)
    bandwidth = _common.memory_bandwidth()
    index = {
        (r["backend"], r["mode"], r["pass"], r["shape"], r["activation"]): r
        for r in rows
    }
    headline = []
    for backend in _common.BACKENDS:
        for mode in args.modes:
            for key in args.shapes:
                headline += _headline_rows(index, backend, mode, key)
    sections = []
    if headline:
        sections.append(
            [
                "## Headline: gradient of sum(f(x)^2) w.r.t. x and the "
                "activation's own parameters",
                "",
                f"Target: APALU <= {TARGET_RATIO_GELU}x GELU and <= "
                f"{TARGET_RATIO_PRELU}x PReLU (per-channel slope, the "
                "fairest anchor) in each backend's default mode. The last "
                "column gives APALU / GELU in the vjp form (output and "
                "vector-Jacobian product) beside it.",
                "",
            ]
            + _common.markdown_table(
                [
                    "backend",
                    "mode",
                    "shape",
                    "APALU",
                    "ReLU",
                    "PReLU",
                    "GELU",
                    "APALU / ReLU",
                    "APALU / PReLU",
                    "APALU / GELU",
                    "APALU (plain) / GELU",
                    "target met",
                    "vjp form: APALU / GELU",
                ],
                headline,
            )
        )
    sections += tables(rows, args.shapes, bandwidth)
    sections.append([__doc__.split("\n\n", 2)[2].strip()])
    _common.write_report(
        args, TITLE, sections, rows, failures, extra={"bandwidth": bandwidth}
    )
    return _common.exit_status(rows, failures)
