"""Train-step time of a CNN (or any model) with each activation, per backend.

    python -m benchmarks model
    python -m benchmarks model --model mypackage.models:build --batch 64

Builds the model once per activation (per-channel slopes after each
convolution), compiles it with Adam and sparse categorical cross-entropy
(Keras's default jit_compile, or --jit-compile) and times
`model.train_on_batch`, a user's train step, on one fixed batch of random
images. All models are timed in the same rounds, interleaved, so the ratios
to ReLU are measured under the same load; cells are medians with the
rounds' spread. --model: "cnn" (the sign-language CNN of
benchmarks/models.py), "cnn-pool-first", "mlp", "app"
(applications/sign_language) or "module:function".
"""

from benchmarks import _common

TITLE = "APALU train-step time"
CANDIDATES = _common.ACTIVATION_NAMES
TARGET_RATIO_RELU = 1.15


def add_arguments(parser):
    parser.add_argument("--model", default="cnn", help="default: cnn")
    parser.add_argument("--batch", type=int, help="default 32; --quick: 4")
    parser.add_argument(
        "--jit-compile", default="auto", choices=["auto", "true", "false"]
    )
    parser.add_argument("--warmup", type=int, default=3)


def settle(args):
    args.batch = args.batch or (4 if args.quick else 32)
    args.rounds = args.rounds or (2 if args.quick else 7)
    args.min_time = args.min_time or (0.01 if args.quick else 0.3)
    if args.quick:
        args.warmup = 1


def child(args):
    import traceback

    import keras
    import numpy as np

    from benchmarks import models

    _common.apply_thread_limits()
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    steps, errors, resolved = {}, {}, {}
    names = args.activations or CANDIDATES
    for name in names:
        try:
            model, input_shape, num_classes = models.build(args.model, name)
            model.compile(
                optimizer="adam",
                loss="sparse_categorical_crossentropy",
                jit_compile=jit,
            )
            rng = np.random.default_rng(0)
            x = rng.standard_normal((args.batch, *input_shape)).astype("float32")
            y = rng.integers(0, num_classes, (args.batch,))
            for _ in range(args.warmup):
                model.train_on_batch(x, y)
            steps[name] = lambda m=model, x=x, y=y: m.train_on_batch(x, y)
            resolved[name] = str(model.jit_compile)
        except Exception as error:  # recorded in the report
            traceback.print_exc()
            errors[name] = f"{type(error).__name__}: {error}"[:300]
    stats = _common.time_side_by_side(steps, min_time=args.min_time, rounds=args.rounds)
    _common.emit_rows(
        [
            {
                "backend": keras.backend.backend(),
                "activation": name,
                "stats": stats.get(name),
                "jit_compile": resolved.get(name),
                "error": errors.get(name),
            }
            for name in names
        ]
    )


def main(args):
    rows, failures = _common.run_children(args)
    head, sections = [], []
    for backend in _common.BACKENDS:
        sub = {r["activation"]: r for r in rows if r["backend"] == backend}
        if not sub:
            continue

        def median(name, sub=sub):
            stats = sub.get(name, {}).get("stats")
            return stats[0] if stats else None

        relu = median("ReLU")
        table = [
            [
                name,
                _common.fmt_spread(r["stats"]),
                _common.ratio(median(name), relu),
                f"{args.batch / median(name):.0f}" if median(name) else "n/a",
                r.get("jit_compile") or "",
                r.get("error") or "",
            ]
            for name, r in sub.items()
        ]
        sections.append(
            [f"## {backend}", ""]
            + _common.markdown_table(
                [
                    "activation",
                    "train step, median (min-max)",
                    "x ReLU",
                    "images/s",
                    "jit_compile",
                    "error",
                ],
                table,
            )
        )
        apalu = median("APALU")
        if apalu and relu:
            head.append(
                [
                    backend,
                    _common.fmt_time(relu),
                    _common.fmt_time(apalu),
                    f"{apalu / relu:.2f}",
                    _common.ratio(median("APALU (plain)"), relu),
                    _common.ratio(median("GELU"), relu),
                    "yes" if apalu / relu <= TARGET_RATIO_RELU else "**no**",
                ]
            )
    if head:
        sections.insert(
            0,
            [
                f"## Headline: train step, {args.model}, batch {args.batch}",
                "",
                f"Target: APALU train step <= {TARGET_RATIO_RELU}x ReLU.",
                "",
            ]
            + _common.markdown_table(
                [
                    "backend",
                    "ReLU",
                    "APALU",
                    "APALU / ReLU",
                    "APALU (plain) / ReLU",
                    "GELU / ReLU",
                    "target met",
                ],
                head,
            ),
        )
    sections.append([__doc__.split("\n\n", 2)[2].strip()])
    _common.write_report(args, TITLE, sections, rows, failures)
    return _common.exit_status(rows, failures)
