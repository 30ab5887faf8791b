"""The comparison: every model x seed on one task, resumable, with a table.

Each (model, seed) run writes `<task_dir>/per_run/<model>_seed<seed>.json` (its
scores, curve and settings) and `.npy` (its image) when it finishes; runs
whose files exist are reused, so an interrupted comparison resumes where it
stopped, and a run with other settings in the same folder is refused. The
summary is rewritten from all finished runs: `results.md` (table, mean +- std
over seeds), `results.json`, and the pictures of `plots.py`.
"""

import datetime
import json
import pathlib
import platform

import numpy as np

from applications.implicit_fields import data
from applications.implicit_fields import models
from applications.implicit_fields import projection as radon

#: Peak Adam learning rate per model (cosine-decayed to 1 %): the best of
#: the same sweep (3e-4, 1e-3, 3e-3, 1e-2) for every model, one seed, the
#: 32x32 cameraman, 4,000 weights, 300 steps (docs/implicit_fields.md).
LEARNING_RATES = {"lrnn_sin": 1e-2, "lrnn_apalu": 1e-2, "siren": 3e-3,
                  "relu_ff": 1e-2, "apalu_mlp": 1e-2}

_SETTINGS = ("task", "size", "steps", "params", "learning_rate", "angles",
             "eval_every", "batch_pixels", "backend")


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


def _write_json(path, content):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(content, indent=1))
    tmp.replace(path)


def _own_rate(settings, model_name):
    """The learning rate `settings` gives `model_name`."""
    rate = settings["learning_rate"]
    return rate.get(model_name) if isinstance(rate, dict) else rate


def run_one(task_dir, settings, model_name, seed, signals, verbose=True):
    """Trains one (model, seed) unless its result exists; returns the result."""
    import keras

    from applications.implicit_fields.fit import fit

    runs = pathlib.Path(task_dir) / "per_run"
    path = runs / f"{model_name}_seed{seed}.json"
    if path.exists():
        result = json.loads(path.read_text())
        changed = [k for k in _SETTINGS
                   if k not in ("backend", "learning_rate")
                   and result["settings"].get(k) != settings.get(k)]
        if (_own_rate(result["settings"], model_name)
                != _own_rate(settings, model_name)):
            changed.append("learning_rate")
        if changed:
            raise ValueError(
                f"{path} was run with other settings ({', '.join(changed)}); "
                "use another --run-dir for new settings.")
        return result
    truth, target, projection, _ = signals
    keras.backend.clear_session()
    network, width = models.build(model_name, settings["params"], seed,
                                  settings["size"])
    if verbose:
        print(f"{settings['task']} {model_name} seed {seed} "
              f"({models.trainable_count(network)} parameters, width {width})")
    out = fit(network, truth, target, settings["steps"],
              _own_rate(settings, model_name),
              settings["eval_every"], projection=projection, verbose=verbose,
              batch_pixels=settings.get("batch_pixels"), seed=seed)
    runs.mkdir(parents=True, exist_ok=True)
    np.save(runs / f"{model_name}_seed{seed}.npy", out.pop("image").astype("float16"))
    result = {"model": model_name, "seed": seed, "width": width,
              "params": models.trainable_count(network), "settings": settings,
              **out}
    _write_json(path, result)
    return result


def _std(values):
    """Sample standard deviation over seeds (0 for a single seed)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def summarize(results, baseline=None):
    """Rows `{model, params, psnr, psnr_std, ssim, ssim_std, seeds, seconds}`.

    `*_std` is the sample standard deviation over seeds (ddof=1).
    """
    rows = []
    for name in dict.fromkeys(r["model"] for r in results):
        mine = [r for r in results if r["model"] == name]
        psnr = np.array([r["psnr"] for r in mine])
        ssim = np.array([r["ssim"] for r in mine])
        rows.append({"model": name, "params": mine[0]["params"],
                     "psnr": float(psnr.mean()), "psnr_std": _std(psnr),
                     "ssim": float(ssim.mean()), "ssim_std": _std(ssim),
                     "seeds": len(mine),
                     "seconds": float(np.mean([r["seconds"] for r in mine]))})
    if baseline is not None:
        rows.append({"model": "fbp (iradon)", "params": 0, "psnr": baseline[0],
                     "psnr_std": 0.0, "ssim": baseline[1], "ssim_std": 0.0,
                     "seeds": 1, "seconds": 0.0})
    return rows


def table(rows, title):
    lines = [f"### {title}", "",
             "| model | parameters | PSNR (dB) | SSIM | seeds | s per run |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['params']:,} | {r['psnr']:.2f} +- "
            f"{r['psnr_std']:.2f} | {r['ssim']:.4f} +- {r['ssim_std']:.4f} | "
            f"{r['seeds']} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def _write_summary(task_dir, rows, title, meta, command):
    _write_json(task_dir / "results.json", {"meta": meta, "rows": rows})
    text = table(rows, title) + "\n\n"
    if command:
        text += f"Command: `{command}`\n\n"
    text += f"Settings: `{json.dumps(meta)}`\n"
    (task_dir / "results.md").write_text(text)


def compare(task, run_dir, model_names, seeds, size, steps, params,
            eval_every, angles=None, learning_rate=None, plots=True,
            verbose=True, command=None, batch_pixels=None):
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
    task_dir.mkdir(parents=True, exist_ok=True)
    settings = {"task": task, "size": size, "steps": steps, "params": params,
                "angles": angles, "eval_every": eval_every,
                "learning_rate": learning_rate or LEARNING_RATES,
                "batch_pixels": batch_pixels,
                "backend": keras.backend.backend()}
    signals = task_signals(task, size, angles, cache_dir=_cache_dir())
    truth, _, _, theta = signals
    baseline = baseline_image = None
    if task == "ct":
        sino = radon.sinogram(truth, theta)
        baseline_image = radon.filtered_back_projection(sino, theta, size)
        baseline = scores(truth, baseline_image)
    title = ("Cameraman image fit" if task == "image"
             else f"Sparse-view CT, {angles} angles")
    title += f", {size}x{size}, {steps} steps"
    if batch_pixels:
        title += f" of {batch_pixels} pixels"
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
            "machine": f"{platform.machine()}, {platform.processor() or ''}".strip(", "),
            **settings}
    results = []
    # Seed-major, so that an interrupted comparison has every model's first
    # seed; the table is rewritten after every run.
    for seed in seeds:
        for model_name in model_names:
            results.append(run_one(task_dir, settings, model_name, seed,
                                   signals, verbose=verbose))
            results.sort(key=lambda r: (model_names.index(r["model"]), r["seed"]))
            rows = summarize(results, baseline)
            _write_summary(task_dir, rows, title, meta, command)
    if plots:
        images = {name: np.load(task_dir / "per_run" / f"{name}_seed{seeds[0]}.npy")
                  .astype(np.float64) for name in model_names}
        if baseline_image is not None:
            images = {"fbp (iradon)": baseline_image, **images}
        plotting.reconstructions(task_dir / "reconstructions.png", truth,
                                 images, rows)
        plotting.curves(task_dir / "curves.png", results, title)
    return rows
