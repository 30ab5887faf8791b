"""Study 3: limited data. Do APALU's extra parameters overfit few signers?

The Sign Language Digits images (grey, `--image-size` pixels square) with
the sign-language application's fixed signer split; the model trains on
10 %, 25 %, 50 % and 100 % of the TRAINING SIGNERS (whole signers, drawn
with the run's seed; validation and test are always the same, unseen
signers). Every run takes the same number of optimiser steps
(`--epochs` x `--steps-per-epoch` batches of `--batch-size`, reshuffled
passes over whatever data it has), so the fractions differ in data only,
not in training length. Reported per activation and fraction, over the
seeds: the test accuracy of the final weights and the train-test gap
(accuracy on the run's own training images minus test accuracy).

The model, as small as the CPU budget asks:

    input (s, s, 1) -> 3 x [Conv2D(w_i, 3x3, same) -> activation -> MaxPool 2x2]
    -> Flatten -> Dense(10) (logits)

with widths `--widths` (default 8, 16, 32), no normalisation, no dropout,
no augmentation (so that overfitting shows); parametric activations have
one parameter set per channel. Adam at `--learning-rate`.
"""

import math

import numpy as np

from applications.activation_study import compile_cache
from applications.activation_study import fixed_batches
from applications.activation_study.activations import check_names
from applications.common.errors import UsageError

#: Fractions of the training signers, full mode.
FRACTIONS = (0.1, 0.25, 0.5, 1.0)
#: Activations of the full study (sigmoid left out: see docs).
DEFAULT_ACTIVATIONS = (
    "relu",
    "gelu",
    "elu",
    "prelu",
    "tanh",
    "apalu",
    "apalu_fit",
    "apalu_smooth",
)
QUICK_ACTIVATIONS = ("relu", "apalu")

FULL = {
    "image_size": 16,
    "widths": [8, 16, 32],
    "batch_size": 32,
    "steps_per_epoch": 38,
    "epochs": 20,
    "learning_rate": 3e-3,
    "fractions": list(FRACTIONS),
}
QUICK = {
    "image_size": 8,
    "widths": [4, 8],
    "batch_size": 32,
    "steps_per_epoch": 2,
    "epochs": 2,
    "learning_rate": 3e-3,
    "fractions": [0.25, 1.0],
}


def add_arguments(parser):
    """The study's own options (defaults: the full study; `--quick` shrinks them)."""
    parser.add_argument(
        "--data-dir",
        default=None,
        help="Sign Language Digits folder (default: the "
        "application's search: env var, Keras cache, download)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help=f"image side (default {FULL['image_size']})",
    )
    parser.add_argument(
        "--widths",
        type=int,
        nargs="+",
        default=None,
        help=f"conv widths, one per block (default {FULL['widths']})",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help=f"epochs (default {FULL['epochs']})"
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="batches per epoch, the same at every fraction "
        f"(default {FULL['steps_per_epoch']}: one pass over "
        "all training signers)",
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=None,
        help=f"fractions of the training signers (default {FULL['fractions']})",
    )


def settings_of(args):
    """The study's settings: the mode's defaults, overridden by the options given."""
    settings = dict(QUICK if args.quick else FULL)
    for key in settings:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = list(value) if isinstance(value, (list, tuple)) else value
    for fraction in settings["fractions"]:
        if not 0.0 < fraction <= 1.0:
            raise UsageError(f"--fractions must lie in (0, 1]; got {fraction}.")
    if settings["image_size"] < 2 ** len(settings["widths"]):
        raise UsageError(
            f"--image-size {settings['image_size']} is too small for "
            f"{len(settings['widths'])} pooling blocks."
        )
    names = args.activations or (
        QUICK_ACTIVATIONS if args.quick else DEFAULT_ACTIVATIONS
    )
    settings["activations"] = list(check_names(names))
    settings["seeds"] = list(args.seeds)
    settings["quick"] = bool(args.quick)
    return settings


def small_cnn(input_shape, activation, widths, num_classes=10, seed=None):
    """`len(widths)` x [Conv2D 3x3 -> activation -> MaxPool 2x2] -> Flatten -> Dense (logits).

    Args:
        input_shape: `(height, width, channels)`.
        activation: a name of `activations.ACTIVATIONS`; parametric ones
            get one parameter set per channel (`shared_axes=[1, 2]`).
        widths: filters of each block.
        num_classes: outputs of the last layer.
        seed: seed of the weight initializers (`None`: Keras' global seed).
    """
    import keras

    from applications.activation_study.activations import make_activation

    layers = [keras.Input(tuple(input_shape))]
    for i, width in enumerate(widths):
        layers += [
            keras.layers.Conv2D(
                width,
                3,
                padding="same",
                kernel_initializer=keras.initializers.GlorotUniform(
                    None if seed is None else seed * 100 + i
                ),
            ),
            make_activation(activation, shared_axes=[1, 2]),
            keras.layers.MaxPooling2D(2),
        ]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(
            num_classes,
            kernel_initializer=keras.initializers.GlorotUniform(
                None if seed is None else seed * 100 + 99
            ),
        ),
    ]
    return keras.Sequential(layers, name=f"small_cnn_{activation}")


def apalu_parameters(model):
    """`{layer: {"a_mean", "b_mean"}}` of the model's APALU layers (empty if none)."""
    import keras

    from keras_apalu.callbacks import apalu_layers

    found = {}
    for layer in apalu_layers(model):
        a, b = layer.slopes()
        found[layer.name] = {
            "a_mean": float(np.mean(keras.ops.convert_to_numpy(a))),
            "b_mean": float(np.mean(keras.ops.convert_to_numpy(b))),
        }
    return found


def train_run(data, activation, seed, settings):
    """Trains one model for a fixed number of steps; returns its record."""
    import keras

    from applications.activation_study import training

    keras.utils.set_random_seed(seed)
    model = small_cnn(
        data["x_train"].shape[1:],
        activation,
        settings["widths"],
        data["num_classes"],
        seed=seed,
    )
    training.compile_model(model, data, settings["learning_rate"])
    batches = fixed_batches.StepBatches(
        data["x_train"],
        data["y_train"],
        settings["batch_size"],
        settings["steps_per_epoch"],
        seed=seed,
    )
    history = model.fit(
        batches,
        epochs=settings["epochs"],
        verbose=0,
        validation_data=(data["x_val"], data["y_val"]),
        validation_batch_size=256,
    )
    record = {
        "activation": activation,
        "seed": seed,
        "train_images": int(len(data["y_train"])),
        "train_signers": data["signers_train"],
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    }
    for part in ("train", "val", "test"):
        record[f"{part}_accuracy"] = fixed_batches.accuracy(
            model, data[f"x_{part}"], data[f"y_{part}"]
        )
    record["gap"] = record["train_accuracy"] - record["test_accuracy"]
    record["apalu"] = apalu_parameters(model)
    return record


def job_key(fraction, activation, seed):
    return f"fraction={fraction:g}/{activation}/seed={seed}"


def _finite(values):
    return [v for v in values if v is not None and math.isfinite(v)]


def summarise(records, settings):
    """`{fraction: {activation: {"test_accuracy": [...], "gap": [...], ...}}}` by seed."""
    table = {}
    for fraction in settings["fractions"]:
        per_activation = {}
        for activation in settings["activations"]:
            runs = [
                records[job_key(fraction, activation, seed)]
                for seed in settings["seeds"]
            ]
            per_activation[activation] = {
                metric: [r[metric] for r in runs]
                for metric in (
                    "test_accuracy",
                    "train_accuracy",
                    "val_accuracy",
                    "gap",
                    "train_images",
                )
            }
        table[f"{fraction:g}"] = per_activation
    return table


def train_accuracy_table(table, settings):
    """Markdown: the mean training accuracy per activation (rows) and fraction (columns).

    A gap of `1 - test accuracy` means the run fitted its training images
    exactly; a lower training accuracy (underfitting) also lowers the gap.
    """
    fractions = settings["fractions"]
    lines = [
        "| activation | " + " | ".join(f"{f:.0%}" for f in fractions) + " |",
        "|---|" + "---|" * len(fractions),
    ]
    for activation in settings["activations"]:
        cells = [
            f"{np.mean(table[f'{f:g}'][activation]['train_accuracy']):.3f}"
            for f in fractions
        ]
        lines.append(f"| {activation} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(table, settings, folder):
    """`accuracy_vs_fraction.png` and `gap_vs_fraction.png` (mean ± std over seeds)."""
    from matplotlib.figure import Figure

    from applications.common.stats import summarize

    fractions = settings["fractions"]
    paths = []
    for metric, ylabel, name in (
        ("test_accuracy", "test accuracy", "accuracy_vs_fraction.png"),
        ("gap", "train - test accuracy", "gap_vs_fraction.png"),
    ):
        figure = Figure(figsize=(7, 4.5), layout="constrained")
        axes = figure.subplots()
        for i, activation in enumerate(settings["activations"]):
            stats = [summarize(table[f"{f:g}"][activation][metric]) for f in fractions]
            offset = (i - len(settings["activations"]) / 2) * 0.004
            axes.errorbar(
                [f + offset for f in fractions],
                [s["mean"] for s in stats],
                yerr=[0 if not math.isfinite(s["std"]) else s["std"] for s in stats],
                marker="o",
                capsize=3,
                label=activation,
                linestyle="--" if activation.startswith("apalu") else "-",
            )
        axes.set_xscale("log")
        axes.set_xticks(fractions, [f"{f:.0%}" for f in fractions])
        axes.set_xlabel("share of the training signers")
        axes.set_ylabel(ylabel + " (mean ± std over seeds)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, ncol=2)
        path = folder / name
        figure.savefig(path, dpi=110)
        paths.append(path)
    return paths


def run(args):
    """Runs (or resumes) the study; returns the run folder."""
    from applications.activation_study import data as study_data
    from applications.activation_study import report
    from applications.common import runs

    settings = settings_of(args)
    compile_cache.enable()
    folder = runs.RunFolder(args.run_dir, settings)
    loaded = {}

    def data_for(fraction, seed):
        key = (fraction, seed if fraction < 1.0 else 0)
        if key not in loaded:
            loaded[key] = study_data.sign_language(
                image_size=settings["image_size"],
                train_fraction=fraction,
                seed=key[1],
                data_dir=args.data_dir,
            )
        return loaded[key]

    # Seed-major order: an interrupted study has whole seeds of every fraction.
    jobs = []
    for seed in settings["seeds"]:
        for fraction in settings["fractions"]:
            for activation in settings["activations"]:

                def job(fraction=fraction, activation=activation, seed=seed):
                    record = train_run(
                        data_for(fraction, seed), activation, seed, settings
                    )
                    record["fraction"] = fraction
                    return record

                jobs.append((job_key(fraction, activation, seed), job))
    records = runs.run_jobs(folder, jobs, verbose=not args.quiet)
    table = summarise(records, settings)

    sections = []
    for fraction in settings["fractions"]:
        rows = table[f"{fraction:g}"]
        images = sorted({n for r in rows.values() for n in r["train_images"]})
        heading = (
            f"{fraction:.0%} of the training signers "
            f"({images[0]}-{images[-1]} training images)"
        )
        text = (
            "Test accuracy (final weights):\n\n"
            + report.comparison_table(
                {a: r["test_accuracy"] for a, r in rows.items()},
                "test accuracy",
                higher_is_better=True,
            )
            + "\n\nTrain - test accuracy gap (lower: less overfitting):\n\n"
            + report.comparison_table(
                {a: r["gap"] for a, r in rows.items()}, "gap", higher_is_better=False
            )
        )
        sections.append((heading, text))
    sections.append(
        ("Training accuracy (mean over seeds)", train_accuracy_table(table, settings))
    )
    if args.plots:
        plot(table, settings, folder.path)
        sections.append(
            (
                "Plots",
                "![test accuracy](accuracy_vs_fraction.png)\n\n"
                "![gap](gap_vs_fraction.png)",
            )
        )
    seconds = runs.compute_seconds(records)
    budget = (
        f"{len(records)} runs, {seconds / 60:.1f} min of compute in all "
        f"({runs.describe_machine()}); {settings['epochs']} epochs x "
        f"{settings['steps_per_epoch']} steps of batch {settings['batch_size']} "
        f"per run, {settings['image_size']}x{settings['image_size']} grey images, "
        f"widths {settings['widths']}"
    )
    report.write_results(
        folder,
        "Study 3: limited data (fractions of the training signers)",
        sections,
        {"settings": settings, "table": table, "runs": records},
        args.command,
        budget,
    )
    return folder.path
