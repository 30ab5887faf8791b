"""Helpers of the experiments' tables: cell keys, mean ± std cells, markdown.

The run folder itself is `applications.common.runs.RunFolder` (one record
per finished cell under `per_run/`, pinned settings, resuming); the numbers
come from `applications.common.stats`.
"""

import numpy as np

from applications.common import stats


def cell_key(*parts):
    return "/".join(str(p) for p in parts)


def fmt(values, digits=2, scientific=True):
    """`mean ± std` over seeds as a table cell (`... (n=1)` for one seed)."""
    return stats.format_mean_std(values, digits, scientific)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def order_of_convergence(steps, errors):
    """Slope p of log(error) = -p log(steps) + c (least squares)."""
    steps, errors = np.asarray(steps, float), np.asarray(errors, float)
    keep = errors > 0
    if keep.sum() < 2:
        return float("nan")
    return float(-np.polyfit(np.log(steps[keep]), np.log(errors[keep]), 1)[0])


def progress(total, verbose):
    """A keras Progbar (or a silent stand-in when `verbose` is 0)."""
    import keras

    return keras.utils.Progbar(total, verbose=1 if verbose else 0, unit_name="cell")
