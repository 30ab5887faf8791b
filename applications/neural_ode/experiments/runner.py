"""Runs one experiment cell by cell, resumably, and writes its table and plots."""

import dataclasses
import importlib
import json
import time

from applications.common import runs
from applications.common.errors import UsageError
from applications.neural_ode.experiments import store as st

MODULES = {
    "gradients": "gradient_accuracy",
    "resnet": "resnet_vs_ode",
    "ntk": "ntk",
    "train": "training",
}


def experiment_module(name):
    if name not in MODULES:
        raise UsageError(
            f"neural_ode: unknown experiment {name!r}; choose from {sorted(MODULES)}."
        )
    return importlib.import_module(
        f"applications.neural_ode.experiments.{MODULES[name]}"
    )


def settings_for(name, quick=False, **overrides):
    """The experiment's `Settings` (quick or full) with `overrides` applied."""
    module = experiment_module(name)
    settings = module.Settings.quick() if quick else module.Settings()
    fields = {f.name: f for f in dataclasses.fields(settings)}
    for key, value in overrides.items():
        if key not in fields:
            raise UsageError(
                f"neural_ode: {name} has no setting {key!r}; settings: {sorted(fields)}."
            )
        setattr(settings, key, value)
    from applications.neural_ode import activations

    for a in settings.activations:
        try:
            activations.check_name(a)
        except ValueError as error:
            raise UsageError(str(error)) from None
    settings.seeds = tuple(settings.seeds)
    if not settings.seeds or any(
        not isinstance(s, int) or s < 0 for s in settings.seeds
    ):
        raise UsageError(
            f"neural_ode: seeds must be integers >= 0, at least one; "
            f"got {settings.seeds}."
        )
    return settings


def cells(name, settings):
    """The cells in run order: seed by seed, so that a stopped run has whole seeds."""
    if name == "train":
        return [
            (a, seed, w)
            for seed in settings.seeds
            for w in sorted(settings.widths)
            for a in settings.activations
        ]
    return [(a, seed) for seed in settings.seeds for a in settings.activations]


def complete_seeds(name, settings, done):
    """The leading seeds (a tuple) that have every cell in `done`."""
    for index, seed in enumerate(settings.seeds):
        if any(
            st.cell_key(*c) not in done for c in cells(name, settings) if c[1] == seed
        ):
            return settings.seeds[:index]
    return settings.seeds


def run(name, settings, run_dir, verbose=1, summary_only=False):
    """Runs (or resumes) experiment `name` into `run_dir`; returns the table text.

    Args:
        name: "gradients", "resnet", "ntk" or "train".
        settings: the experiment's `Settings` (see `settings_for`).
        run_dir: the run folder: `settings.json`, one record per finished
            cell in `per_run/`, and the summary (results.json: the settings
            and every cell; results.md; PNGs).
        verbose: 1 for a progress bar and the summary, 0 for silence.
        summary_only: compute nothing; write the table and figures from
            the seeds finished so far (a stopped run's partial results).

    Raises:
        UsageError: the folder holds a run with other settings, cannot be
            written, or (summary_only) has no finished seed yet.
    """
    import keras

    module = experiment_module(name)
    recorded = dataclasses.asdict(settings)
    recorded["backend"] = keras.backend.backend()
    folder = runs.RunFolder(run_dir, recorded)
    todo = [] if summary_only else cells(name, settings)
    bar = st.progress(max(len(todo), 1), verbose)
    start = time.perf_counter()
    for i, cell in enumerate(todo):
        key = st.cell_key(*cell)
        if not folder.has(key):
            cell_start = time.perf_counter()
            result = module.run_cell(settings, *cell)
            result["seconds"] = round(time.perf_counter() - cell_start, 2)
            folder.put(key, result)
        bar.update(i + 1)
    done = folder.records()
    finished = complete_seeds(name, settings, done)
    if not finished:
        raise UsageError(
            f"neural_ode: {run_dir} has no finished seed to summarise yet",
            hint="run the experiment without --summary-only first",
        )
    # results.json: the settings and every cell, enough to rebuild the table
    # and the figures without the per-run files.
    folder.write_text(
        "results.json",
        json.dumps({"settings": folder.settings, "cells": done}, indent=1),
    )
    text = module.summarize(dataclasses.replace(settings, seeds=finished), done, folder)
    if len(finished) < len(settings.seeds):
        text = text.rstrip("\n") + (
            f"\n\nPartial run: {len(finished)} of "
            f"{len(settings.seeds)} seeds finished.\n"
        )
        folder.write_text("results.md", text)
    seconds = sum(c.get("seconds", 0.0) for c in done.values())
    if not summary_only:
        folder.write_text(
            "timing.txt",
            f"cells: {len(todo)}; compute time of all cells: {seconds:.0f} s; "
            f"this invocation: {time.perf_counter() - start:.0f} s wall; "
            f"backend {keras.backend.backend()}\n",
        )
    if verbose:
        print(text)
        print(f"wrote {folder.path}/results.md, results.json and the PNG figures")
    return text
