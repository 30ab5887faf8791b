"""Train-step memory: APALU against ReLU and GELU, per backend.

    python -m benchmarks memory
    python -m benchmarks memory --backends torch --activations ReLU APALU
    python -m benchmarks memory --model mypackage.models:build

One training step = forward, loss, gradients of all trainable weights and a
plain SGD update, on the sign-language CNN (64x64x1 input, batch 64) and on a
deep MLP (8 x Dense(1024), batch 256); default activations ReLU, GELU, APALU
and APALU (plain). Each backend runs in its own process
and reports two figures per model and activation:

* Saved for backward: the bytes of the tensors the forward pass keeps for the
  backward pass (activation memory, the part an activation can change).
  - torch: `torch.autograd.graph.saved_tensors_hooks` adds up every tensor
    autograd saves (each storage once), in an eager step.
  - jax: `saved_residuals` of the (not yet XLA-optimised) traced step: the
    residuals reverse-mode autodiff keeps.
  - tensorflow: in the step's tf.function graph, the forward-pass tensors
    that gradient ops read (each once; variable reads, constants and the input
    batch excluded).
* Peak step memory: what the step needs at its peak over what was allocated
  before it.
  - tensorflow: the CPU allocator's peak (TF_CPU_ALLOCATOR_USE_BFC=true makes
    `tf.config.experimental.get_memory_info("CPU:0")` report it) minus the
    bytes in use before the step, after a warm-up step; for tf.function and
    for tf.function(jit_compile=True). oneDNN scratch memory outside TF's
    allocator is not counted.
  - jax: `memory_analysis()` of the compiled (jax.jit) step: temporary
    buffers plus outputs (the new weights), as XLA plans them after fusion.
  - torch: the allocations and frees `torch.profiler` records
    (profile_memory=True), summed in time order: the highest level reached
    above the level at the start of the step (eager).
"""

import os
import sys
import time
import traceback

from benchmarks import _common

TITLE = "APALU training-step memory"
CANDIDATES = _common.ACTIVATION_NAMES
DEFAULT_ACTIVATIONS = ("ReLU", "GELU", "APALU", "APALU (plain)")
TARGET_RATIO_RELU = 1.1
LEARNING_RATE = 0.01


def add_arguments(parser):
    parser.add_argument(
        "--model",
        default="cnn",
        help="'cnn', 'cnn-pool-first', 'app' or "
        "'module:function' (benchmarks/models.py)",
    )
    parser.add_argument("--cnn-batch", type=int, help="default 64; --quick: 4")
    parser.add_argument("--mlp-batch", type=int, help="default 256; --quick: 16")


def settle(args):
    args.cnn_batch = args.cnn_batch or (4 if args.quick else 64)
    args.mlp_batch = args.mlp_batch or (16 if args.quick else 256)


def _batch(input_shape, num_classes, batch_size, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size, *input_shape)).astype("float32")
    y = rng.integers(0, num_classes, (batch_size,)).astype("int32")
    return x, y


# --------------------------------------------------------------------------
# One backend per process.
# --------------------------------------------------------------------------


def _tensorflow_memory(model, x, y):
    import tensorflow as tf

    loss_fn = _loss()
    x, y = tf.constant(x), tf.constant(y)
    variables = model.trainable_variables

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, variables)
        for v, g in zip(variables, grads):
            v.assign_sub(LEARNING_RATE * g)
        return loss

    result = {}
    graph_step = tf.function(step)
    graph = graph_step.get_concrete_function(x, y).graph
    result["saved"] = _tf_saved_bytes(graph)
    for label, fn in (
        ("peak", graph_step),
        ("peak_xla", tf.function(step, jit_compile=True)),
    ):
        fn(x, y)  # trace, compile, warm up
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        tf.config.experimental.reset_memory_stats("CPU:0")
        fn(x, y)
        peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
        result[label] = peak - before
    return result


def _tf_saved_bytes(graph):
    """Bytes of forward tensors read by the gradient ops of a tape graph."""

    def is_gradient(op):
        return op.name.startswith("gradient_tape/")

    skip = {"ReadVariableOp", "Const", "Placeholder", "Shape", "Identity"}
    saved = {}
    for op in graph.get_operations():
        if not is_gradient(op):
            continue
        for t in op.inputs:
            source = t.op
            if is_gradient(source) or source.type in skip:
                continue
            if source.type == "Identity" or not t.shape.is_fully_defined():
                continue
            saved[t.name] = t.shape.num_elements() * t.dtype.size
    return sum(saved.values())


def _loss():
    import keras

    return keras.losses.SparseCategoricalCrossentropy()


def _jax_memory(model, x, y):
    import jax
    import jax.numpy as jnp

    loss_fn = _loss()
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    x, y = jnp.asarray(x), jnp.asarray(y)

    def loss_of(trainable, non_trainable, x, y):
        pred, non_trainable = model.stateless_call(
            trainable, non_trainable, x, training=True
        )
        return loss_fn(y, pred), non_trainable

    def step(trainable, non_trainable, x, y):
        (loss, non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(
            trainable, non_trainable, x, y
        )
        trainable = [w - LEARNING_RATE * g for w, g in zip(trainable, grads)]
        return loss, trainable, non_trainable

    result = {}
    try:
        from jax._src.ad_checkpoint import saved_residuals

        residuals = saved_residuals(
            lambda t: loss_of(t, non_trainable, x, y)[0], trainable
        )
        result["saved"] = sum(
            int(aval.size) * aval.dtype.itemsize
            for aval, _ in residuals
            if "argument" not in str(_) and hasattr(aval, "size")
        )
    except Exception as error:  # private API: record and go on
        result["saved_error"] = f"{type(error).__name__}: {error}"[:200]
    compiled = jax.jit(step).lower(trainable, non_trainable, x, y).compile()
    analysis = compiled.memory_analysis()
    result["peak"] = (
        analysis.temp_size_in_bytes
        + analysis.output_size_in_bytes
        - analysis.alias_size_in_bytes
    )
    result["temp"] = analysis.temp_size_in_bytes
    return result


def _torch_memory(model, x, y):
    import torch

    loss_fn = _loss()
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    trainable = [v.value for v in model.trainable_variables]

    def step(saved=None):
        pred = model(x, training=True)
        loss = loss_fn(y, pred)
        grads = torch.autograd.grad(loss, trainable)
        with torch.no_grad():
            for w, g in zip(trainable, grads):
                w.sub_(LEARNING_RATE * g)
        return loss

    step()  # warm up
    storages = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    excluded = {w.untyped_storage().data_ptr() for w in trainable}
    excluded.add(x.untyped_storage().data_ptr())
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        pred = model(x, training=True)
        loss = loss_fn(y, pred)
    saved = sum(n for ptr, n in storages.items() if ptr not in excluded)
    del pred, loss

    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
    ) as prof:
        step()
    # Each allocation is booked (once, as self memory) on the op that made
    # it, each free on a "[memory]" event; in time order they give the level.
    events = [e for e in prof.events() if e.self_cpu_memory_usage]
    events.sort(key=lambda e: e.time_range.start)
    level = peak = 0
    for e in events:
        level += e.self_cpu_memory_usage
        peak = max(peak, level)
    return {"saved": saved, "peak": peak}


def child(args):
    # Must precede importing tensorflow: gives the CPU allocator statistics.
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    import keras

    from benchmarks import models

    backend = keras.backend.backend()
    measure = {
        "tensorflow": _tensorflow_memory,
        "jax": _jax_memory,
        "torch": _torch_memory,
    }[backend]
    rows = []
    specs = ((args.model, args.cnn_batch), ("mlp", args.mlp_batch))
    for spec, batch_size in specs:
        for name in args.activations or DEFAULT_ACTIVATIONS:
            row = {
                "backend": backend,
                "model": spec,
                "batch": batch_size,
                "activation": name,
            }
            start = time.perf_counter()
            try:
                model, input_shape, num_classes = models.build(spec, name)
                x, y = _batch(input_shape, num_classes, batch_size)
                row.update(measure(model, x, y))
            except Exception as error:
                traceback.print_exc()
                row["error"] = f"{type(error).__name__}: {error}"[:300]
            row["elapsed"] = round(time.perf_counter() - start, 1)
            rows.append(row)
            print(f"{backend} {spec} {name}: {row}", file=sys.stderr, flush=True)
    _common.emit_rows(rows)


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------

_PEAK_COLUMNS = {
    "tensorflow": [
        ("peak", "peak, tf.function"),
        ("peak_xla", "peak, tf.function(jit_compile=True)"),
    ],
    "jax": [("peak", "peak, jax.jit (XLA temp + outputs)")],
    "torch": [("peak", "peak, eager (profiler)")],
}


def _fmt_mib(n):
    return "n/a" if n is None else f"{n / 2**20:.1f} MiB"


def _ratio(a, b):
    return "n/a" if not a or not b else f"{a / b:.2f}"


def _sections(rows):
    sections = []
    headline = []
    for backend in _common.BACKENDS:
        for spec in dict.fromkeys(r["model"] for r in rows):
            sub = {
                r["activation"]: r
                for r in rows
                if r["backend"] == backend and r["model"] == spec
            }
            if not sub:
                continue
            relu = sub.get("ReLU", {})
            apalu = sub.get("APALU", {})
            plain = sub.get("APALU (plain)", {})
            for key, label in _PEAK_COLUMNS[backend]:
                ratio = (
                    apalu.get(key) / relu.get(key)
                    if apalu.get(key) and relu.get(key)
                    else None
                )
                headline.append(
                    [
                        backend,
                        spec,
                        label,
                        _ratio(apalu.get(key), relu.get(key)),
                        _ratio(plain.get(key), relu.get(key)),
                        "n/a"
                        if ratio is None
                        else ("yes" if ratio <= TARGET_RATIO_RELU else "**no**"),
                        _ratio(apalu.get("saved"), relu.get("saved")),
                        _saving(apalu.get("saved"), plain.get("saved")),
                    ]
                )
            table = []
            for name, r in sub.items():
                cells = [
                    name,
                    _fmt_mib(r.get("saved")),
                    _ratio(r.get("saved"), relu.get("saved")),
                ]
                for key, _ in _PEAK_COLUMNS[backend]:
                    cells += [_fmt_mib(r.get(key)), _ratio(r.get(key), relu.get(key))]
                cells.append(r.get("error") or r.get("saved_error") or "")
                table.append(cells)
            header = ["activation", "saved for backward", "x ReLU"]
            for _, label in _PEAK_COLUMNS[backend]:
                header += [label, "x ReLU"]
            header.append("note")
            batch = next(iter(sub.values()))["batch"]
            sections.append(
                [f"## {backend}, {spec} (batch {batch})", ""]
                + _common.markdown_table(header, table)
            )
    sections.insert(
        0,
        [
            "## Headline",
            "",
            f"Target: APALU peak step memory <= {TARGET_RATIO_RELU}x ReLU; the "
            "fused default saves memory against the plain autodiff path.",
            "",
        ]
        + _common.markdown_table(
            [
                "backend",
                "model",
                "peak measure",
                "APALU / ReLU",
                "APALU (plain) / ReLU",
                "target met",
                "saved-for-backward APALU / ReLU",
                "APALU saves against plain (saved for backward)",
            ],
            headline,
        ),
    )
    return sections


def _saving(custom, plain):
    if not custom or not plain:
        return "n/a"
    return (
        f"{(plain - custom) / 2**20:.1f} MiB "
        f"({100 * (plain - custom) / plain:.0f}% of plain's)"
    )


def main(args):
    rows, failures = _common.run_children(args)
    sections = _sections(rows) if rows else []
    sections.append([(__doc__.split("\n\n", 2)[2]).strip()])
    _common.write_report(args, TITLE, sections, rows, failures)
    return _common.exit_status(rows, failures)
