"""Study 5: convergence speed. Does APALU reach a given accuracy in fewer epochs, or less time?

Two set-ups (`--dataset`):

- `digits` (default): scikit-learn's bundled digits (8x8, 1077 / 360 / 360
  train / val / test, stratified, data seed 0) and an MLP `depth` x
  [Dense(width) -> activation] -> Dense(10) (`models.mlp`); threshold 95 %.
- `sign-language`: the Sign Language Digits images, grey 16x16, with the
  application's signer split, and the small CNN of the limited-data study
  (`limited_data.small_cnn`, widths 8, 16, 32); threshold 85 %.

Each run trains with Adam for a fixed `--epochs` (the cap) in full batches
of `--batch-size` (reshuffled passes), validated after every epoch. For each
run: the first epoch whose validation accuracy reaches `--threshold`, and
the process CPU time
(`time.process_time`) and wall time from the start of training to the end
of that epoch. Compilation is excluded: before the timed `fit`, one
training and one validation step are run and every weight and optimiser
variable is put back (`compile_cache.warm_up`). The times include the
per-epoch validation. A run that never reaches the threshold within the cap
counts as "not reached" and is reported as such (the reached counts are in
the table; epochs and times are summarised over the runs that reached it).
"""

import math
import time

import numpy as np

from applications.activation_study import compile_cache
from applications.activation_study import fixed_batches
from applications.activation_study.activations import ACTIVATIONS
from applications.activation_study.activations import check_names
from applications.common.errors import UsageError

QUICK_ACTIVATIONS = ("relu", "apalu")

DATASETS = ("digits", "sign-language")
#: Settings of each dataset, full mode and quick mode.
FULL = {
    "digits": {
        "width": 64,
        "depth": 2,
        "batch_size": 32,
        "epochs": 60,
        "learning_rate": 1e-3,
        "threshold": 0.95,
    },
    "sign-language": {
        "image_size": 16,
        "widths": [8, 16, 32],
        "batch_size": 32,
        "epochs": 30,
        "learning_rate": 3e-3,
        "threshold": 0.85,
    },
}
QUICK = {
    "digits": {
        "width": 16,
        "depth": 1,
        "batch_size": 128,
        "epochs": 3,
        "learning_rate": 1e-3,
        "threshold": 0.5,
    },
    "sign-language": {
        "image_size": 8,
        "widths": [4, 8],
        "batch_size": 32,
        "epochs": 2,
        "learning_rate": 3e-3,
        "threshold": 0.2,
    },
}


def add_arguments(parser):
    """The study's own options (defaults: the full study; `--quick` shrinks them)."""
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="digits",
        help="digits + MLP (default) or sign-language + small CNN",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="Sign Language Digits folder (sign-language only; default: "
        "the application's search)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="validation accuracy to reach (default 0.95 on digits, "
        "0.85 on sign-language)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epoch cap (default 60 on digits, 30 on sign-language)",
    )
    parser.add_argument("--width", type=int, default=None, help="MLP width (digits)")
    parser.add_argument("--depth", type=int, default=None, help="MLP depth (digits)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)


def settings_of(args):
    """The study's settings: the mode's defaults, overridden by the options given."""
    dataset = getattr(args, "dataset", "digits")
    settings = dict((QUICK if args.quick else FULL)[dataset])
    for key in settings:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    settings["dataset"] = dataset
    if not 0.0 < settings["threshold"] <= 1.0:
        raise UsageError(
            f"--threshold must lie in (0, 1]; got {settings['threshold']}."
        )
    for key in ("width", "depth", "batch_size", "epochs", "image_size"):
        if key in settings and settings[key] < 1:
            raise UsageError(
                f"--{key.replace('_', '-')} must be >= 1; got {settings[key]}."
            )
    names = args.activations or (QUICK_ACTIVATIONS if args.quick else ACTIVATIONS)
    settings["activations"] = list(check_names(names))
    settings["seeds"] = list(args.seeds)
    settings["quick"] = bool(args.quick)
    return settings


def epochs_to_threshold(val_accuracy, threshold):
    """The first epoch (1-based) whose validation accuracy is >= `threshold`, or None."""
    for epoch, value in enumerate(val_accuracy, start=1):
        if value is not None and math.isfinite(value) and value >= threshold:
            return epoch
    return None


def _epoch_clock():
    import keras

    class EpochClock(keras.callbacks.Callback):
        """CPU and wall seconds from the start of training to the end of every epoch."""

        def on_train_begin(self, logs=None):
            self.cpu, self.wall = [], []
            self._cpu0, self._wall0 = time.process_time(), time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.cpu.append(time.process_time() - self._cpu0)
            self.wall.append(time.perf_counter() - self._wall0)

    return EpochClock()


def train_run(data, activation, seed, settings):
    """Trains one model for the epoch cap, timing every epoch; returns its record."""
    import keras

    from applications.activation_study import limited_data
    from applications.activation_study import models
    from applications.activation_study import training

    keras.utils.set_random_seed(seed)
    if settings["dataset"] == "digits":
        model = models.mlp(
            data["x_train"].shape[1],
            data["num_classes"],
            settings["width"],
            settings["depth"],
            activation,
            name=f"mlp_{activation}",
        )
    else:
        model = limited_data.small_cnn(
            data["x_train"].shape[1:],
            activation,
            settings["widths"],
            data["num_classes"],
            seed=seed,
        )
    training.compile_model(model, data, settings["learning_rate"])
    batch_size = settings["batch_size"]
    batches = fixed_batches.StepBatches(
        data["x_train"],
        data["y_train"],
        batch_size,
        steps=max(1, len(data["x_train"]) // batch_size),
        seed=seed,
    )
    val_batch = len(data["x_val"])
    compile_start = time.process_time()
    compile_cache.warm_up(model, batches[0], [(data["x_val"], data["y_val"])])
    compile_cpu = time.process_time() - compile_start
    clock = _epoch_clock()
    history = model.fit(
        batches,
        epochs=settings["epochs"],
        verbose=0,
        validation_data=(data["x_val"], data["y_val"]),
        validation_batch_size=val_batch,
        callbacks=[clock],
    )
    val_accuracy = [float(v) for v in history.history["val_accuracy"]]
    reached = epochs_to_threshold(val_accuracy, settings["threshold"])
    return {
        "activation": activation,
        "seed": seed,
        "epochs_to_threshold": reached,
        "reached": reached is not None,
        "cpu_seconds_to_threshold": None if reached is None else clock.cpu[reached - 1],
        "wall_seconds_to_threshold": None
        if reached is None
        else clock.wall[reached - 1],
        "cpu_seconds_per_epoch": float(np.median(np.diff([0.0] + clock.cpu))),
        "warm_up_cpu_seconds": compile_cpu,
        "epoch_cpu_seconds": clock.cpu,
        "epoch_wall_seconds": clock.wall,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "test_accuracy": fixed_batches.accuracy(model, data["x_test"], data["y_test"]),
    }


def job_key(activation, seed):
    return f"{activation}/seed={seed}"


def summarise(records, settings):
    """`{activation: {metric: [value per seed]}}`; unreached runs hold None."""
    table = {}
    for activation in settings["activations"]:
        runs = [records[job_key(activation, s)] for s in settings["seeds"]]
        table[activation] = {
            metric: [r[metric] for r in runs]
            for metric in (
                "epochs_to_threshold",
                "cpu_seconds_to_threshold",
                "wall_seconds_to_threshold",
                "cpu_seconds_per_epoch",
                "test_accuracy",
            )
        }
        table[activation]["val_accuracy"] = [r["history"]["val_accuracy"] for r in runs]
    return table


def _reached(values):
    return [v for v in values if v is not None]


def plot(table, settings, folder):
    """`val_accuracy.png`: validation accuracy per epoch, mean and ± std band over seeds."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    for activation in settings["activations"]:
        curves = np.asarray(table[activation]["val_accuracy"], dtype=np.float64)
        epochs = np.arange(1, curves.shape[1] + 1)
        mean = curves.mean(axis=0)
        spread = curves.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros_like(mean)
        (line,) = axes.plot(
            epochs,
            mean,
            label=activation,
            linestyle="--" if activation.startswith("apalu") else "-",
        )
        axes.fill_between(
            epochs, mean - spread, mean + spread, color=line.get_color(), alpha=0.15
        )
    axes.axhline(
        settings["threshold"],
        color="black",
        linewidth=0.8,
        linestyle=":",
        label=f"threshold {settings['threshold']:.0%}",
    )
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation accuracy (mean ± std over seeds)")
    low = min(np.min(np.asarray(t["val_accuracy"])) for t in table.values())
    axes.set_ylim(max(0.0, min(low, settings["threshold"] - 0.1)), 1.0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, ncol=2)
    path = folder / "val_accuracy.png"
    figure.savefig(path, dpi=110)
    return path


def run(args):
    """Runs (or resumes) the study; returns the run folder."""
    from applications.activation_study import data as study_data
    from applications.activation_study import report
    from applications.common import runs
    from applications.common import stats

    settings = settings_of(args)
    compile_cache.enable()
    folder = runs.RunFolder(args.run_dir, settings)
    data = {}

    def job_for(activation, seed):
        def job():
            if not data:
                data["loaded"] = (
                    study_data.digits(seed=0)
                    if settings["dataset"] == "digits"
                    else study_data.sign_language(
                        image_size=settings["image_size"], data_dir=args.data_dir
                    )
                )
            return train_run(data["loaded"], activation, seed, settings)

        return job

    jobs = [
        (job_key(a, s), job_for(a, s))
        for s in settings["seeds"]
        for a in settings["activations"]
    ]
    records = runs.run_jobs(folder, jobs, verbose=not args.quiet)
    table = summarise(records, settings)

    threshold = f"{settings['threshold']:.0%}"
    counts = "\n".join(
        [
            "| activation | reached | median CPU s per epoch | test accuracy at the cap |",
            "|---|---|---|---|",
        ]
        + [
            f"| {a} | {len(_reached(r['epochs_to_threshold']))} / {len(settings['seeds'])} | "
            f"{np.median(r['cpu_seconds_per_epoch']):.3f} | "
            f"{stats.format_mean_std(stats.summarize(r['test_accuracy']))} |"
            for a, r in table.items()
        ]
    )
    sections = [
        (
            "Runs that reached the threshold",
            f"Validation accuracy {threshold} within {settings['epochs']} epochs "
            "(the rest: not reached).\n\n" + counts,
        ),
        (
            f"Epochs to {threshold} validation accuracy (runs that reached it)",
            report.comparison_table(
                {a: _reached(r["epochs_to_threshold"]) for a, r in table.items()},
                "epochs",
                higher_is_better=False,
                digits=1,
            ),
        ),
        (
            f"CPU seconds to {threshold} (process time, compilation excluded)",
            report.comparison_table(
                {a: _reached(r["cpu_seconds_to_threshold"]) for a, r in table.items()},
                "CPU s",
                higher_is_better=False,
                digits=2,
            ),
        ),
        (
            f"Wall seconds to {threshold}",
            report.comparison_table(
                {a: _reached(r["wall_seconds_to_threshold"]) for a, r in table.items()},
                "wall s",
                higher_is_better=False,
                digits=2,
            ),
        ),
    ]
    if args.plots:
        plot(table, settings, folder.path)
        sections.append(("Plot", "![validation accuracy per epoch](val_accuracy.png)"))
    seconds = runs.compute_seconds(records)
    model_text = (
        f"MLP {settings['depth']} x {settings['width']} on digits"
        if settings["dataset"] == "digits"
        else f"CNN widths {settings['widths']} on {settings['image_size']}x"
        f"{settings['image_size']} sign-language images"
    )
    budget = (
        f"{len(records)} runs, {seconds / 60:.1f} min of compute in all "
        f"({runs.describe_machine()}; a shared, busy machine: times are "
        f"noisy); {model_text}, "
        f"batch {settings['batch_size']}, {settings['epochs']} epochs per run"
    )
    report.write_results(
        folder,
        f"Study 5: convergence speed on {settings['dataset']} "
        f"(epochs and time to {threshold} validation accuracy)",
        sections,
        {"settings": settings, "table": table, "runs": records},
        args.command,
        budget,
    )
    return folder.path
