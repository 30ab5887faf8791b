"""The studies' report: comparison tables and the results files.

The numbers come from `applications.common.stats` (mean, sample std, Welch
test; one seed shows as `n=1` and `-` p-values).
"""

import json
import math
import pathlib

import numpy as np

from applications.common import stats
from applications.common.runs import write_atomic


def comparison_table(
    values_by_activation,
    metric,
    higher_is_better,
    references=("relu", "gelu"),
    digits=4,
):
    """A markdown table of one metric per activation with Welch p-values.

    Columns: activation | `metric` mean ± std | n | p vs relu | p vs gelu.
    The best mean (highest or lowest, as `higher_is_better` says) is bold.
    A reference missing from `values_by_activation`, or a test that is not
    available (fewer than two seeds), gives `-`.

    Args:
        values_by_activation: `{activation: [value per seed]}`, in row order.
        metric: the metric's name for the header.
        higher_is_better: whether the largest mean is the best.
        references: the activations every row is tested against.
        digits: decimals of mean and std.
    """
    summaries = {k: stats.summarize(v) for k, v in values_by_activation.items()}
    finite = {k: s["mean"] for k, s in summaries.items() if math.isfinite(s["mean"])}
    best = None
    if finite:
        pick = max if higher_is_better else min
        best = pick(finite, key=finite.get)
    header = (
        f"| activation | {metric} (mean ± std) | n | "
        + " | ".join(f"p vs {r}" for r in references)
        + " |"
    )
    lines = [header, "|" + "---|" * (3 + len(references))]
    for name, values in values_by_activation.items():
        cell = stats.format_mean_std(summaries[name], digits)
        if name == best:
            cell = f"**{cell}**"
        ps = []
        for reference in references:
            if reference == name or reference not in values_by_activation:
                ps.append("-")
            else:
                ps.append(
                    stats.format_p(
                        stats.welch_p(values, values_by_activation[reference])
                    )
                )
        lines.append(
            f"| {name} | {cell} | {summaries[name]['n']} | " + " | ".join(ps) + " |"
        )
    return "\n".join(lines)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Not JSON serialisable: {type(value).__name__}")


def write_results(folder, title, sections, data, command, budget):
    """Writes `results.md` and `results.json` into `folder`.

    Args:
        folder: the run folder (a path or a `RunFolder`).
        title: the study's title (first heading of results.md).
        sections: list of `(heading, markdown)`, in order.
        data: JSON-serialisable dict of every number behind the tables and
            plots (per seed), so that the summary needs no per-run file.
        command: the exact command that produced the results.
        budget: wall time and machine, as text.

    Returns:
        The path of `results.md`.
    """
    folder = pathlib.Path(getattr(folder, "path", folder))
    folder.mkdir(parents=True, exist_ok=True)
    parts = [
        f"# {title}",
        "",
        "Command:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Budget: {budget}",
        "",
        "The records of the single runs are in the run folder's `per_run/` "
        "(not committed); rerunning the command there rebuilds this summary "
        "without training again.",
        "",
    ]
    for heading, markdown in sections:
        parts += [f"## {heading}", "", markdown.rstrip(), ""]
    write_atomic(folder / "results.md", "\n".join(parts))
    payload = {"title": title, "command": command, "budget": budget, "data": data}
    write_atomic(
        folder / "results.json",
        json.dumps(payload, indent=1, default=_json_default, allow_nan=True),
    )
    return folder / "results.md"
