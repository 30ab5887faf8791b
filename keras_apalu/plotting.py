"""Figures of learned APALU layers, drawn with matplotlib (needs no display).

Both helpers return a `matplotlib.figure.Figure` built without pyplot, so
they never change the process's matplotlib backend, and save it when given
a path. They take a model (its current `a` and `b`), an `APALURecorder`
record (a dict), or the path of the recorder's JSON file.
"""

import json
import pathlib

import numpy as np

from keras_apalu.initialization import basis


def apalu_numpy(x, a, b):
    """APALU in float64 NumPy: `x` of shape (n,), `a`, `b` scalars or (c,).

    Returns `(n,)` for scalar `a`, `b`, else `(n, c)`.
    """
    g, h = basis(np.asarray(x, np.float64))
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim:
        return g[:, None] * a.ravel()[None, :] + h[:, None] * b.ravel()[None, :]
    return a * g + b * h


def _figure(panels, width=3.2, height=2.8, columns=4):
    from matplotlib.figure import Figure

    columns = max(1, min(columns, panels))
    rows = -(-max(panels, 1) // columns)
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[panels:]:
        axis.axis("off")
    return figure, axes[:panels]


def _save(figure, path):
    if path is not None:
        figure.savefig(path, dpi=110)
    return figure


def _load(source):
    """A recorder record from a dict, a JSON path or a model."""
    if isinstance(source, dict):
        return source
    if isinstance(source, (str, pathlib.Path)):
        return json.loads(pathlib.Path(source).read_text())
    from keras_apalu.callbacks import _layer_values
    from keras_apalu.callbacks import apalu_layers

    layers = apalu_layers(source)
    values = {
        layer.name: {p: v.ravel().tolist() for p, v in _layer_values(layer).items()}
        for layer in layers
    }
    return {"layers": [layer.name for layer in layers], "epochs": {"current": values}}


def plot_apalu_curves(source, path=None, x_range=(-4.0, 4.0), points=200):
    """The learned APALU function of every layer, one panel per layer.

    Each panel draws f(x) for every channel's `(a, b)` of the last recorded
    epoch (thin lines), the function of the channel means (thick) and, for
    a record, that of the first epoch's means (dashed).

    Args:
        source: a model, an `APALURecorder` record, or its JSON file.
        path: PNG (or any matplotlib format) file to write, or `None`.
        x_range: the x interval drawn.
        points: samples of x.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: the source has no APALU layer.
    """
    record = _load(source)
    layers = record["layers"]
    if not layers:
        raise ValueError("plot_apalu_curves: no APALU layer to draw.")
    epochs = sorted(record["epochs"], key=lambda k: int(k) if k.isdigit() else -1)
    last, first = epochs[-1], epochs[0]
    figure, axes = _figure(len(layers))
    x = np.linspace(*x_range, points)
    for axis, name in zip(axes, layers):
        a = np.asarray(record["epochs"][last][name]["a"])
        b = np.asarray(record["epochs"][last][name]["b"])
        axis.plot(x, apalu_numpy(x, a, b), color="tab:blue", alpha=0.15, lw=0.7)
        label = f"a={a.mean():.2f}, b={b.mean():.2f}"
        if last.isdigit():
            label = f"epoch {last}: {label}"
        axis.plot(
            x, apalu_numpy(x, a.mean(), b.mean()), color="tab:blue", lw=2, label=label
        )
        if first != last:
            a0 = np.asarray(record["epochs"][first][name]["a"]).mean()
            b0 = np.asarray(record["epochs"][first][name]["b"]).mean()
            axis.plot(x, apalu_numpy(x, a0, b0), "k--", lw=1, label=f"epoch {first}")
        axis.set_title(name, fontsize=9)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle("learned APALU per layer (thin: channels, thick: mean)")
    return _save(figure, path)


def plot_apalu_evolution(source, path=None):
    """How each layer's `a` and `b` moved over the epochs of a record.

    One panel per layer: the channel mean of `a` and of `b` per epoch
    (lines) between their channel min and max (shaded).

    Args:
        source: an `APALURecorder` record or its JSON file (needs `stats`).
        path: file to write, or `None`.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: the record has no APALU layer or no statistics.
    """
    record = _load(source)
    stats = record.get("stats") or {}
    if not record["layers"] or not stats:
        raise ValueError(
            "plot_apalu_evolution: the record has no APALU statistics "
            "(an APALURecorder record with 'stats' is needed)."
        )
    epochs = sorted(stats, key=int)
    steps = np.array([int(e) for e in epochs])
    figure, axes = _figure(len(record["layers"]))
    for axis, name in zip(axes, record["layers"]):
        for p, color in (("a", "tab:blue"), ("b", "tab:orange")):
            values = {
                s: np.array([stats[e][name][p][s] for e in epochs])
                for s in ("mean", "min", "max")
            }
            axis.fill_between(
                steps, values["min"], values["max"], color=color, alpha=0.2
            )
            axis.plot(steps, values["mean"], color=color, lw=2, label=p)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle("APALU a and b per epoch (line: channel mean, band: min-max)")
    return _save(figure, path)
