"""Comparing activations over several seeds on the same signer split.

Every run trains the same network (`model.build_model`) with one activation
and one seed, on the same split (`split_seed` fixed), into
`<out_dir>/<activation>/seed<seed>/`. Finished runs (with `metrics.json`) are
reused, unfinished ones resume, so an interrupted comparison loses nothing.
Writes `<out_dir>/results.md` (markdown table), `results.json` and
`comparison.png` (bar plot).
"""

import dataclasses
import datetime
import json
import pathlib
import platform

import numpy as np

from applications.common.errors import UsageError
from applications.sign_language.train import train


def _run(config, activation, seed, out_dir):
    run_dir = pathlib.Path(out_dir) / activation / f"seed{seed}"
    run_config = dataclasses.replace(
        config, run_dir=str(run_dir), activation=activation, seed=seed
    )
    metrics_path = run_dir / "metrics.json"
    if metrics_path.exists() and not (run_dir / "backup").exists():
        _check_same_settings(run_dir, run_config)
        return json.loads(metrics_path.read_text())
    import keras

    keras.backend.clear_session()
    return train(run_config)


def _check_same_settings(run_dir, config):
    from applications.sign_language.train import _RESUME_KEYS

    previous = json.loads((run_dir / "config.json").read_text())
    changed = [k for k in _RESUME_KEYS if previous.get(k) != getattr(config, k)]
    if changed:
        raise UsageError(
            f"{run_dir} was trained with other settings ({', '.join(changed)})",
            hint="use another --run-dir for a comparison with new settings",
        )


def _welch(x, y):
    """Welch's t-test p-value (two-sided) of mean(x) != mean(y); None if undefined."""
    try:
        from scipy import stats
    except ImportError:
        return None
    if len(x) < 2 or len(y) < 2 or (np.std(x) == 0 and np.std(y) == 0):
        return None
    return float(stats.ttest_ind(x, y, equal_var=False).pvalue)


def summarize(results):
    """Per-activation mean/std of test accuracy, best epoch and epoch time."""
    summary = []
    for activation, runs in results.items():
        accs = np.array([r["test_accuracy"] for r in runs])
        best = np.array([r["best_epoch"] for r in runs])
        times = np.array([r["seconds_per_epoch"] for r in runs])
        summary.append(
            {
                "activation": activation,
                "runs": len(runs),
                "accs": accs.tolist(),
                "acc_mean": float(accs.mean()),
                "acc_std": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
                "best_epoch_mean": float(best.mean()),
                "best_epoch_std": float(best.std(ddof=1)) if len(best) > 1 else 0.0,
                "seconds_per_epoch": float(np.median(times)),
            }
        )
    return summary


def markdown_table(summary, header_lines, reference="apalu"):
    """The results table (and significance lines against `reference`) as markdown."""
    lines = list(header_lines) + [
        "",
        "| activation | test accuracy, unseen signers (mean ± std) | min – max "
        "| epochs to best val_loss (mean ± std) | s / epoch (median) | runs |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary:
        accs = np.asarray(row["accs"]) * 100
        lines.append(
            f"| {row['activation']} | {row['acc_mean']:.2%} ± {row['acc_std']:.2%} "
            f"| {accs.min():.1f}% – {accs.max():.1f}% "
            f"| {row['best_epoch_mean']:.1f} ± {row['best_epoch_std']:.1f} "
            f"| {row['seconds_per_epoch']:.1f} | {row['runs']} |"
        )
    by_name = {row["activation"]: row for row in summary}
    if reference in by_name and len(by_name) > 1:
        lines += ["", f"Differences to {reference} (Welch's t-test over seeds):", ""]
        ref = np.asarray(by_name[reference]["accs"])
        for row in summary:
            if row["activation"] == reference:
                continue
            other = np.asarray(row["accs"])
            p = _welch(ref, other)
            p_text = "n/a" if p is None else f"{p:.2f}"
            lines.append(
                f"- {reference} − {row['activation']}: "
                f"{(ref.mean() - other.mean()) * 100:+.2f} percentage points, p = {p_text}"
            )
    return "\n".join(lines) + "\n"


def compare(config, activations, seeds, out_dir, command=None):
    """Trains every (activation, seed) pair and writes the comparison.

    Args:
        config: the `TrainConfig` shared by all runs (its `activation`,
            `seed` and `run_dir` are replaced per run).
        activations: activation names.
        seeds: model seeds (weights, augmentation, shuffling); the split
            stays `config.split_seed` for all.
        out_dir: folder of the runs and the results.
        command: the command line, recorded in the table's header.

    Returns:
        The summary list (one dict per activation).
    """
    import keras

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = dataclasses.replace(config, plots=False)
    results = {a: [] for a in activations}
    for seed in seeds:
        for activation in activations:
            results[activation].append(_run(config, activation, seed, out_dir))
    summary = summarize(results)
    first = results[activations[0]][0]
    header = [
        f"# Activation comparison: {len(activations)} activations x {len(seeds)} seeds",
        "",
        f"- command: `{command}`" if command else "- command: (programmatic)",
        f"- date: {datetime.date.today().isoformat()}, backend {keras.backend.backend()}, "
        f"{platform.machine()} CPU ({_cpu_count()} cores, shared with other jobs: "
        "times are pessimistic)",
        f"- split: {first['split']} (split seed {config.split_seed}); "
        f"images train/val/test {first['images']['train']}/{first['images']['val']}/"
        f"{first['images']['test']}, signers {first['signers']['train']}/"
        f"{first['signers']['val']}/{first['signers']['test']}",
        f"- budget: at most {config.epochs} epochs, early stopping patience "
        f"{config.patience}; {config.image_size}x{config.image_size} {config.color_mode}, "
        f"width {config.width}, {first['params']} weights (apalu model)",
        f"- seeds: {', '.join(str(s) for s in seeds)}",
    ]
    table = markdown_table(summary, header)
    (out_dir / "results.md").write_text(table)
    (out_dir / "results.json").write_text(
        json.dumps(
            {
                "summary": summary,
                "runs": results,
                "command": command,
                "config": dataclasses.asdict(config),
            },
            indent=1,
            default=str,
        )
    )
    from applications.sign_language import plots

    plots.comparison_bars(summary, out_dir / "comparison.png")
    return summary


def _cpu_count():
    import os

    return os.cpu_count()
