"""Study 1: depth and gradient flow in plain networks.

Plain MLPs (Dense(width) + activation, repeated `depth` times) and plain
CNNs (3x3 Conv2D(width, same) + activation, repeated, then a global mean)
with no normalisation, no residual connection and Keras' default
initialisation (Glorot uniform, zero biases) are trained with Adam on
scikit-learn's 8x8 digits. The seeds of one activation and depth are the
independent branches of one Keras model (`ensemble.SideBySide`: one
compilation for all seeds). For each activation, depth and seed the study
records:

- `||dL/dW_l||_F` for every kernel `W_l` (input layer first, output layer
  last) at initialisation and after training, on a fixed batch of training
  images (`gradients.kernel_gradient_norms`);
- the final training loss (cross-entropy of the final weights on the whole
  training part: trainability) and the test accuracy.

Outputs: `results.md` (tables: final training loss per depth, comparison
with ReLU/GELU at each depth, gradient-norm ratio first/last layer),
`results.json`, `gradient_norms_<arch>.png` (per-layer norms at the deepest
depth, initial and trained, mean over seeds) and `train_loss_vs_depth.png`.
"""

import math
import time

import numpy as np

from applications.activation_study import activations as act_lib
from applications.activation_study import data as data_lib
from applications.activation_study import report
from applications.activation_study.ensemble import side_by_side_seeds
from applications.common import runs
from applications.common import stats
from applications.common.errors import UsageError

ARCHITECTURES = ("mlp", "cnn")

FULL = dict(
    mlp_depths=(4, 16, 64),
    cnn_depths=(4, 16),
    mlp_width=16,
    cnn_width=8,
    epochs=10,
    batch_size=128,
    learning_rate=3e-3,
    grad_samples=256,
)
QUICK = dict(
    mlp_depths=(2,),
    cnn_depths=(2,),
    mlp_width=8,
    cnn_width=4,
    epochs=1,
    batch_size=128,
    learning_rate=1e-3,
    grad_samples=64,
)
QUICK_ACTIVATIONS = ("relu", "apalu")
#: Every activation but sigmoid (its vanishing gradient in plain deep nets is
#: textbook, and the budget is spent on the others); `--activations` adds it.
DEFAULT_ACTIVATIONS = tuple(a for a in act_lib.ACTIVATIONS if a != "sigmoid")


def _ints(text):
    return tuple(int(v) for v in text.split(",") if v.strip())


def add_arguments(parser):
    """The depth study's own options (defaults: the full study; see `FULL`)."""
    parser.add_argument(
        "--mlp-depths",
        type=_ints,
        default=None,
        help=f"comma-separated MLP depths (default {FULL['mlp_depths']})",
    )
    parser.add_argument(
        "--cnn-depths",
        type=_ints,
        default=None,
        help=f"comma-separated CNN depths, empty for none "
        f"(default {FULL['cnn_depths']})",
    )
    for name in ("mlp_width", "cnn_width", "epochs", "batch_size", "grad_samples"):
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=None,
            help=f"default {FULL[name]}",
        )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help=f"Adam learning rate (default {FULL['learning_rate']})",
    )


def settings_from(args):
    """The study's settings dict (what the run folder pins) from parsed args."""
    base = dict(QUICK if args.quick else FULL)
    for name in base:
        value = getattr(args, name, None)
        if value is not None:
            base[name] = value
    names = args.activations or (
        QUICK_ACTIVATIONS if args.quick else DEFAULT_ACTIVATIONS
    )
    base.update(
        activations=list(act_lib.check_names(names)),
        seeds=side_by_side_seeds(args.seeds),
        dataset="digits",
        quick=bool(args.quick),
        optimizer="adam",
        initializer="glorot_uniform",
        init_seed=0,
    )
    for name in ("mlp_depths", "cnn_depths"):
        base[name] = list(base[name])
        if any(d < 1 for d in base[name]):
            raise UsageError(f"{name} must be >= 1; got {base[name]}.")
    return base


def _images(x):
    return x.reshape((-1, 8, 8, 1))


def _job(settings, data, arch, activation, depth):
    def run():
        import keras

        from applications.activation_study import models
        from applications.activation_study.ensemble import SideBySide

        task = dict(data)
        if arch == "cnn":
            for part in ("train", "val", "test"):
                task[f"x_{part}"] = _images(data[f"x_{part}"])
        build = models.mlp_layers if arch == "mlp" else models.cnn_layers
        width = settings[f"{arch}_width"]
        keras.utils.set_random_seed(settings["init_seed"])
        names = [f"seed{s}" for s in settings["seeds"]]
        net = SideBySide(
            task["x_train"].shape[1:],
            [(name, build(10, width, depth, activation)) for name in names],
        )
        n = settings["grad_samples"]
        x_grad, y_grad = task["x_train"][:n], task["y_train"][:n]
        grad_init = net.gradient_norms(x_grad, y_grad)
        net.compile(
            settings["learning_rate"],
            jit_compile=False if settings["quick"] else "auto",
        )
        start = time.perf_counter()
        history = net.fit(
            task, settings["epochs"], settings["batch_size"], settings["init_seed"]
        )
        fit_seconds = time.perf_counter() - start
        grad_trained = net.gradient_norms(x_grad, y_grad)
        metrics = net.evaluate(task)
        return {
            "seeds": {
                name: dict(
                    metrics[name],
                    grad_init=grad_init[name],
                    grad_trained=grad_trained[name],
                )
                for name in names
            },
            "summed_loss_per_epoch": [float(v) for v in history.history["loss"]],
            "fit_seconds": fit_seconds,
        }

    return run


def _key(arch, activation, depth):
    return f"{arch}/{activation}/depth{depth}"


def _depths(settings, arch):
    return settings[f"{arch}_depths"]


def _collect(settings, records):
    """`{arch: {depth: {activation: {metric: [per seed]}}}}` of the records."""
    table = {}
    for arch in ARCHITECTURES:
        for depth in _depths(settings, arch):
            for activation in settings["activations"]:
                seeds = records[_key(arch, activation, depth)]["seeds"]
                entries = [seeds[f"seed{s}"] for s in settings["seeds"]]
                table.setdefault(arch, {}).setdefault(depth, {})[activation] = {
                    "train_loss": [r["train_loss"] for r in entries],
                    "train_accuracy": [r["train_accuracy"] for r in entries],
                    "test_accuracy": [r["test_accuracy"] for r in entries],
                    "grad_init": [r["grad_init"] for r in entries],
                    "grad_trained": [r["grad_trained"] for r in entries],
                }
    return table


def _log_mean(rows):
    """Geometric mean over seeds, per layer (the norms span decades)."""
    values = np.asarray(rows, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.nanmean(np.log(np.where(values > 0, values, np.nan)), axis=0))


def _loss_matrix(table, settings, arch, metric, digits):
    depths = _depths(settings, arch)
    lines = [
        "| activation | " + " | ".join(f"depth {d}" for d in depths) + " |",
        "|---|" + "---|" * len(depths),
    ]
    for activation in settings["activations"]:
        cells = [
            stats.format_mean_std(
                stats.summarize(table[arch][d][activation][metric]), digits
            )
            for d in depths
        ]
        lines.append(f"| {activation} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _gradient_ratio_table(table, settings, arch):
    depth = max(_depths(settings, arch))
    lines = [
        "| activation | first-layer norm, init | last-layer norm, init | "
        "first / last, init | first / last, trained |",
        "|---|---|---|---|---|",
    ]
    for activation in settings["activations"]:
        entry = table[arch][depth][activation]
        init = _log_mean(entry["grad_init"])
        trained = _log_mean(entry["grad_trained"])
        lines.append(
            f"| {activation} | {init[0]:.3g} | {init[-1]:.3g} | "
            f"{init[0] / init[-1]:.3g} | {trained[0] / trained[-1]:.3g} |"
        )
    return "\n".join(lines)


def _plot_gradients(table, settings, arch, path):
    from matplotlib.figure import Figure

    depth = max(_depths(settings, arch))
    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for axis, key, label in (
        (axes[0], "grad_init", "at initialisation"),
        (axes[1], "grad_trained", "after training"),
    ):
        for activation in settings["activations"]:
            rows = np.asarray(table[arch][depth][activation][key], np.float64)
            mean = _log_mean(rows)
            layers = np.arange(1, rows.shape[1] + 1)
            (line,) = axis.plot(
                layers,
                mean,
                label=activation,
                linestyle="--" if activation.startswith("apalu") else "-",
            )
            low = np.nanmin(np.where(rows > 0, rows, np.nan), axis=0)
            high = np.nanmax(np.where(rows > 0, rows, np.nan), axis=0)
            axis.fill_between(layers, low, high, color=line.get_color(), alpha=0.12)
        axis.set_yscale("log")
        axis.set_xlabel("layer (1 = input side)")
        axis.set_title(f"{arch.upper()} depth {depth}: {label}")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("||dL/dW|| (geometric mean;\nband: min-max over seeds)")
    axes[1].legend(fontsize=7, ncol=2)
    figure.savefig(path, dpi=110)


def _plot_loss(table, settings, path):
    from matplotlib.figure import Figure

    archs = [a for a in ARCHITECTURES if _depths(settings, a)]
    figure = Figure(figsize=(5 * len(archs), 4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(archs)))
    for axis, arch in zip(axes, archs):
        depths = _depths(settings, arch)
        for activation in settings["activations"]:
            summaries = [
                stats.summarize(table[arch][d][activation]["train_loss"])
                for d in depths
            ]
            axis.errorbar(
                depths,
                [s["mean"] for s in summaries],
                yerr=[
                    0 if not math.isfinite(s["std"]) else s["std"] for s in summaries
                ],
                label=activation,
                capsize=3,
                marker="o",
                markersize=3,
                linestyle="--" if activation.startswith("apalu") else "-",
            )
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xticks(depths, [str(d) for d in depths])
        axis.set_xlabel("depth (hidden layers)")
        axis.set_ylabel("final training loss (mean ± std over seeds)")
        axis.set_title(f"{arch.upper()}, digits, {settings['epochs']} epochs")
        axis.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, ncol=2)
    figure.savefig(path, dpi=110)


def run(args):
    """Runs (or resumes) the depth study; returns the run folder's path."""
    start = time.perf_counter()
    settings = settings_from(args)
    folder = runs.RunFolder(args.run_dir, settings)
    data = data_lib.digits(seed=0)
    if settings["quick"]:
        data = {
            k: (v[:300] if k.startswith(("x_", "y_")) else v) for k, v in data.items()
        }
    jobs = [
        (_key(arch, activation, depth), _job(settings, data, arch, activation, depth))
        for arch in ARCHITECTURES
        for depth in _depths(settings, arch)
        for activation in settings["activations"]
    ]
    records = runs.run_jobs(folder, jobs, verbose=not args.quiet)
    table = _collect(settings, records)
    sections = []
    for arch in ARCHITECTURES:
        depths = _depths(settings, arch)
        if not depths:
            continue
        width = settings[f"{arch}_width"]
        sections.append(
            (
                f"{arch.upper()} (width {width}): final training loss",
                "Cross-entropy of the final weights on the whole training part "
                "(mean ± std over seeds; lower = more trainable; NaN = diverged).\n\n"
                + _loss_matrix(table, settings, arch, "train_loss", 3),
            )
        )
        sections.append(
            (
                f"{arch.upper()}: test accuracy",
                _loss_matrix(table, settings, arch, "test_accuracy", 3),
            )
        )
        for depth in sorted({min(depths), max(depths)}):
            sections.append(
                (
                    f"{arch.upper()} depth {depth}: final training loss, Welch tests",
                    report.comparison_table(
                        {
                            a: table[arch][depth][a]["train_loss"]
                            for a in settings["activations"]
                        },
                        "final training loss",
                        higher_is_better=False,
                    ),
                )
            )
        sections.append(
            (
                f"{arch.upper()} depth {max(depths)}: gradient norms",
                "Geometric mean over seeds of `||dL/dW||` of the first (input) and "
                "last (output) kernel, and their ratio (1 = gradient reaches the "
                "input layer undiminished; << 1 vanishing, >> 1 exploding).\n\n"
                + _gradient_ratio_table(table, settings, arch),
            )
        )
        if args.plots:
            _plot_gradients(
                table, settings, arch, folder.path / f"gradient_norms_{arch}.png"
            )
    if args.plots:
        _plot_loss(table, settings, folder.path / "train_loss_vs_depth.png")
    compute = runs.compute_seconds(records)
    budget = (
        f"{len(jobs)} runs, {compute / 60:.1f} min of compute summed over "
        f"runs (this invocation {(time.perf_counter() - start) / 60:.1f} min "
        f"wall), {runs.describe_machine()}; shared, noisy machine."
    )
    settings_text = (
        f"Digits 8x8 (1077 train / 360 test images), Adam lr "
        f"{settings['learning_rate']}, batch {settings['batch_size']}, "
        f"{settings['epochs']} epochs, Glorot-uniform kernels, zero biases, no "
        f"normalisation or residuals; {len(settings['seeds'])} seeds (seeds differ "
        f"in the initial weights; the seeds of one activation and depth are "
        f"trained side by side as branches of one Keras model, "
        f"`ensemble.SideBySide`, so they share the batch order; data split "
        f"fixed). Gradient norms on the first "
        f"{settings['grad_samples']} training images."
    )
    sections.insert(0, ("Set-up", settings_text))
    report.write_results(
        folder,
        "Study 1: depth and gradient flow",
        sections,
        {
            "settings": settings,
            "table": {
                arch: {str(d): v for d, v in by_depth.items()}
                for arch, by_depth in table.items()
            },
        },
        args.command,
        budget,
    )
    return folder.path
