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
    """The cells in run order: seed by seed, so that a stopped run has whole seeds."""
    if name == "train":
        return [(a, seed, w) for seed in range(settings.seeds)
                for w in sorted(settings.widths) for a in settings.activations]
    return [(a, seed) for seed in range(settings.seeds) for a in settings.activations]


def complete_seeds(name, settings, done):
    """How many leading seeds have every cell in `done`."""
    for seed in range(settings.seeds):
        if any(st.cell_key(*c) not in done for c in cells(name, settings) if c[1] == seed):
            return seed
    return settings.seeds


def run(name, settings, run_dir, verbose=1, summary_only=False):
    """Runs (or resumes) experiment `name` into `run_dir`; returns the table text.

    Args:
        name: "gradients", "resnet", "ntk" or "train".
        settings: the experiment's `Settings` (see `settings_for`).
        run_dir: the run folder (results.json, results.md, PNGs).
        verbose: 1 for a progress bar and the summary, 0 for silence.
        summary_only: compute nothing; write the table and figures from
            the seeds finished so far (a stopped run's partial results).
    """
    import keras

    module = experiment_module(name)
    recorded = dataclasses.asdict(settings)
    recorded["backend"] = keras.backend.backend()
    run_store = st.RunStore(run_dir, recorded)
    todo = [] if summary_only else cells(name, settings)
    bar = st.progress(max(len(todo), 1), verbose)
    start = time.perf_counter()
    for i, cell in enumerate(todo):
        key = st.cell_key(*cell)
        if key not in run_store:
            cell_start = time.perf_counter()
            result = module.run_cell(settings, *cell)
            result["seconds"] = round(time.perf_counter() - cell_start, 2)
            run_store.put(key, result)
        bar.update(i + 1)
    finished = complete_seeds(name, settings, run_store.cells)
    if finished == 0:
        raise ValueError(f"neural_ode: {run_dir} has no finished seed to summarise yet.")
    text = module.summarize(dataclasses.replace(settings, seeds=finished),
                            run_store.cells, run_store)
    if finished < settings.seeds:
        text = text.rstrip("\n") + (f"\n\nPartial run: {finished} of {settings.seeds} "
                                   "seeds finished.\n")
        run_store.write_text("results.md", text)
    seconds = sum(c.get("seconds", 0.0) for c in run_store.cells.values())
    if not summary_only:
        run_store.write_text("timing.txt",
                             f"cells: {len(todo)}; compute time of all cells: {seconds:.0f} s; "
                             f"this invocation: {time.perf_counter() - start:.0f} s wall; "
                             f"backend {keras.backend.backend()}\n")
    if verbose:
        print(text)
        print(f"wrote {run_store.run_dir}/results.md, results.json and the PNG figures")
    return text
