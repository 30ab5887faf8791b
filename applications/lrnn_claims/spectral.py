"""Claim 2, spectral bias: do the LRNN's learnable product-structured
activations move its spectral bias (which frequencies it learns first)?

Signals with known spectra (`targets.signal_1d`, `targets.signal_2d`: unit
sinusoids at low to high frequencies on a periodic grid) are fitted by every
model at one parameter count and step budget; every `eval_every` steps the
residual's amplitude at each signal frequency, relative to the signal's
(`spectrum.relative_residual`: 1 = nothing learnt, 0 = learnt), is recorded
per seed. The LRNNs also train with their univariate functions frozen at
initialisation (`lrnn_*_frozen`: only the projection and output layer
learn). A frequency's learning speed is summarised per seed by the mean of
its relative residual over the evaluations (the area under its curve,
lower = learnt sooner); trained and frozen LRNNs are compared per
frequency with Welch's test.
"""

import numpy as np

from applications.common import runs
from applications.common import stats
from applications.lrnn_claims import models
from applications.lrnn_claims import report
from applications.lrnn_claims import spectrum
from applications.lrnn_claims import targets
from applications.lrnn_claims.training import predict
from applications.lrnn_claims.training import train

SIGNALS = ("1d", "2d")
PAIRS = (("lrnn_sin", "lrnn_sin_frozen"), ("lrnn_apalu", "lrnn_apalu_frozen"))


def signal(kind, settings):
    """`(x in [-1, 1], y, frequencies, grid size)` of the signal `kind`."""
    if kind == "1d":
        size, freqs = settings["size_1d"], list(targets.FREQUENCIES_1D)
        x, y = targets.signal_1d(size)
    else:
        size, freqs = settings["size_2d"], [list(f) for f in targets.FREQUENCIES_2D]
        x, y = targets.signal_2d(size)
    return 2.0 * x - 1.0, y, freqs, size


def job_key(kind, name):
    return f"{kind}_{name}"


def run_job(settings, kind, name):
    """Trains `name` for every seed on one signal; returns the curves."""
    seeds = settings["seeds"]
    x, y, freqs, size = signal(kind, settings)
    n = x.shape[1]
    model = models.side_by_side(name, n, settings)
    tiled = np.repeat(x[:, None, :], len(seeds), axis=1).astype("float32")
    targets_s = np.repeat(y[:, None], len(seeds), axis=1)
    steps_seen, curves = [], []

    def evaluate(step):
        out = predict(model, tiled)
        steps_seen.append(step)
        curves.append(
            [
                spectrum.relative_residual(y, out[:, s], freqs, size).tolist()
                for s in range(len(seeds))
            ]
        )

    train(
        model,
        tiled,
        targets_s,
        settings["steps"],
        report.learning_rate(name, settings["learning_rate"]),
        eval_every=settings["eval_every"],
        on_eval=evaluate,
    )
    # (evaluations, seeds, frequencies) -> per seed (evaluations, frequencies)
    curves = np.transpose(np.asarray(curves), (1, 0, 2))
    return {
        "width": model.width,
        "params": models.trainable_count(model.networks[0]),
        "total_params": models.total_count(model.networks[0]),
        "frequencies": freqs,
        "steps": steps_seen,
        "curves": curves.tolist(),
    }


def areas(record):
    """Per seed and frequency: the mean relative residual over evaluations."""
    curves = np.asarray(record["curves"], np.float64)
    return np.mean(curves, axis=1)  # (seeds, frequencies)


def summarize(records, settings):
    out = {"table": [], "comparisons": [], "curves": {}}
    for kind in settings["signals"]:
        for name in settings["models"]:
            r = records[job_key(kind, name)]
            a = areas(r)
            final = np.asarray(r["curves"])[:, -1, :]
            out["table"].append(
                {
                    "signal": kind,
                    "model": name,
                    "params": r["params"],
                    "frequencies": r["frequencies"],
                    "area": [stats.summarize(a[:, j]) for j in range(a.shape[1])],
                    "final": [
                        stats.summarize(final[:, j]) for j in range(final.shape[1])
                    ],
                }
            )
            out["curves"][job_key(kind, name)] = {
                "steps": r["steps"],
                "mean": np.mean(r["curves"], axis=0).tolist(),
                "frequencies": r["frequencies"],
            }
        for trained, frozen in PAIRS:
            if trained not in settings["models"] or frozen not in settings["models"]:
                continue
            a = areas(records[job_key(kind, trained)])
            b = areas(records[job_key(kind, frozen)])
            freqs = records[job_key(kind, trained)]["frequencies"]
            for j, k in enumerate(freqs):
                out["comparisons"].append(
                    {
                        "signal": kind,
                        "pair": f"{trained} vs {frozen}",
                        "frequency": k,
                        **report.compare(a[:, j], b[:, j]),
                    }
                )
    out["verdict"] = verdict(out["comparisons"])
    return out


def verdict(comparisons):
    moved = [c for c in comparisons if c["p"] < report.ALPHA]
    if not comparisons:
        return "was not tested (no trained/frozen LRNN pair among the models)"
    if not moved:
        return (
            "does not hold here: training the LRNN's univariate functions changes "
            f"no frequency's learning speed significantly (Welch p >= {report.ALPHA})"
        )
    faster = [c for c in moved if c["mean_x"] < c["mean_y"]]
    slower = [c for c in moved if c["mean_x"] > c["mean_y"]]

    def names(cs):
        return ", ".join(
            f"{c['pair'].split(' ')[0]} {c['signal']} k={c['frequency']}" for c in cs
        )

    text = (
        f"holds in {len(moved)} of {len(comparisons)} (signal, LRNN, frequency) "
        "cases: training the univariate functions changes how fast those "
        f"frequencies are learnt (Welch p < {report.ALPHA})"
    )
    if faster:
        text += f"; sooner with training: {names(faster)}"
    if slower:
        text += f"; later with training: {names(slower)}"
    return text


def markdown(summary, settings):
    lines = [f"**Verdict: the spectral-bias claim {summary['verdict']}.**", ""]
    for kind in settings["signals"]:
        rows = [r for r in summary["table"] if r["signal"] == kind]
        freqs = rows[0]["frequencies"]
        label = [str(tuple(f)) if isinstance(f, list) else str(f) for f in freqs]
        lines += [
            f"Signal {kind}: mean relative residual over training at each frequency "
            "(area under the curve, lower = learnt sooner), mean ± std over "
            f"{len(settings['seeds'])} seeds:",
            "",
            "| model | params | " + " | ".join(f"k={f}" for f in label) + " |",
            "|---|---|" + "---|" * len(freqs),
        ]
        for r in rows:
            cells = [stats.format_mean_std(s, 3) for s in r["area"]]
            lines.append(
                f"| {r['model']} | {r['params']} | " + " | ".join(cells) + " |"
            )
        lines += [
            "",
            f"Signal {kind}: relative residual after the last step:",
            "",
            "| model | " + " | ".join(f"k={f}" for f in label) + " |",
            "|---|" + "---|" * len(freqs),
        ]
        for r in rows:
            cells = [stats.format_mean_std(s, 3) for s in r["final"]]
            lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
        lines.append("")
    if summary["comparisons"]:
        lines += [
            "Trained vs frozen univariate functions (area per frequency, Welch):",
            "",
            "| signal | pair | k | trained | frozen | p |",
            "|---|---|---|---|---|---|",
        ]
        for c in summary["comparisons"]:
            k = (
                tuple(c["frequency"])
                if isinstance(c["frequency"], list)
                else c["frequency"]
            )
            lines.append(
                f"| {c['signal']} | {c['pair']} | {k} | {c['mean_x']:.3f} | "
                f"{c['mean_y']:.3f} | {stats.format_p(c['p'])} |"
            )
    return lines


def run(run_dir, settings, command, verbose=True, plots=True):
    folder = runs.RunFolder(f"{run_dir}/spectral", settings)
    jobs = [
        (
            job_key(kind, name),
            lambda kind=kind, name=name: run_job(settings, kind, name),
        )
        for kind in settings["signals"]
        for name in settings["models"]
    ]
    records = runs.run_jobs(folder, jobs, verbose=verbose, unit="job")
    summary = summarize(records, settings)
    lines = report.header(
        "LRNN claim 2: spectral bias", settings, records, command
    ) + markdown(summary, settings)
    report.write(folder, lines, summary)
    if plots:
        from applications.lrnn_claims import plots as plots_lib

        plots_lib.spectral(folder.path / "spectral.png", summary, settings)
    return summary
