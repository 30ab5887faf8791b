"""The pictures of a comparison: reconstructions, error maps, PSNR curves."""

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reconstructions(path, truth, images, rows):
    """Truth and each image (top), absolute error maps (bottom)."""
    plt = _pyplot()
    scores = {r["model"]: r for r in rows}
    n = len(images) + 1
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.1))
    axes[0, 0].imshow(truth, cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title("truth", fontsize=8)
    axes[1, 0].axis("off")
    for i, (name, image) in enumerate(images.items(), start=1):
        image = np.clip(image, 0, 1)
        axes[0, i].imshow(image, cmap="gray", vmin=0, vmax=1)
        label = name
        if name in scores:
            label += f"\n{scores[name]['psnr']:.1f} dB (mean)"
        axes[0, i].set_title(label, fontsize=8)
        axes[1, i].imshow(np.abs(image - truth), cmap="magma", vmin=0, vmax=0.25)
        axes[1, i].set_title("|error|", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def curves(path, results, title):
    """PSNR against steps, mean over seeds (band: min to max)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name in dict.fromkeys(r["model"] for r in results):
        mine = [np.array(r["curve"]) for r in results if r["model"] == name]
        steps = mine[0][:, 0]
        psnr = np.stack([c[:, 1] for c in mine])
        ax.plot(steps, psnr.mean(0), label=name)
        ax.fill_between(steps, psnr.min(0), psnr.max(0), alpha=0.2)
    ax.set_xlabel("step")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
