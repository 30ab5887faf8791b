"""A run folder's results file: resumable cells, and mean +- std tables.

`results.json` holds the experiment's settings and one entry per finished
cell (for example one activation and seed). It is rewritten atomically after
every cell, so an interrupted run resumes at the first missing cell and a
failed run leaves the earlier results intact; a run folder made with other
settings is refused rather than mixed.
"""

import json
import os
import pathlib

import numpy as np


class RunStore:
    """The cells of one experiment run in `run_dir/results.json`.

    Args:
        run_dir: the run folder (created if missing).
        settings: a JSON-able dict of the experiment's settings; an existing
            folder must have been made with the same settings.
    """

    def __init__(self, run_dir, settings):
        self.run_dir = pathlib.Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / "results.json"
        self.settings = json.loads(json.dumps(settings))
        self.cells = {}
        if self.path.exists():
            saved = json.loads(self.path.read_text())
            if saved.get("settings") != self.settings:
                changed = sorted(
                    k for k in set(saved.get("settings", {})) | set(self.settings)
                    if saved.get("settings", {}).get(k) != self.settings.get(k)
                )
                raise ValueError(
                    f"neural_ode: {self.run_dir} holds a run with other settings "
                    f"({', '.join(changed)}); use another --run-dir or delete it."
                )
            self.cells = saved.get("cells", {})

    def __contains__(self, key):
        return key in self.cells

    def put(self, key, value):
        self.cells[key] = value
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"settings": self.settings, "cells": self.cells},
                                  indent=1))
        os.replace(tmp, self.path)

    def write_text(self, name, text):
        tmp = self.run_dir / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.run_dir / name)


def cell_key(*parts):
    return "/".join(str(p) for p in parts)


def mean_std(values):
    """`(mean, std)` over seeds (std with ddof=1; 0 for a single seed)."""
    values = np.asarray(values, dtype=float)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), std


def fmt(values, digits=2, scientific=True):
    mean, std = mean_std(values)
    if scientific:
        return f"{mean:.{digits}e} +- {std:.{digits - 1}e}"
    return f"{mean:.{digits}f} +- {std:.{digits}f}"


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
