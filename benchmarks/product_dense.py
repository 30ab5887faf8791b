"""ProductDense (LRNN) against a Dense MLP of equal parameter count, per backend.

    python -m benchmarks product-dense
    python -m benchmarks product-dense --backends jax

Two networks per configuration, with the same number of trainable weights
(the MLP's width is chosen to match, within 2 %):

* LRNN: ProductDense(r, d, h) - LayerNorm - ProductDense(r, d, h) - LayerNorm -
  Dense(classes), sin inner activation, per-neuron functions;
* MLP: Dense(w, relu) - Dense(w, relu) - Dense(classes).

Configurations: a coordinate network like applications/implicit_fields' (2
inputs, r = 16, d = 8, h = 4, about 6,100 weights, batch 1024) and a wider
one (32 inputs, r = 32, d = 8, h = 8, about 30,000 weights, batch 256). One training
step is `model.train_on_batch` (forward, cross-entropy, gradients, Adam
update) after `compile()` with the backend's defaults (jax.jit, tf.function,
eager torch); the two models are timed side by side (interleaved rounds,
median) in one process per backend, so their ratio is measured under the
same load. Peak step memory and the bytes saved for the backward pass are
measured as in `python -m benchmarks memory` (its functions are reused).
"""

import os
import sys
import time
import traceback

from benchmarks import _common

TITLE = "ProductDense (LRNN) vs Dense MLP, train step"
CANDIDATES = None
CLASSES = 10
#: name -> (inputs, projection width d, hidden h, LRNN units r, batch).
CONFIGS = {
    "fields (2 in, d=8, h=4)": (2, 8, 4, 16, 1024),
    "wide (32 in, d=8, h=8)": (32, 8, 8, 32, 256),
}
QUICK_BATCH = 16


def add_arguments(parser):
    pass


def settle(args):
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.min_time = args.min_time or (0.01 if args.quick else 0.05)


def _lrnn(inputs, d, h, units):
    import keras

    from keras_apalu import layers

    return keras.Sequential(
        [
            keras.Input((inputs,)),
            layers.ProductDense(units, projection_width=d, hidden=h),
            keras.layers.LayerNormalization(),
            layers.ProductDense(units, projection_width=d, hidden=h),
            keras.layers.LayerNormalization(),
            keras.layers.Dense(CLASSES),
        ]
    )


def _mlp(inputs, width):
    import keras

    return keras.Sequential(
        [
            keras.Input((inputs,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(CLASSES),
        ]
    )


def _mlp_width(inputs, params):
    def count(w):
        return inputs * w + w + w * w + w + w * CLASSES + CLASSES

    return min(range(1, 4096), key=lambda w: abs(count(w) - params))


def _memory(model, x, y):
    import keras

    from benchmarks import memory as mb

    measure = {
        "tensorflow": mb._tensorflow_memory,
        "jax": mb._jax_memory,
        "torch": mb._torch_memory,
    }[keras.backend.backend()]
    return measure(model, x, y)


def child(args):
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    import keras
    import numpy as np

    _common.apply_thread_limits()
    backend = keras.backend.backend()
    rows = []
    configs = list(CONFIGS.items())[:1] if args.quick else CONFIGS.items()
    for config, (inputs, d, h, units, batch) in configs:
        batch = QUICK_BATCH if args.quick else batch
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (batch, inputs)).astype("float32")
        y = rng.integers(0, CLASSES, (batch,)).astype("int32")
        keras.utils.set_random_seed(0)
        lrnn = _lrnn(inputs, d, h, units)
        params = lrnn.count_params()
        mlp = _mlp(inputs, _mlp_width(inputs, params))
        models = {"ProductDense": lrnn, "Dense MLP": mlp}
        row = {
            "backend": backend,
            "config": config,
            "batch": batch,
            "params": {k: m.count_params() for k, m in models.items()},
        }
        start = time.perf_counter()
        try:
            steps = {}
            for name, model in models.items():
                model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
                steps[name] = lambda m=model, x=x, y=y: m.train_on_batch(x, y)
            row["time"] = _common.time_side_by_side(
                steps, min_time=args.min_time, rounds=args.rounds
            )
            row["memory"] = {}
            for name in models:
                keras.utils.set_random_seed(0)
                fresh = (
                    _lrnn(inputs, d, h, units)
                    if name == "ProductDense"
                    else _mlp(inputs, _mlp_width(inputs, params))
                )
                row["memory"][name] = _memory(fresh, x, y)
        except Exception as error:
            traceback.print_exc()
            row["error"] = f"{type(error).__name__}: {error}"[:300]
        row["elapsed"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(f"{backend} {config}: {row}", file=sys.stderr, flush=True)
    _common.emit_rows(rows)


def _ratio(a, b):
    return "n/a" if not a or not b else f"{a / b:.2f}x"


def _mib(n):
    return "n/a" if n is None else f"{n / 2**20:.2f} MiB"


def _sections(rows):
    table = []
    for r in rows:
        if "error" in r:
            table.append(
                [
                    r["backend"],
                    r["config"],
                    r["batch"],
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    r["error"],
                ]
            )
            continue
        t, m = r["time"], r["memory"]
        lrnn, mlp = m["ProductDense"], m["Dense MLP"]
        table.append(
            [
                r["backend"],
                r["config"],
                r["batch"],
                f"{r['params']['ProductDense']:,} / {r['params']['Dense MLP']:,}",
                _common.fmt_spread(t["ProductDense"]),
                _common.fmt_spread(t["Dense MLP"]),
                _ratio(t["ProductDense"][0], t["Dense MLP"][0]),
                f"{_mib(lrnn.get('peak'))} / {_mib(mlp.get('peak'))}",
                _ratio(lrnn.get("peak"), mlp.get("peak")),
                _ratio(lrnn.get("saved"), mlp.get("saved")),
            ]
        )
    header = [
        "backend",
        "network",
        "batch",
        "weights LRNN / MLP",
        "step LRNN",
        "step MLP",
        "time ratio",
        "peak step memory LRNN / MLP",
        "peak ratio",
        "saved-for-backward ratio",
    ]
    return [
        ["## Train step: ProductDense network / Dense MLP", ""]
        + _common.markdown_table(header, table)
    ]


def main(args):
    rows, failures = _common.run_children(args)
    sections = _sections(rows) if rows else []
    sections.append([(__doc__.split("\n\n", 2)[2]).strip()])
    _common.write_report(args, TITLE, sections, rows, failures)
    return _common.exit_status(rows, failures)
