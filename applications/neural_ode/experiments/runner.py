"""Runs one experiment cell by cell, resumably, and writes its table and plots."""

import dataclasses
import importlib
import time

from applications.neural_ode.experiments import store as st

MODULES = {
    "gradients": "gradient_accuracy",
    "resnet": "resnet_vs_ode",
    "ntk": "ntk",
    "train": "training",
}


def experiment_module(name):
    if name not in MODULES:
        raise ValueError(
            f"neural_ode: unknown experiment {name!r}; choose from {sorted(MODULES)}."
        )
    return importlib.import_module(f"applications.neural_ode.experiments.{MODULES[name]}")


def settings_for(name, quick=False, **overrides):
    """The experiment's `Settings` (quick or full) with `overrides` applied."""
    module = experiment_module(name)
    settings = module.Settings.quick() if quick else module.Settings()
    fields = {f.name: f for f in dataclasses.fields(settings)}
    for key, value in overrides.items():
        if key not in fields:
            raise ValueError(
                f"neural_ode: {name} has no setting {key!r}; settings: {sorted(fields)}."
            )
        setattr(settings, key, value)
    from applications.neural_ode import activations

    for a in settings.activations:
        activations.check_name(a)
    if settings.seeds < 1:
        raise ValueError(f"neural_ode: seeds must be >= 1; got {settings.seeds}.")
    return settings


def cells(name, settings):
    if name == "train":
        return [(a, seed, w) for w in sorted(settings.widths)
                for a in settings.activations for seed in range(settings.seeds)]
    return [(a, seed) for seed in range(settings.seeds) for a in settings.activations]


def run(name, settings, run_dir, verbose=1):
    """Runs (or resumes) experiment `name` into `run_dir`; returns the table text.

    Args:
        name: "gradients", "resnet", "ntk" or "train".
        settings: the experiment's `Settings` (see `settings_for`).
        run_dir: the run folder (results.json, results.md, PNGs).
        verbose: 1 for a progress bar and the summary, 0 for silence.
    """
    import keras

    module = experiment_module(name)
    recorded = dataclasses.asdict(settings)
    recorded["backend"] = keras.backend.backend()
    run_store = st.RunStore(run_dir, recorded)
    todo = cells(name, settings)
    bar = st.progress(len(todo), verbose)
    start = time.perf_counter()
    for i, cell in enumerate(todo):
        key = st.cell_key(*cell)
        if key not in run_store:
            cell_start = time.perf_counter()
            result = module.run_cell(settings, *cell)
            result["seconds"] = round(time.perf_counter() - cell_start, 2)
            run_store.put(key, result)
        bar.update(i + 1)
    text = module.summarize(settings, run_store.cells, run_store)
    seconds = sum(c.get("seconds", 0.0) for c in run_store.cells.values())
    run_store.write_text("timing.txt",
                         f"cells: {len(todo)}; compute time of all cells: {seconds:.0f} s; "
                         f"this invocation: {time.perf_counter() - start:.0f} s wall; "
                         f"backend {keras.backend.backend()}\n")
    if verbose:
        print(text)
        print(f"wrote {run_store.run_dir}/results.md, results.json and the PNG figures")
    return text
