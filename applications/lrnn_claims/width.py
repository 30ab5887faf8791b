"""Claim 3, width: does the variance-controlled initialisation bound the
variance of activations and gradients independently of the projection
width, and do the LRNN's learnt projections switch irrelevant inputs off?

Variance: one `ProductDense(units, projection_width=w, hidden)` layer on
`n` inputs uniform in [-1, 1], `w` from 8 to 1024, with the
variance-controlled product `prod_j (1 + g_j / sqrt(w))` (the layer's own,
`"controlled"`) and without it (`"uncontrolled"`: `prod_j (1 + g_j)`, the
same weights otherwise). Recorded per seed, at initialisation and after
training (with a linear output layer, on a decaying ANOVA target of the
dimension study): `Var(y)` of the layer's outputs over a batch and the
units, and `Var(dy/dx)`, the input gradient of the units' mean (through
`applications.common.vjp`). Variances that overflow float32 are recorded as
infinite (a diverged run).

Relevance: a target of the first 2 of `2 + k` inputs (the decaying ANOVA
target for d = 2); after training, the ratio of the mean norm of the
first-layer weights of the `k` irrelevant inputs to that of the relevant
ones (1 at initialisation; near 0 = switched off), for the LRNNs and, as
the baseline, the ReLU MLP.
"""

import math

import numpy as np

from applications.common import runs
from applications.common import stats
from applications.lrnn_claims import models
from applications.lrnn_claims import report
from applications.lrnn_claims import targets
from applications.lrnn_claims.training import predict
from applications.lrnn_claims.training import train

INITS = ("controlled", "uncontrolled")
RELEVANCE_MODELS = ("lrnn_sin", "lrnn_apalu", "mlp_relu")
RELEVANT = 2


def _product_dense_class(init):
    from keras_apalu import layers as apalu_layers

    if init == "controlled":
        return apalu_layers.ProductDense

    class Uncontrolled(apalu_layers.ProductDense):
        """`ProductDense` with the product's scale `gamma` fixed at 1."""

        @property
        def gamma(self):
            return 1.0

    return Uncontrolled


def variances(layer, x):
    """`(Var(y), Var(dy/dx))` of `layer` on `x` (float64; inf on overflow)."""
    import keras

    from applications.common.vjp import vjp

    xt = keras.ops.convert_to_tensor(x.astype("float32"))
    out, pullback = vjp(lambda t: layer(t), [xt])
    units = out.shape[-1]
    (grad,) = pullback(keras.ops.ones_like(out) / units)
    with np.errstate(over="ignore", invalid="ignore"):
        y = np.asarray(keras.ops.convert_to_numpy(out), np.float64)
        g = np.asarray(keras.ops.convert_to_numpy(grad), np.float64)
        return _variance(y), _variance(g)


def _variance(values):
    if not np.all(np.isfinite(values)):
        return math.inf
    return float(np.var(values))


def variance_job(settings, width, init):
    """One (projection width, init) for every seed: variances before and after."""
    import keras

    seeds, n = settings["seeds"], settings["inputs"]
    target = targets.AnovaTarget(n, "decaying")
    probe = np.random.default_rng(12345).uniform(-1, 1, (settings["batch"], n))
    layer_class = _product_dense_class(init)
    nets, layers_, before = [], [], []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        layer = layer_class(
            settings["units"], projection_width=width, hidden=settings["hidden"]
        )
        nets.append(keras.Sequential([keras.Input((n,)), layer, keras.layers.Dense(1)]))
        layers_.append(layer)
        before.append(variances(layer, probe))
    xs, ys = [], []
    for seed in seeds:
        x, y = targets.sample(target, settings["n_train"], seed=[seed, 7])
        xs.append(2 * x - 1)
        ys.append(y)
    model = models.SideBySide(nets)
    with np.errstate(all="ignore"):
        loss = train(
            model,
            np.stack(xs, 1),
            np.stack(ys, 1),
            settings["steps"],
            report.learning_rate("lrnn_sin", settings["learning_rate"]),
        )
    after = [variances(layer, probe) for layer in layers_]
    return {
        "var_y_init": [b[0] for b in before],
        "var_grad_init": [b[1] for b in before],
        "var_y_trained": [a[0] for a in after],
        "var_grad_trained": [a[1] for a in after],
        "train_rel_mse": [
            float(v) if np.isfinite(v) else math.inf for v in loss / np.var(ys)
        ],
    }


def first_kernel(net):
    """The first layer's kernel as `(inputs, columns)` NumPy."""
    import keras

    for layer in net.layers:
        if hasattr(layer, "kernel"):
            return np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
    raise ValueError("no layer with a kernel")


def irrelevance_ratio(kernel):
    """Mean row norm of the irrelevant inputs over that of the relevant ones."""
    norms = np.linalg.norm(kernel, axis=1)
    return float(np.mean(norms[RELEVANT:]) / np.mean(norms[:RELEVANT]))


def relevance_job(settings, k, name):
    """One (k irrelevant inputs, model) for every seed: weight-norm ratios."""
    seeds, n = settings["seeds"], RELEVANT + k
    target = targets.AnovaTarget(RELEVANT, "decaying")
    width = models.width_for(name, n, settings["relevance_params"])
    nets = [
        models.network(name, n, width, seed, omega_0=settings["omega_0"])
        for seed in seeds
    ]
    init = [irrelevance_ratio(first_kernel(net)) for net in nets]
    xs, ys = [], []
    rng = np.random.default_rng([k, 3])
    for seed in seeds:
        x, y = targets.sample(target, settings["n_train"], seed=[seed, 11])
        noise = rng.uniform(0, 1, (settings["n_train"], k))
        xs.append(2 * np.concatenate([x, noise], axis=1) - 1)
        ys.append(y)
    model = models.SideBySide(nets)
    train(
        model,
        np.stack(xs, 1),
        np.stack(ys, 1),
        settings["steps"],
        report.learning_rate(name, settings["learning_rate"]),
    )
    x_test, y_test = targets.sample(target, 1024, seed=[10**6])
    noise = np.random.default_rng(99).uniform(0, 1, (1024, k))
    x_test = 2 * np.concatenate([x_test, noise], axis=1) - 1
    tiled = np.repeat(x_test[:, None, :], len(seeds), axis=1).astype("float32")
    test = np.mean((predict(model, tiled) - y_test[:, None]) ** 2, axis=0)
    return {
        "width": width,
        "params": models.trainable_count(nets[0]),
        "ratio_init": init,
        "ratio_trained": [irrelevance_ratio(first_kernel(net)) for net in nets],
        "test_rel_mse": (test / np.var(y_test)).tolist(),
    }


def _log10(values):
    return [math.log10(v) if 0 < v < math.inf else math.inf for v in values]


def summarize(records, settings):
    widths = settings["widths"]
    out = {"variance": [], "relevance": []}
    for init in INITS:
        for w in widths:
            r = records[f"variance_{init}_w{w}"]
            row = {"init": init, "width": w}
            for key in (
                "var_y_init",
                "var_grad_init",
                "var_y_trained",
                "var_grad_trained",
                "train_rel_mse",
            ):
                vals = r[key]
                row[key] = stats.summarize(report.finite(vals))
                row[key + "_diverged"] = len(vals) - len(report.finite(vals))
                row[key + "_values"] = vals
            out["variance"].append(row)
    for k in settings["irrelevant"]:
        for name in settings["relevance_models"]:
            r = records[f"relevance_k{k}_{name}"]
            out["relevance"].append(
                {
                    "k": k,
                    "model": name,
                    "params": r["params"],
                    "ratio_init": stats.summarize(r["ratio_init"]),
                    "ratio_trained": stats.summarize(r["ratio_trained"]),
                    "test_rel_mse": stats.summarize(report.finite(r["test_rel_mse"])),
                    "p_trained_vs_init": stats.welch_p(
                        r["ratio_trained"], r["ratio_init"]
                    ),
                    "values": r["ratio_trained"],
                }
            )
    out["verdict"] = verdict(out, settings)
    return out


def _spread(rows, key):
    """max/min over widths of the mean variance (inf if any diverged)."""
    means = [r[key]["mean"] for r in rows]
    if any(r[key + "_diverged"] for r in rows) or not all(
        math.isfinite(m) and m > 0 for m in means
    ):
        return math.inf
    return max(means) / min(means)


def verdict(out, settings):
    spreads = {}
    for init in INITS:
        rows = [r for r in out["variance"] if r["init"] == init]
        spreads[init] = {
            key: _spread(rows, key)
            for key in (
                "var_y_init",
                "var_grad_init",
                "var_y_trained",
                "var_grad_trained",
            )
        }
    bound = settings["spread_bound"]
    controlled_ok = all(s <= bound for s in spreads["controlled"].values())
    uncontrolled_bad = any(s > bound for s in spreads["uncontrolled"].values())
    if controlled_ok and uncontrolled_bad:
        variance = (
            "holds: with the variance-controlled product the variances of the "
            f"activations and input gradients stay within a factor {bound} over "
            "all projection widths, at initialisation and after training, and "
            "without it they do not"
        )
    elif controlled_ok:
        variance = (
            "holds only in part: the controlled variances stay within a factor "
            f"{bound} over the widths, but so do the uncontrolled ones here"
        )
    else:
        bad = [k for k, s in spreads["controlled"].items() if s > bound]
        variance = (
            "does not hold here: with the variance-controlled product, "
            f"{', '.join(bad)} vary by more than a factor {bound} over the widths"
        )
    lrnn_rows = [r for r in out["relevance"] if r["model"].startswith("lrnn")]
    base = {r["k"]: r for r in out["relevance"] if r["model"] == "mlp_relu"}
    switched = [
        r
        for r in lrnn_rows
        if r["ratio_trained"]["mean"] < r["ratio_init"]["mean"]
        and r["p_trained_vs_init"] < report.ALPHA
    ]
    beyond = [
        r
        for r in switched
        if r["k"] in base
        and r["ratio_trained"]["mean"] < base[r["k"]]["ratio_trained"]["mean"]
    ]
    if lrnn_rows and len(switched) == len(lrnn_rows):
        relevance = (
            "holds: training lowers the irrelevant inputs' weights relative to "
            f"the relevant ones significantly (Welch p < {report.ALPHA}) for every "
            f"LRNN and k; lower than the ReLU MLP's in {len(beyond)} of "
            f"{len(lrnn_rows)} cases"
        )
    elif switched:
        relevance = (
            f"holds only in part: the irrelevant weights shrink significantly in "
            f"{len(switched)} of {len(lrnn_rows)} (LRNN, k) cases"
        )
    else:
        relevance = (
            "does not hold here: the LRNNs' irrelevant-input weights do not "
            "shrink significantly relative to the relevant ones"
        )
    return {"spreads": spreads, "variance": variance, "relevance": relevance}


def _cell(row, key, digits=3):
    text = stats.format_mean_std(row[key], digits, scientific=True)
    if row.get(key + "_diverged"):
        text += f" ({row[key + '_diverged']} inf/NaN)"
    return text


def markdown(summary, settings):
    v = summary["verdict"]
    lines = [
        f"**Verdict (variance): the width claim {v['variance']}.**",
        "",
        f"**Verdict (relevance determination): {v['relevance']}.**",
        "",
        f"Variances against the projection width ({settings['units']} units, "
        f"hidden {settings['hidden']}, {settings['inputs']} inputs), mean ± std "
        f"over {len(settings['seeds'])} seeds; 'trained' after "
        f"{settings['steps']} steps:",
        "",
        "| init | width | Var(y) init | Var(dy/dx) init | Var(y) trained | "
        "Var(dy/dx) trained | train rel. MSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["variance"]:
        lines.append(
            f"| {r['init']} | {r['width']} | {_cell(r, 'var_y_init')} | "
            f"{_cell(r, 'var_grad_init')} | {_cell(r, 'var_y_trained')} | "
            f"{_cell(r, 'var_grad_trained')} | {_cell(r, 'train_rel_mse')} |"
        )
    lines += ["", "Largest over smallest mean variance across widths:", ""]
    lines += ["| init | " + " | ".join(v["spreads"]["controlled"]) + " |"]
    lines += ["|---|" + "---|" * len(v["spreads"]["controlled"])]
    for init, s in v["spreads"].items():
        lines.append(f"| {init} | " + " | ".join(f"{x:.3g}" for x in s.values()) + " |")
    lines += [
        "",
        f"Relevance determination: irrelevant/relevant first-layer weight-norm "
        f"ratio ({RELEVANT} relevant inputs, k irrelevant), mean ± std:",
        "",
        "| k | model | params | ratio at init | ratio trained | p (trained vs init) "
        "| test rel. MSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["relevance"]:
        lines.append(
            f"| {r['k']} | {r['model']} | {r['params']} | "
            f"{stats.format_mean_std(r['ratio_init'], 3)} | "
            f"{stats.format_mean_std(r['ratio_trained'], 3)} | "
            f"{stats.format_p(r['p_trained_vs_init'])} | "
            f"{stats.format_mean_std(r['test_rel_mse'], 3)} |"
        )
    return lines


def run(run_dir, settings, command, verbose=True, plots=True):
    folder = runs.RunFolder(f"{run_dir}/width", settings)
    jobs = [
        (
            f"variance_{init}_w{w}",
            lambda init=init, w=w: variance_job(settings, w, init),
        )
        for init in INITS
        for w in settings["widths"]
    ] + [
        (
            f"relevance_k{k}_{name}",
            lambda k=k, name=name: relevance_job(settings, k, name),
        )
        for k in settings["irrelevant"]
        for name in settings["relevance_models"]
    ]
    records = runs.run_jobs(folder, jobs, verbose=verbose, unit="job")
    summary = summarize(records, settings)
    lines = report.header("LRNN claim 3: width", settings, records, command) + markdown(
        summary, settings
    )
    report.write(folder, lines, summary)
    if plots:
        from applications.lrnn_claims import plots as plots_lib

        plots_lib.width(folder.path / "width.png", summary, settings)
    return summary
