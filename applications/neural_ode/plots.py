"""Figures of the experiments (matplotlib, written as small PNGs)."""

import numpy as np

#: One colour and line style per activation, the same in every figure.
STYLE = {
    "apalu_smooth": dict(color="tab:blue", linestyle="-"),
    "apalu": dict(color="tab:orange", linestyle="--"),
    "relu": dict(color="tab:red", linestyle="--"),
    "softplus": dict(color="tab:green", linestyle="-"),
    "tanh": dict(color="tab:purple", linestyle="-"),
    "gelu": dict(color="tab:brown", linestyle="-"),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves(path, panels, xlabel, logx=True, logy=True, suptitle=None):
    """One figure of side-by-side panels of mean +- std curves.

    Args:
        path: the PNG file to write.
        panels: list of `(title, ylabel, {activation: (x, values)})`, values
            an array of shape (seeds, len(x)).
        xlabel: the x axis label.
        logx, logy: logarithmic axes.
        suptitle: optional figure title.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False
    )
    for ax, (title, ylabel, series) in zip(axes[0], panels):
        for name, (x, values) in series.items():
            values = np.asarray(values, float)
            mean = values.mean(axis=0)
            std = values.std(axis=0)
            style = STYLE.get(name, {})
            ax.plot(x, mean, label=name, marker=".", **style)
            if values.shape[0] > 1:
                low = mean - std if not logy else np.maximum(mean - std, mean * 1e-3)
                ax.fill_between(
                    x, low, mean + std, color=style.get("color"), alpha=0.15
                )
        if logx:
            from matplotlib.ticker import NullFormatter
            from matplotlib.ticker import ScalarFormatter

            ax.set_xscale("log")
            ticks = sorted({float(v) for _, (x, _) in series.items() for v in x})
            ax.set_xticks(ticks)
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        if logy:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    tmp = str(path) + ".tmp.png"
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    import os

    os.replace(tmp, path)
