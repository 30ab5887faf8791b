"""Train-step time of the sign-language CNN with each activation, per backend.

    python benchmarks/model_benchmark.py
    python benchmarks/model_benchmark.py --quick
    python benchmarks/model_benchmark.py --model mypackage.models:build --batch 64

Builds the model once per activation (ReLU, GELU, ELU, PReLU, APALU, APALU
with plain autodiff; per-channel slopes after each convolution), compiles it
with Adam and sparse categorical cross-entropy (Keras's default jit_compile,
or --jit-compile), and times `model.train_on_batch` on one fixed batch of
random 64x64x1 images. The models are timed in turn, round after round, so the
ratios to ReLU are measured side by side on the same load.
"""

import argparse
import pathlib
import sys
import traceback

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks import _common  # noqa: E402

TARGET_RATIO_RELU = 1.15


def child(args):
    import keras
    import numpy as np

    from benchmarks import models

    backend = keras.backend.backend()
    _common.apply_thread_limits()
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    steps, errors, resolved = {}, {}, {}
    names = [n for n in models.ACTIVATION_LAYERS
             if not args.activations or n in args.activations]
    for name in names:
        try:
            model, input_shape, num_classes = models.build(args.model, name)
            model.compile(optimizer="adam",
                          loss="sparse_categorical_crossentropy",
                          jit_compile=jit)
            rng = np.random.default_rng(0)
            x = rng.standard_normal((args.batch, *input_shape)).astype("float32")
            y = rng.integers(0, num_classes, (args.batch,))
            step = (lambda m=model, x=x, y=y: m.train_on_batch(x, y))
            for _ in range(args.warmup):
                step()
            steps[name] = step
            resolved[name] = str(model.jit_compile)
        except Exception as error:
            traceback.print_exc()
            errors[name] = f"{type(error).__name__}: {error}"[:300]
    stats = _common.time_side_by_side(steps, min_time=args.min_time,
                                      rounds=args.rounds, stats=True)
    rows = [{"backend": backend, "activation": name,
             "seconds": stats[name][0] if name in stats else None,
             "spread": stats[name][1:] if name in stats else None,
             "jit_compile": resolved.get(name), "error": errors.get(name)}
            for name in names]
    _common.emit_rows(rows)


def _sections(rows, args):
    head, sections = [], []
    for backend in _common.BACKENDS:
        sub = {r["activation"]: r for r in rows if r["backend"] == backend}
        if not sub:
            continue
        relu = sub.get("ReLU", {}).get("seconds")
        table = []
        for name, r in sub.items():
            t = r.get("seconds")
            spread = r.get("spread")
            table.append([name, _common.fmt_time(t) + (
                f" ({_common.fmt_time(spread[0])}-{_common.fmt_time(spread[1])})"
                if spread else ""),
                          "n/a" if not t or not relu else f"{t / relu:.2f}",
                          f"{args.batch / t:.0f}" if t else "n/a",
                          r.get("jit_compile") or "", r.get("error") or ""])
        sections.append([f"## {backend}", ""] + _common.markdown_table(
            ["activation", "train step", "x ReLU", "images/s", "jit_compile",
             "error"], table))
        apalu = sub.get("APALU", {}).get("seconds")
        plain = sub.get("APALU (ops)", {}).get("seconds")
        gelu = sub.get("GELU", {}).get("seconds")
        ratio = apalu / relu if apalu and relu else None
        head.append([backend, _common.fmt_time(relu), _common.fmt_time(apalu),
                     "n/a" if ratio is None else f"{ratio:.2f}",
                     "n/a" if not (plain and relu) else f"{plain / relu:.2f}",
                     "n/a" if not (gelu and relu) else f"{gelu / relu:.2f}",
                     "n/a" if ratio is None else
                     ("yes" if ratio <= TARGET_RATIO_RELU else "**no**")])
    return [[f"## Headline: train step, {args.model}, batch {args.batch}", "",
             f"Target: APALU train step <= {TARGET_RATIO_RELU}x ReLU.", ""]
            + _common.markdown_table(
                ["backend", "ReLU", "APALU", "APALU / ReLU",
                 "APALU (ops, unfused) / ReLU", "GELU / ReLU", "target met"],
                head)
            ] + sections


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _common.add_run_arguments(parser, quick_help="batch 16, 3 rounds: a smoke run")
    parser.add_argument("--model", default="cnn",
                        help="'cnn', 'cnn-pool-first', 'mlp', 'app' "
                        "(applications/sign_language) "
                        "or 'module:function' (see benchmarks/models.py)")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--jit-compile", default="auto",
                        choices=["auto", "true", "false"])
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--min-time", type=float)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--activations", nargs="+",
                        help="names of benchmarks/models.py to time (default all)")
    args = parser.parse_args(argv)
    if args.batch is None:
        args.batch = 16 if args.quick else 32
    if args.rounds is None:
        args.rounds = 3 if args.quick else 7
    if args.min_time is None:
        args.min_time = 0.1 if args.quick else 0.3
    return args


def main(argv):
    args = parse_args(argv)
    if args.child:
        child(args)
        return 0
    child_args = ["--model", args.model, "--batch", str(args.batch),
                  "--jit-compile", args.jit_compile, "--rounds",
                  str(args.rounds), "--min-time", str(args.min_time),
                  "--warmup", str(args.warmup)]
    if args.activations:
        child_args += ["--activations", *args.activations]
    rows, bandwidth, failures = _common.run_backends(__file__, args, child_args)
    sections = _sections(rows, args) if rows else []
    if failures:
        sections.append(failures)
    sections.append([
        "Train step: median time (min-max) of `model.train_on_batch` over "
        "interleaved rounds (Adam, sparse categorical cross-entropy, random "
        "data). jit_compile: what Keras resolved for the model (TensorFlow: "
        "XLA, JAX: always jitted, torch: eager unless true)."])
    _common.write_report("model_benchmark", "APALU train-step time", sections,
                         bandwidth, args.output)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
