"""Study 2: APALU's sensitivity to the initial (a, b) and to the learning rate.

A plain MLP (`hidden` Dense(width) layers, one `a` and `b` per unit) is
trained with Adam on scikit-learn's 8x8 digits for every starting point of
APALU's parameters below, at every learning rate, with ReLU and GELU (or
the `--activations` given) at the same learning rates as references.

| start | a, b |
|---|---|
| `U(0,1)`, `U(0,2)`, `U(0,5)` | each drawn uniformly per unit (U(0,2) is the paper's default) |
| `const(0.5,0.5)`, `const(1,1)` | every unit the same (the issue's "constants (0.5, 1)" read as the two constants 0.5 and 1 for both parameters) |
| `const(0.5,1)` | the other reading: a = 0.5, b = 1 (which is also the fit to ELU) |
| `fit_relu`, `fit_gelu` | least-squares fits on [-4, 4] (`keras_apalu.initialization`): (0.504, 0.001), (0.498, 0.059) |

All starting points and seeds at one learning rate are the branches of one
Keras model (`ensemble.SideBySide`): they share the batch order and differ
in their initial weights (and a, b when drawn). Reported: test accuracy
(mean ± std over seeds, Welch's t-test against ReLU and GELU at the same
learning rate), heatmaps, and how a and b move (`APALURecorder`): their
mean per epoch, and at the end their mean, spread (std over all units and
seeds) and the fraction of units at the constraint's floor (1e-3).
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

#: Name -> (a initializer, b initializer) as keras.initializers configs.
STARTS = {
    "U(0,1)": (("RandomUniform", 0.0, 1.0), ("RandomUniform", 0.0, 1.0)),
    "U(0,2)": (("RandomUniform", 0.0, 2.0), ("RandomUniform", 0.0, 2.0)),
    "U(0,5)": (("RandomUniform", 0.0, 5.0), ("RandomUniform", 0.0, 5.0)),
    "const(0.5,0.5)": (("Constant", 0.5), ("Constant", 0.5)),
    "const(1,1)": (("Constant", 1.0), ("Constant", 1.0)),
    "const(0.5,1)": (("Constant", 0.5), ("Constant", 1.0)),
    "fit_relu": ("fit", "relu"),
    "fit_gelu": ("fit", "gelu"),
}
LEARNING_RATES = (1e-4, 1e-3, 1e-2, 1e-1)
#: The constraint's floor of a and b (keras_apalu.constraints' default).
FLOOR = 1e-3

FULL = dict(
    width=64,
    hidden=3,
    epochs=20,
    batch_size=64,
    learning_rates=list(LEARNING_RATES),
    starts=list(STARTS),
)
QUICK = dict(
    width=8,
    hidden=1,
    epochs=1,
    batch_size=128,
    learning_rates=[1e-3, 1e-1],
    starts=["U(0,2)", "fit_gelu"],
)


def _floats(text):
    return [float(v) for v in text.split(",") if v.strip()]


def add_arguments(parser):
    """The sensitivity study's own options (defaults: the full study; see `FULL`)."""
    parser.add_argument(
        "--learning-rates",
        type=_floats,
        default=None,
        help="comma-separated Adam learning rates "
        f"(default {','.join(map(str, LEARNING_RATES))})",
    )
    parser.add_argument(
        "--starts",
        nargs="+",
        choices=list(STARTS),
        default=None,
        help="APALU starting points (default all)",
    )
    for name in ("width", "hidden", "epochs", "batch_size"):
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=None,
            help=f"default {FULL[name]}",
        )


def settings_from(args):
    """The settings the run folder pins (references = --activations, default relu gelu)."""
    base = dict(QUICK if args.quick else FULL)
    for name in base:
        value = getattr(args, name, None)
        if value is not None:
            base[name] = list(value) if isinstance(value, (list, tuple)) else value
    references = list(act_lib.check_names(args.activations or act_lib.REFERENCES))
    if any(lr <= 0 for lr in base["learning_rates"]):
        raise UsageError(f"learning rates must be > 0; got {base['learning_rates']}.")
    base.update(
        references=references,
        seeds=side_by_side_seeds(args.seeds),
        dataset="digits",
        quick=bool(args.quick),
        init_seed=0,
        floor=FLOOR,
    )
    return base


def _initializers(start):
    import keras

    from keras_apalu import initialization

    spec = STARTS[start]
    if spec[0] == "fit":
        fitted = initialization.fit(spec[1])
        return (
            keras.initializers.Constant(fitted.a),
            keras.initializers.Constant(fitted.b),
        )
    made = []
    for kind, *values in spec:
        if kind == "RandomUniform":
            made.append(keras.initializers.RandomUniform(*values))
        else:
            made.append(keras.initializers.Constant(*values))
    return tuple(made)


def configurations(settings):
    """Row names: the APALU starts, then the references."""
    return [f"apalu {s}" for s in settings["starts"]] + list(settings["references"])


def _branch_layers(settings, config):
    from applications.activation_study import models

    if config.startswith("apalu "):
        a_init, b_init = _initializers(config[len("apalu ") :])

        def activation():
            return act_lib.make_apalu(a_init, b_init)
    else:
        activation = config
    return models.mlp_layers(
        10,
        settings["width"],
        settings["hidden"],
        activation,
        kernel_initializer="glorot_uniform",
    )


def _job(settings, data, learning_rate):
    def run():
        import keras

        from applications.activation_study.ensemble import SideBySide
        from keras_apalu.callbacks import APALURecorder
        from keras_apalu.layers import APALU

        keras.utils.set_random_seed(settings["init_seed"])
        branches = []
        for config in configurations(settings):
            for seed in settings["seeds"]:
                branches.append(
                    (_branch_name(config, seed), _branch_layers(settings, config))
                )
        net = SideBySide(data["x_train"].shape[1:], branches)
        net.compile(learning_rate, jit_compile=False if settings["quick"] else "auto")
        recorder = APALURecorder(full_arrays_every=0)
        start = time.perf_counter()
        net.fit(
            data,
            settings["epochs"],
            settings["batch_size"],
            settings["init_seed"],
            callbacks=[recorder],
        )
        fit_seconds = time.perf_counter() - start
        metrics = net.evaluate(data)
        result = {}
        for name, layers in net.layers.items():
            entry = dict(metrics[name])
            apalus = [layer for layer in layers if isinstance(layer, APALU)]
            if apalus:
                a = np.concatenate(
                    [
                        np.ravel(keras.ops.convert_to_numpy(l.slopes()[0]))
                        for l in apalus
                    ]
                ).astype(np.float64)
                b = np.concatenate(
                    [
                        np.ravel(keras.ops.convert_to_numpy(l.slopes()[1]))
                        for l in apalus
                    ]
                ).astype(np.float64)
                epochs = sorted(recorder.record["stats"], key=int)
                entry.update(
                    a_final=a.tolist(),
                    b_final=b.tolist(),
                    a_mean_per_epoch=[
                        float(
                            np.mean(
                                [
                                    recorder.record["stats"][e][l.name]["a"]["mean"]
                                    for l in apalus
                                ]
                            )
                        )
                        for e in epochs
                    ],
                    b_mean_per_epoch=[
                        float(
                            np.mean(
                                [
                                    recorder.record["stats"][e][l.name]["b"]["mean"]
                                    for l in apalus
                                ]
                            )
                        )
                        for e in epochs
                    ],
                )
            result[name] = entry
        return {"branches": result, "fit_seconds": fit_seconds}

    return run


def _branch_name(config, seed):
    safe = "".join(c if c.isalnum() else "_" for c in config)
    return f"{safe}__seed{seed}"


def _key(learning_rate):
    return f"lr{learning_rate:g}"


def _collect(settings, records):
    """`{config: {lr: {"test_accuracy": [...], ...}}}`."""
    table = {}
    for config in configurations(settings):
        for lr in settings["learning_rates"]:
            branches = records[_key(lr)]["branches"]
            entries = [branches[_branch_name(config, s)] for s in settings["seeds"]]
            cell = {
                "test_accuracy": [e["test_accuracy"] for e in entries],
                "train_loss": [e["train_loss"] for e in entries],
            }
            if "a_final" in entries[0]:
                a = np.concatenate([e["a_final"] for e in entries])
                b = np.concatenate([e["b_final"] for e in entries])
                cell.update(
                    a_mean=float(np.nanmean(a)),
                    a_std=float(np.nanstd(a)),
                    b_mean=float(np.nanmean(b)),
                    b_std=float(np.nanstd(b)),
                    a_floor=float(np.mean(a <= settings["floor"] * 1.001)),
                    b_floor=float(np.mean(b <= settings["floor"] * 1.001)),
                    a_curve=np.mean(
                        [e["a_mean_per_epoch"] for e in entries], axis=0
                    ).tolist(),
                    b_curve=np.mean(
                        [e["b_mean_per_epoch"] for e in entries], axis=0
                    ).tolist(),
                )
            table.setdefault(config, {})[lr] = cell
    return table


def _heatmap_table(table, settings):
    lrs = settings["learning_rates"]
    lines = [
        "| start \\ learning rate | " + " | ".join(f"{lr:g}" for lr in lrs) + " |",
        "|---|" + "---|" * len(lrs),
    ]
    for config in configurations(settings):
        cells = [
            stats.format_mean_std(
                stats.summarize(table[config][lr]["test_accuracy"]), 3
            )
            for lr in lrs
        ]
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _parameter_table(table, settings):
    lines = [
        "| start | lr | a mean | a std | a at floor | b mean | b std | b at floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for config in configurations(settings):
        for lr in settings["learning_rates"]:
            cell = table[config][lr]
            if "a_mean" not in cell:
                continue
            lines.append(
                f"| {config} | {lr:g} | {cell['a_mean']:.3f} | {cell['a_std']:.3f} | "
                f"{cell['a_floor']:.1%} | {cell['b_mean']:.3f} | {cell['b_std']:.3f} | "
                f"{cell['b_floor']:.1%} |"
            )
    return "\n".join(lines)


def _plot_heatmap(table, settings, path):
    from matplotlib.figure import Figure

    configs = configurations(settings)
    lrs = settings["learning_rates"]
    means = np.array(
        [
            [stats.summarize(table[c][lr]["test_accuracy"])["mean"] for lr in lrs]
            for c in configs
        ]
    )
    stds = np.array(
        [
            [stats.summarize(table[c][lr]["test_accuracy"])["std"] for lr in lrs]
            for c in configs
        ]
    )
    figure = Figure(
        figsize=(1.6 * len(lrs) + 3, 0.45 * len(configs) + 1.5), layout="constrained"
    )
    axis = figure.subplots()
    image = axis.imshow(means, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    for i in range(len(configs)):
        for j in range(len(lrs)):
            std = "" if not math.isfinite(stds[i, j]) else f"\n± {stds[i, j]:.3f}"
            axis.text(
                j,
                i,
                f"{means[i, j]:.3f}{std}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if means[i, j] < 0.6 else "black",
            )
    axis.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    axis.set_yticks(range(len(configs)), configs)
    axis.set_xlabel("Adam learning rate")
    axis.set_title(
        f"test accuracy, digits (mean ± std, {len(settings['seeds'])} seeds)"
    )
    figure.colorbar(image, ax=axis)
    figure.savefig(path, dpi=110)


def _plot_parameters(table, settings, path):
    from matplotlib.figure import Figure

    lrs = settings["learning_rates"]
    configs = [c for c in configurations(settings) if "a_curve" in table[c][lrs[0]]]
    figure = Figure(figsize=(3.2 * len(lrs), 5.5), layout="constrained")
    axes = figure.subplots(2, len(lrs), squeeze=False, sharex=True)
    for j, lr in enumerate(lrs):
        for config in configs:
            cell = table[config][lr]
            epochs = np.arange(len(cell["a_curve"]))
            axes[0, j].plot(epochs, cell["a_curve"], label=config[len("apalu ") :])
            axes[1, j].plot(epochs, cell["b_curve"], label=config[len("apalu ") :])
        axes[0, j].set_title(f"lr {lr:g}")
        axes[1, j].set_xlabel("epoch")
        for axis in axes[:, j]:
            axis.set_yscale("log")
            axis.grid(alpha=0.3)
    axes[0, 0].set_ylabel("mean a")
    axes[1, 0].set_ylabel("mean b")
    axes[0, -1].legend(fontsize=7)
    figure.savefig(path, dpi=110)


def run(args):
    """Runs (or resumes) the sensitivity study; returns the run folder's path."""
    start = time.perf_counter()
    settings = settings_from(args)
    folder = runs.RunFolder(args.run_dir, settings)
    data = data_lib.digits(seed=0)
    if settings["quick"]:
        data = {
            k: (v[:300] if k.startswith(("x_", "y_")) else v) for k, v in data.items()
        }
    jobs = [(_key(lr), _job(settings, data, lr)) for lr in settings["learning_rates"]]
    records = runs.run_jobs(folder, jobs, verbose=not args.quiet)
    table = _collect(settings, records)
    sections = [
        (
            "Set-up",
            (
                f"Digits 8x8 (1077 train / 360 test images); MLP with "
                f"{settings['hidden']} hidden Dense({settings['width']}) layers, one "
                f"a and b per unit; Glorot-uniform kernels; Adam, batch "
                f"{settings['batch_size']}, {settings['epochs']} epochs, no schedule; "
                f"{len(settings['seeds'])} seeds (initial weights and drawn a, b; batch "
                f"order shared: all starts and seeds at one learning rate are the "
                f"branches of one Keras model). Accuracy of the final weights."
            ),
        )
    ]
    sections.append(
        ("Test accuracy (mean ± std over seeds)", _heatmap_table(table, settings))
    )
    for lr in settings["learning_rates"]:
        sections.append(
            (
                f"Learning rate {lr:g}: Welch tests",
                report.comparison_table(
                    {
                        c: table[c][lr]["test_accuracy"]
                        for c in configurations(settings)
                    },
                    "test accuracy",
                    higher_is_better=True,
                    references=tuple(settings["references"][:2]),
                ),
            )
        )
    sections.append(
        (
            "How a and b move",
            "At the end of training, over all units of all APALU layers and all "
            "seeds: mean, standard deviation, and the share of units at the "
            f"constraint's floor ({settings['floor']:g}). The starts are a, b "
            "in the first column's name.\n\n" + _parameter_table(table, settings),
        )
    )
    if args.plots:
        _plot_heatmap(table, settings, folder.path / "accuracy_heatmap.png")
        _plot_parameters(table, settings, folder.path / "apalu_parameters.png")
    compute = runs.compute_seconds(records)
    budget = (
        f"{len(jobs)} jobs ({len(configurations(settings)) * len(settings['seeds'])} "
        f"networks each), {compute / 60:.1f} min of compute summed over jobs "
        f"(this invocation {(time.perf_counter() - start) / 60:.1f} min wall), "
        f"{runs.describe_machine()}; shared, noisy machine."
    )
    report.write_results(
        folder,
        "Study 2: initialisation and learning-rate sensitivity",
        sections,
        {
            "settings": settings,
            "table": {
                c: {f"{lr:g}": v for lr, v in by_lr.items()}
                for c, by_lr in table.items()
            },
        },
        args.command,
        budget,
    )
    return folder.path
