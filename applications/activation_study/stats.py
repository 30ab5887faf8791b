"""Summaries, significance tests, markdown tables and the results files."""

import json
import math
import os
import pathlib

import numpy as np


def summarize(values):
    """`{"mean", "std", "n"}` of a list of numbers (std with ddof=1; NaN if n < 2)."""
    values = np.asarray(list(values), dtype=np.float64)
    n = int(values.size)
    mean = float(values.mean()) if n else math.nan
    std = float(values.std(ddof=1)) if n >= 2 else math.nan
    return {"mean": mean, "std": std, "n": n}


def welch_p(x, y):
    """Two-sided p-value of Welch's t-test (unequal variances) that mean(x) != mean(y).

    `scipy.stats.ttest_ind(x, y, equal_var=False)`. Returns `None` when the
    test is undefined: fewer than two values on a side, or no spread on
    either side (identical runs), or scipy missing.
    """
    from applications.sign_language.compare import _welch

    x = np.asarray(list(x), dtype=np.float64)
    y = np.asarray(list(y), dtype=np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return None
    p = _welch(x, y)
    return None if p is None or not math.isfinite(p) else p


def format_p(p):
    """`p` as text: `-` when undefined, `<0.001`, or 3 decimals."""
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_mean_std(summary, digits=4):
    """`mean +- std` of a `summarize` dict (the std `-` when undefined)."""
    std = summary["std"]
    std_text = "-" if not math.isfinite(std) else f"{std:.{digits}f}"
    return f"{summary['mean']:.{digits}f} ± {std_text}"


def comparison_table(values_by_activation, metric, higher_is_better,
                     references=("relu", "gelu"), digits=4):
    """A markdown table of one metric per activation with Welch p-values.

    Columns: activation | `metric` mean ± std | n | p vs relu | p vs gelu.
    The best mean (highest or lowest, as `higher_is_better` says) is bold.
    A reference missing from `values_by_activation` gives `-` p-values.

    Args:
        values_by_activation: `{activation: [value per seed]}`, in row order.
        metric: the metric's name for the header.
        higher_is_better: whether the largest mean is the best.
        references: the activations every row is tested against.
        digits: decimals of mean and std.
    """
    summaries = {k: summarize(v) for k, v in values_by_activation.items()}
    finite = {k: s["mean"] for k, s in summaries.items() if math.isfinite(s["mean"])}
    best = None
    if finite:
        pick = max if higher_is_better else min
        best = pick(finite, key=finite.get)
    header = (f"| activation | {metric} (mean ± std) | n | "
              + " | ".join(f"p vs {r}" for r in references) + " |")
    lines = [header, "|" + "---|" * (3 + len(references))]
    for name, values in values_by_activation.items():
        cell = format_mean_std(summaries[name], digits)
        if name == best:
            cell = f"**{cell}**"
        ps = []
        for reference in references:
            if reference == name or reference not in values_by_activation:
                ps.append("-")
            else:
                ps.append(format_p(welch_p(values, values_by_activation[reference])))
        lines.append(f"| {name} | {cell} | {summaries[name]['n']} | "
                     + " | ".join(ps) + " |")
    return "\n".join(lines)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Not JSON serialisable: {type(value).__name__}")


def _atomic_write(path, text):
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def write_results(folder, title, sections, data, command, budget):
    """Writes `results.md` and `results.json` into `folder`.

    Args:
        folder: the run folder (a path or a `RunFolder`).
        title: the study's title (first heading of results.md).
        sections: list of `(heading, markdown)`, in order.
        data: JSON-serialisable dict of every number behind the tables.
        command: the exact command that produced the results.
        budget: wall time and machine, as text.

    Returns:
        The path of `results.md`.
    """
    folder = pathlib.Path(getattr(folder, "path", folder))
    folder.mkdir(parents=True, exist_ok=True)
    parts = [f"# {title}", "", "Command:", "", "```bash", command, "```", "",
             f"Budget: {budget}", ""]
    for heading, markdown in sections:
        parts += [f"## {heading}", "", markdown.rstrip(), ""]
    _atomic_write(folder / "results.md", "\n".join(parts))
    payload = {"title": title, "command": command, "budget": budget,
               "data": data}
    _atomic_write(folder / "results.json",
                  json.dumps(payload, indent=1, default=_json_default,
                             allow_nan=True))
    return folder / "results.md"
