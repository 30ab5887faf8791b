"""The comparison: every model x seed on one task, resumable, with a table.

The task folder is a run store (`applications.common.runs`) pinned to the
task's settings: each (model, seed) run writes its record (scores and curve)
to `<task_dir>/per_run/<model>_seed<seed>.json` and its image beside it
(`.npy`) when it finishes; finished runs are reused, so an interrupted
comparison resumes where it stopped, and a folder made with other settings
is refused. The summary is rewritten from all finished runs: `results.md`
(table, mean ± std over seeds), `results.json` (the table's and the curves'
numbers), and the pictures of `plots.py`.
"""

import datetime
import json
import pathlib
import platform

import numpy as np

from applications.common import runs
from applications.common import stats
from applications.implicit_fields import data
from applications.implicit_fields import models
from applications.implicit_fields import projection as radon

#: Peak Adam learning rate per model (cosine-decayed to 1 %): the best of
#: the same sweep (3e-4, 1e-3, 3e-3, 1e-2) for every model, one seed, the
#: 32x32 cameraman, 4,000 weights, 300 steps (docs/implicit_fields.md).
LEARNING_RATES = {
    "lrnn_sin": 1e-2,
    "lrnn_apalu": 1e-2,
    "siren": 3e-3,
    "relu_ff": 1e-2,
    "apalu_mlp": 1e-2,
}


def task_signals(task, size, angles=None, cache_dir=None):
    """`(truth, target, projection or None, theta or None)` of a task."""
    if task == "image":
        truth = data.cameraman(size)
        return truth, truth.ravel(), None, None
    if task == "ct":
        truth = data.phantom(size)
        theta = radon.angles(angles)
        # Both are divided by the image side, so the sinogram is O(1).
        sino = radon.sinogram(truth, theta)
        matrix = radon.radon_matrix(size, theta, cache_dir=cache_dir)
        return truth, sino.ravel() / size, matrix / size, theta
    raise ValueError(f"unknown task {task!r}; choose image or ct.")


def _cache_dir():
    """Where Radon matrices are kept: `$KERAS_HOME/implicit_fields`."""
    import os

    home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    return pathlib.Path(home).expanduser() / "implicit_fields"


def _own_rate(settings, model_name):
    """The learning rate `settings` gives `model_name`."""
    rate = settings["learning_rate"]
    return rate.get(model_name) if isinstance(rate, dict) else rate


def run_key(model_name, seed):
    """The run store's key of one (model, seed) run."""
    return f"{model_name}_seed{seed}"


def run_one(folder, settings, model_name, seed, signals, verbose=True):
    """Trains one (model, seed) unless its record exists; returns the record.

    The reconstruction is kept beside the record as
    `per_run/<model>_seed<seed>.npy` (float16), written before the record.
    """
    import keras

    from applications.implicit_fields.fit import fit

    key = run_key(model_name, seed)
    if folder.has(key):
        return folder.get(key)
    truth, target, projection, _ = signals
    keras.backend.clear_session()
    network, width = models.build(
        model_name, settings["params"], seed, settings["size"]
    )
    if verbose:
        print(
            f"{settings['task']} {model_name} seed {seed} "
            f"({models.trainable_count(network)} parameters, width {width})"
        )
    out = fit(
        network,
        truth,
        target,
        settings["steps"],
        _own_rate(settings, model_name),
        settings["eval_every"],
        projection=projection,
        verbose=verbose,
        batch_pixels=settings.get("batch_pixels"),
        seed=seed,
    )
    np.save(folder.side_file(key, ".npy"), out.pop("image").astype("float16"))
    record = {
        "model": model_name,
        "seed": seed,
        "width": width,
        "params": models.trainable_count(network),
        "backend": keras.backend.backend(),
        **out,
    }
    folder.put(key, record)
    return record


def summarize(results, baseline=None):
    """Rows `{model, params, psnr, psnr_std, ssim, ssim_std, seeds, seconds,
    psnr_values, ssim_values}`.

    `*_std` is the sample standard deviation over seeds (ddof=1; NaN for a
    single seed, see `applications.common.stats`).
    """
    rows = []
    for name in dict.fromkeys(r["model"] for r in results):
        mine = [r for r in results if r["model"] == name]
        psnr = [r["psnr"] for r in mine]
        ssim = [r["ssim"] for r in mine]
        rows.append(
            {
                "model": name,
                "params": mine[0]["params"],
                "psnr": stats.mean(psnr),
                "psnr_std": stats.std(psnr),
                "ssim": stats.mean(ssim),
                "ssim_std": stats.std(ssim),
                "seeds": len(mine),
                "psnr_values": psnr,
                "ssim_values": ssim,
                "seconds": stats.mean([r["seconds"] for r in mine]),
            }
        )
    if baseline is not None:
        rows.append(
            {
                "model": "fbp (iradon)",
                "params": 0,
                "psnr": baseline[0],
                "psnr_std": None,
                "ssim": baseline[1],
                "ssim_std": None,
                "seeds": 0,
                "psnr_values": [baseline[0]],
                "ssim_values": [baseline[1]],
                "seconds": 0.0,
            }
        )
    return rows


def table(rows, title):
    """The markdown table of `summarize` rows: mean ± std over seeds
    (`(n=1)` for one seed; the deterministic FBP baseline shows its value)."""
    lines = [
        f"### {title}",
        "",
        "| model | parameters | PSNR (dB) | SSIM | seeds | s per run |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["seeds"] == 0:  # the baseline: one deterministic value
            psnr, ssim, seeds = f"{r['psnr']:.2f}", f"{r['ssim']:.4f}", "-"
        else:
            psnr = stats.format_mean_std(r["psnr_values"], 2)
            ssim = stats.format_mean_std(r["ssim_values"], 4)
            seeds = r["seeds"]
        lines.append(
            f"| {r['model']} | {r['params']:,} | {psnr} | {ssim} | "
            f"{seeds} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def _write_summary(folder, rows, title, meta, command, results):
    # results.json holds every number of the table and the curves' plot, so
    # the summary needs no per-run file.
    runs_summary = [{k: v for k, v in r.items() if k != "settings"} for r in results]
    folder.write_text(
        "results.json",
        json.dumps({"meta": meta, "rows": rows, "runs": runs_summary}, indent=1),
    )
    text = table(rows, title) + "\n\n"
    if command:
        text += f"Command: `{command}`\n\n"
    text += f"Settings: `{json.dumps(meta)}`\n\n"
    text += (
        "The records of the single runs (and their reconstructions) are in "
        "the run folder's `per_run/`; rerunning the command there rebuilds "
        "this summary without training again.\n"
    )
    folder.write_text("results.md", text)


def compare(
    task,
    run_dir,
    model_names,
    seeds,
    size,
    steps,
    params,
    eval_every,
    angles=None,
    learning_rate=None,
    plots=True,
    verbose=True,
    command=None,
    batch_pixels=None,
):
    """Runs (or resumes) every model x seed of one task; writes the summary.

    Returns the summary rows. For CT, `angles` is the number of projections
    and the task folder is `<run_dir>/ct-<angles>`. `command` is written
    beside the table. `batch_pixels` (image task): pixels per step, instead
    of the whole image.
    """
    import keras

    from applications.implicit_fields import plots as plotting
    from applications.implicit_fields.fit import scores

    run_dir = pathlib.Path(run_dir)
    task_dir = run_dir / (task if task == "image" else f"ct-{angles}")
    settings = {
        "task": task,
        "size": size,
        "steps": steps,
        "params": params,
        "angles": angles,
        "eval_every": eval_every,
        "learning_rate": learning_rate or LEARNING_RATES,
        "batch_pixels": batch_pixels,
    }
    folder = runs.RunFolder(task_dir, settings)
    signals = task_signals(task, size, angles, cache_dir=_cache_dir())
    truth, _, _, theta = signals
    baseline = baseline_image = None
    if task == "ct":
        sino = radon.sinogram(truth, theta)
        baseline_image = radon.filtered_back_projection(sino, theta, size)
        baseline = scores(truth, baseline_image)
    title = (
        "Cameraman image fit" if task == "image" else f"Sparse-view CT, {angles} angles"
    )
    title += f", {size}x{size}, {steps} steps"
    if batch_pixels:
        title += f" of {batch_pixels} pixels"
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "machine": f"{platform.machine()}, {platform.processor() or ''}".strip(", "),
        "backend": keras.backend.backend(),
        **settings,
    }
    results = []
    # Seed-major, so that an interrupted comparison has every model's first
    # seed; the table is rewritten after every run.
    for seed in seeds:
        for model_name in model_names:
            results.append(
                run_one(folder, settings, model_name, seed, signals, verbose=verbose)
            )
            results.sort(key=lambda r: (model_names.index(r["model"]), r["seed"]))
            rows = summarize(results, baseline)
            _write_summary(folder, rows, title, meta, command, results)
    if plots:
        images = {
            name: np.load(folder.side_file(run_key(name, seeds[0]), ".npy")).astype(
                np.float64
            )
            for name in model_names
        }
        if baseline_image is not None:
            images = {"fbp (iradon)": baseline_image, **images}
        plotting.reconstructions(task_dir / "reconstructions.png", truth, images, rows)
        plotting.curves(task_dir / "curves.png", results, title)
    return rows
