"""PNG figures of a run (matplotlib, Agg backend: no display needed).

The learned APALU curves are drawn by `keras_apalu.plotting`.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def learning_curves(history, path):
    """Loss and accuracy per epoch, training and validation.

    Args:
        history: rows of the CSV history (`callbacks.read_history`).
        path: PNG file to write.
    """
    epochs = [int(row["epoch"]) + 1 for row in history]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = [row.get(prefix + metric, np.nan) for row in history]
            axis.plot(epochs, values, style, label=(prefix or "train_") + metric)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    _save(figure, path)


def confusion_matrix(matrix, class_names, path, title="test confusion matrix"):
    """A confusion matrix with counts in the cells (rows: true, columns: predicted)."""
    matrix = np.asarray(matrix)
    figure, axis = plt.subplots(figsize=(6, 5.4))
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046)
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names)
    axis.set_yticks(ticks, class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if matrix[i, j]:
                axis.text(
                    j,
                    i,
                    int(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if matrix[i, j] > threshold else "black",
                )
    _save(figure, path)


def comparison_bars(summary, path):
    """Bar plot of mean test accuracy per activation with std error bars.

    Args:
        summary: list of dicts with `activation`, `acc_mean`, `acc_std`,
            `accs` (one value per seed).
        path: PNG file to write.
    """
    names = [row["activation"] for row in summary]
    means = np.array([row["acc_mean"] for row in summary]) * 100
    stds = np.array([row["acc_std"] for row in summary]) * 100
    figure, axis = plt.subplots(figsize=(1.4 * len(names) + 2, 4))
    positions = np.arange(len(names))
    axis.bar(positions, means, yerr=stds, capsize=5, color="tab:blue", alpha=0.7)
    for position, row in zip(positions, summary):
        accs = np.asarray(row["accs"]) * 100
        axis.plot(np.full(len(accs), position), accs, "k.", ms=5)
    axis.set_xticks(positions, names)
    low = max(0.0, float(min(np.min(np.asarray(r["accs"])) for r in summary) * 100) - 3)
    axis.set_ylim(low, 100)
    axis.set_ylabel("test accuracy on unseen signers (%)")
    axis.set_title("mean +- std over seeds (dots: single seeds)")
    axis.grid(axis="y", alpha=0.3)
    _save(figure, path)
