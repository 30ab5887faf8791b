"""Study 4: regression. The paper's claim that APALU beats ReLU and GELU on regression.

Two datasets (`applications.activation_study.data`): scikit-learn's bundled
diabetes data (442 patients, 10 inputs; 265 / 88 / 89 train / val / test)
and Friedman's synthetic function #1 with Gaussian noise on the training
and validation targets and noise-free test targets (2000 points, 5 inputs).
Inputs and targets are standardised with the training part's statistics,
so a test MSE of 1 is that of predicting the training mean (diabetes), and
on the synthetic data the test MSE is the error in learning the function
itself. The split is fixed (data seed 0); the seeds vary the weights and
the batch order.

The model: an MLP `depth` x [Dense(width) -> activation] -> Dense(1)
(`models.mlp`, Glorot-uniform weights), trained with Adam on the MSE, in
full batches of `--batch-size` (reshuffled every pass), for at most
`--max-epochs` epochs with early stopping on the validation MSE
(`--patience` epochs, best weights restored). Reported: the test MSE of
the restored weights, per activation and dataset, mean ± std over seeds
with Welch's t-test against ReLU and GELU.
"""

import math

from applications.activation_study import compile_cache
from applications.activation_study import fixed_batches
from applications.activation_study.activations import ACTIVATIONS
from applications.activation_study.activations import check_names
from applications.common.errors import UsageError

DATASETS = ("diabetes", "synthetic")
QUICK_ACTIVATIONS = ("relu", "apalu")

FULL = {
    "width": 64,
    "depth": 2,
    "batch_size": 64,
    "max_epochs": 150,
    "patience": 20,
    "learning_rate": 1e-3,
    "synthetic_n": 2000,
    "synthetic_noise": 0.1,
    "datasets": list(DATASETS),
}
QUICK = {
    "width": 8,
    "depth": 1,
    "batch_size": 64,
    "max_epochs": 3,
    "patience": 2,
    "learning_rate": 1e-3,
    "synthetic_n": 200,
    "synthetic_noise": 0.1,
    "datasets": list(DATASETS),
}


def add_arguments(parser):
    """The study's own options (defaults: the full study; `--quick` shrinks them)."""
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=None)
    parser.add_argument(
        "--width",
        type=int,
        default=None,
        help=f"units of each hidden layer (default {FULL['width']})",
    )
    parser.add_argument(
        "--depth",
        type=int,
        default=None,
        help=f"hidden layers (default {FULL['depth']})",
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help=f"epoch cap (default {FULL['max_epochs']})",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=None,
        help=f"early-stopping patience (default {FULL['patience']})",
    )
    parser.add_argument("--learning-rate", type=float, default=None)


def settings_of(args):
    """The study's settings: the mode's defaults, overridden by the options given."""
    settings = dict(QUICK if args.quick else FULL)
    for key in settings:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = list(value) if isinstance(value, (list, tuple)) else value
    for key in ("width", "depth", "batch_size", "max_epochs", "patience"):
        if settings[key] < 1:
            raise UsageError(
                f"--{key.replace('_', '-')} must be >= 1; got {settings[key]}."
            )
    names = args.activations or (QUICK_ACTIVATIONS if args.quick else ACTIVATIONS)
    settings["activations"] = list(check_names(names))
    settings["seeds"] = list(args.seeds)
    settings["quick"] = bool(args.quick)
    return settings


def load(name, settings):
    """The dataset `name` of `DATASETS` (fixed split, data seed 0)."""
    from applications.activation_study import data

    if name == "diabetes":
        return data.diabetes(seed=0)
    if name == "synthetic":
        return data.synthetic_regression(
            seed=0, n=settings["synthetic_n"], noise=settings["synthetic_noise"]
        )
    raise UsageError(f"Unknown dataset {name!r}; choose from {', '.join(DATASETS)}.")


def train_run(data, activation, seed, settings):
    """Trains one MLP with early stopping; returns its record (test MSE of the best weights)."""
    import keras

    from applications.activation_study import models
    from applications.activation_study import training

    keras.utils.set_random_seed(seed)
    model = models.mlp(
        data["x_train"].shape[1],
        1,
        settings["width"],
        settings["depth"],
        activation,
        name=f"mlp_{activation}",
    )
    training.compile_model(model, data, settings["learning_rate"])
    batch_size = min(settings["batch_size"], len(data["x_train"]))
    batches = fixed_batches.StepBatches(
        data["x_train"],
        data["y_train"],
        batch_size,
        steps=max(1, len(data["x_train"]) // batch_size),
        seed=seed,
    )
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=settings["patience"], restore_best_weights=True
    )
    history = model.fit(
        batches,
        epochs=settings["max_epochs"],
        verbose=0,
        validation_data=(data["x_val"], data["y_val"]),
        validation_batch_size=len(data["x_val"]),
        callbacks=[stopping],
    )
    val_losses = [float(v) for v in history.history["val_loss"]]
    finite = [v if math.isfinite(v) else math.inf for v in val_losses]
    record = {
        "activation": activation,
        "seed": seed,
        "epochs_run": len(val_losses),
        "best_epoch": int(min(range(len(finite)), key=finite.__getitem__)) + 1,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    }
    for part in ("train", "val", "test"):
        record[f"{part}_mse"] = fixed_batches.mse(
            model, data[f"x_{part}"], data[f"y_{part}"]
        )
    return record


def job_key(dataset, activation, seed):
    return f"{dataset}/{activation}/seed={seed}"


def summarise(records, settings):
    """`{dataset: {activation: {"test_mse": [...], "best_epoch": [...]}}}` by seed."""
    table = {}
    for dataset in settings["datasets"]:
        table[dataset] = {}
        for activation in settings["activations"]:
            runs = [records[job_key(dataset, activation, s)] for s in settings["seeds"]]
            table[dataset][activation] = {
                metric: [r[metric] for r in runs]
                for metric in (
                    "test_mse",
                    "val_mse",
                    "train_mse",
                    "best_epoch",
                    "epochs_run",
                )
            }
    return table


def plot(table, settings, folder):
    """`test_mse.png`: one bar per activation (mean ± std over seeds), one panel per dataset."""
    from matplotlib.figure import Figure

    from applications.common.stats import summarize

    datasets = settings["datasets"]
    figure = Figure(figsize=(5 * len(datasets), 4), layout="constrained")
    axes = figure.subplots(1, len(datasets), squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        names = settings["activations"]
        stats = [summarize(table[dataset][a]["test_mse"]) for a in names]
        axis.bar(
            range(len(names)),
            [s["mean"] for s in stats],
            yerr=[0 if not math.isfinite(s["std"]) else s["std"] for s in stats],
            capsize=3,
            color=[
                "tab:orange" if a.startswith("apalu") else "tab:blue" for a in names
            ],
        )
        axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
        means = [s["mean"] for s in stats if math.isfinite(s["mean"]) and s["mean"] > 0]
        if means and max(means) > 10 * min(means):  # one outlier would flatten the rest
            axis.set_yscale("log")
        axis.set_title(dataset)
        axis.set_ylabel("test MSE (standardised units)")
        axis.grid(axis="y", alpha=0.3)
    path = folder / "test_mse.png"
    figure.savefig(path, dpi=110)
    return path


def run(args):
    """Runs (or resumes) the study; returns the run folder."""
    from applications.activation_study import report
    from applications.common import runs
    from applications.common import stats

    settings = settings_of(args)
    compile_cache.enable()
    folder = runs.RunFolder(args.run_dir, settings)
    loaded = {}

    def data_for(dataset):
        if dataset not in loaded:
            loaded[dataset] = load(dataset, settings)
        return loaded[dataset]

    jobs = []
    for dataset in settings["datasets"]:
        for seed in settings["seeds"]:
            for activation in settings["activations"]:

                def job(dataset=dataset, activation=activation, seed=seed):
                    record = train_run(data_for(dataset), activation, seed, settings)
                    record["dataset"] = dataset
                    return record

                jobs.append((job_key(dataset, activation, seed), job))
    records = runs.run_jobs(folder, jobs, verbose=not args.quiet)
    table = summarise(records, settings)

    descriptions = {
        "diabetes": "scikit-learn diabetes (265 / 88 / 89), standardised target: "
        "MSE 1 = predicting the training mean",
        "synthetic": f"Friedman #1, n = {settings['synthetic_n']}, noise std "
        f"{settings['synthetic_noise']} on train/val targets, "
        "noise-free test targets",
    }
    sections = []
    for dataset in settings["datasets"]:
        rows = table[dataset]
        text = (
            descriptions[dataset]
            + ".\n\n"
            + report.comparison_table(
                {a: r["test_mse"] for a, r in rows.items()},
                "test MSE",
                higher_is_better=False,
            )
            + "\n\nBest epoch (early stopping), mean over seeds: "
            + ", ".join(
                f"{a} {stats.summarize(r['best_epoch'])['mean']:.0f}"
                for a, r in rows.items()
            )
        )
        sections.append((dataset, text))
    if args.plots:
        plot(table, settings, folder.path)
        sections.append(("Plot", "![test MSE per activation](test_mse.png)"))
    seconds = runs.compute_seconds(records)
    budget = (
        f"{len(records)} runs, {seconds / 60:.1f} min of compute in all "
        f"({runs.describe_machine()}); MLP {settings['depth']} x "
        f"{settings['width']}, batch {settings['batch_size']}, at most "
        f"{settings['max_epochs']} epochs, patience {settings['patience']}"
    )
    report.write_results(
        folder,
        "Study 4: regression (test MSE)",
        sections,
        {"settings": settings, "table": table, "runs": records},
        args.command,
        budget,
    )
    return folder.path
