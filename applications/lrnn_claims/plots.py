"""The studies' figures (matplotlib, Agg): one PNG per claim."""

import math

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def dimension(path, summary, settings):
    """Relative test error against d (largest N) per target kind, and the
    learning curves (error against N) at the largest d."""
    plt = _pyplot()
    kinds = settings["kinds"]
    fig, axes = plt.subplots(
        2, len(kinds), figsize=(5 * len(kinds), 7.5), squeeze=False
    )
    n_max, d_max = max(settings["n_train"]), max(settings["dims"])
    for col, kind in enumerate(kinds):
        for name in settings["models"]:
            rows = [
                r for r in summary["table"] if r["kind"] == kind and r["model"] == name
            ]
            by_d = sorted((r["d"], r) for r in rows if r["n_train"] == n_max)
            by_n = sorted((r["n_train"], r) for r in rows if r["d"] == d_max)
            style = "-o" if name.startswith("lrnn") else "--."
            for ax, pts in ((axes[0, col], by_d), (axes[1, col], by_n)):
                xs = [p for p, _ in pts]
                ms = np.array([r["test_rel_mse"]["mean"] for _, r in pts])
                sd = np.nan_to_num(np.array([r["test_rel_mse"]["std"] for _, r in pts]))
                ax.errorbar(xs, ms, yerr=sd, fmt=style, label=name, capsize=2)
        axes[0, col].set(
            xscale="log",
            yscale="log",
            xlabel="d",
            ylabel="relative test MSE",
            title=f"{kind} target, N = {n_max}",
        )
        axes[1, col].set(
            xscale="log",
            yscale="log",
            xlabel="N",
            ylabel="relative test MSE",
            title=f"{kind} target, d = {d_max}",
        )
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def spectral(path, summary, settings):
    """Relative residual per frequency against the step, one panel per
    (signal, model), mean over seeds."""
    plt = _pyplot()
    kinds, names = settings["signals"], settings["models"]
    fig, axes = plt.subplots(
        len(kinds),
        len(names),
        figsize=(2.2 * len(names), 2.4 * len(kinds)),
        squeeze=False,
        sharey=True,
    )
    for i, kind in enumerate(kinds):
        for j, name in enumerate(names):
            c = summary["curves"][f"{kind}_{name}"]
            mean = np.asarray(c["mean"])
            ax = axes[i, j]
            for f, k in enumerate(c["frequencies"]):
                label = str(tuple(k)) if isinstance(k, list) else str(k)
                ax.plot(c["steps"], mean[:, f], label=f"k={label}")
            ax.set_title(f"{kind} {name}", fontsize=7)
            ax.set_ylim(0, 1.2)
            ax.tick_params(labelsize=6)
        axes[i, 0].set_ylabel("relative residual")
        axes[i, 0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def width(path, summary, settings):
    """Variances against the projection width (both inits, before and after
    training), and the irrelevant/relevant weight ratios."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for init in ("controlled", "uncontrolled"):
        rows = [r for r in summary["variance"] if r["init"] == init]
        ws = [r["width"] for r in rows]
        for key, ax in (("var_y", axes[0]), ("var_grad", axes[1])):
            for stage, style in (("init", "-o"), ("trained", "--s")):
                means = [r[f"{key}_{stage}"]["mean"] for r in rows]
                means = [
                    m if r[f"{key}_{stage}_diverged"] == 0 else math.nan
                    for m, r in zip(means, rows, strict=True)
                ]
                ax.plot(ws, means, style, label=f"{init}, {stage}")
    for ax, title in ((axes[0], "Var(y)"), (axes[1], "Var(dy/dx)")):
        ax.set(xscale="log", yscale="log", xlabel="projection width", title=title)
        ax.legend(fontsize=7)
    ks = settings["irrelevant"]
    names = settings["relevance_models"]
    step = 0.8 / len(names)
    for i, name in enumerate(names):
        rows = [r for r in summary["relevance"] if r["model"] == name]
        axes[2].bar(
            np.arange(len(ks)) + i * step,
            [r["ratio_trained"]["mean"] for r in rows],
            step,
            yerr=[r["ratio_trained"]["std"] for r in rows],
            label=name,
        )
    axes[2].axhline(1.0, color="k", lw=0.5)
    axes[2].set(
        xticks=np.arange(len(ks)) + 0.4 - step / 2,
        xticklabels=[f"k={k}" for k in ks],
        ylabel="irrelevant / relevant weight norm",
        title="relevance determination (trained)",
    )
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
