"""Experiment 3: the empirical neural tangent kernel (NTK) as width grows.

A scalar-output neural ODE (RK4, `steps` steps, `dtype`) on a fixed batch of
`samples` digits. Its empirical NTK is K = J J^T, J the Jacobian of the n
outputs with respect to all parameters (n vector-Jacobian products). For
each activation, seed and width m:

    lambda_min(K)                  (strictly positive: the NTK is PD)
    ||K_m - K_M||_F / ||K_M||_F    distance to the widest network's NTK
                                   (same seed, M = the largest width)
    ||K_S - K_0||_F / ||K_0||_F    drift after S steps of full-batch
                                   gradient descent on 0.5 mean (f - y)^2,
                                   y = +1 for digits >= 5 else -1, with the
                                   step size n / lambda_max(K_0)

In the NTK parametrisation used here (`model`), K converges as m grows and
the drift should shrink like 1/sqrt(m) (lazy training).
"""

import dataclasses

import numpy as np

from applications.neural_ode.experiments import store as st


@dataclasses.dataclass
class Settings:
    activations: tuple = ("apalu_smooth", "apalu", "relu", "softplus", "tanh", "gelu")
    seeds: tuple = (0, 1, 2)
    widths: tuple = (16, 32, 64, 128, 256)
    samples: int = 20
    steps: int = 4
    train_steps: int = 10
    horizon: float = 1.0
    dtype: str = "float32"

    @classmethod
    def quick(cls):
        return cls(seeds=(0, 1), widths=(2, 4), samples=10, steps=1, train_steps=1)


def _params(outer, theta):
    return list(outer) + list(theta), list(outer.values()) + list(theta.values())


def empirical_ntk(config, outer, theta, x, steps):
    """`(K, f)`: the NTK J J^T on the batch x and the outputs f (NumPy)."""
    import keras

    from applications.common.vjp import vjp
    from applications.neural_ode import model

    names, values = _params(outer, theta)
    n_outer = len(outer)

    def outputs(*ps):
        o = dict(zip(names[:n_outer], ps[:n_outer]))
        th = dict(zip(names[n_outer:], ps[n_outer:]))
        f = model.forward(config, o, th, x, method="rk4", steps=steps)
        return keras.ops.reshape(f, (-1,))

    f, pullback = vjp(outputs, values)
    n = f.shape[0]
    rows = []
    for i in range(n):
        cotangent = np.zeros((n,), dtype=config.dtype)
        cotangent[i] = 1.0
        grads = pullback(keras.ops.convert_to_tensor(cotangent))
        rows.append(
            np.concatenate([np.ravel(keras.ops.convert_to_numpy(g)) for g in grads])
        )
    jac = np.stack(rows)
    return jac @ jac.T, keras.ops.convert_to_numpy(f)


def gradient_descent(
    config, outer, theta, x, target, steps, learning_rate, solver_steps
):
    """Full-batch gradient descent on 0.5 mean (f - y)^2; returns new dicts."""
    import keras

    from applications.common.vjp import value_and_grad
    from applications.neural_ode import activations
    from applications.neural_ode import model

    names, values = _params(outer, theta)
    n_outer = len(outer)
    y = keras.ops.convert_to_tensor(target)
    n = len(target)

    def loss(*ps):
        o = dict(zip(names[:n_outer], ps[:n_outer]))
        th = dict(zip(names[n_outer:], ps[n_outer:]))
        f = keras.ops.reshape(
            model.forward(config, o, th, x, method="rk4", steps=solver_steps), (-1,)
        )
        return 0.5 * keras.ops.sum(keras.ops.square(f - y)) / n

    losses = []
    for _ in range(steps):
        value, grads = value_and_grad(loss, values)
        losses.append(float(keras.ops.convert_to_numpy(value)))
        values = [v - learning_rate * g for v, g in zip(values, grads)]
        values = [
            keras.ops.maximum(v, activations.MIN_SLOPE) if k in ("a", "b") else v
            for k, v in zip(names, values)
        ]
    new = dict(zip(names, values))
    return ({k: new[k] for k in outer}, {k: new[k] for k in theta}, losses)


def run_cell(s, activation, seed):
    import keras

    from applications.neural_ode import data
    from applications.neural_ode import model

    x, labels = data.digits(s.samples, seed=seed, dtype=s.dtype)
    target = np.where(labels >= 5, 1.0, -1.0).astype(s.dtype)
    xt = keras.ops.convert_to_tensor(x)
    out = {
        "width": [],
        "lambda_min": [],
        "lambda_max": [],
        "drift": [],
        "loss_ratio": [],
    }
    kernels = {}
    for width in sorted(s.widths):
        config = model.ODEConfig(
            activation=activation,
            width=width,
            outputs=1,
            horizon=s.horizon,
            dtype=s.dtype,
        )
        outer, theta = model.init_params(config, seed)
        k0, _ = empirical_ntk(config, outer, theta, xt, s.steps)
        eig = np.linalg.eigvalsh(k0)
        rate = float(s.samples / eig[-1])
        outer, theta, losses = gradient_descent(
            config, outer, theta, xt, target, s.train_steps, rate, s.steps
        )
        k1, f1 = empirical_ntk(config, outer, theta, xt, s.steps)
        final = 0.5 * np.mean((f1 - target) ** 2)
        kernels[width] = k0
        out["width"].append(width)
        out["lambda_min"].append(float(eig[0]))
        out["lambda_max"].append(float(eig[-1]))
        out["drift"].append(float(np.linalg.norm(k1 - k0) / np.linalg.norm(k0)))
        out["loss_ratio"].append(float(final / losses[0]))
    widest = kernels[max(kernels)]
    out["distance_to_widest"] = [
        float(np.linalg.norm(kernels[w] - widest) / np.linalg.norm(widest))
        for w in out["width"]
    ]
    return out


def summarize(s, runs, run_store):
    from applications.neural_ode import plots

    widths = sorted(s.widths)
    fields = ("lambda_min", "distance_to_widest", "drift", "loss_ratio")
    panels = {k: {} for k in fields}
    rows = []
    for a in s.activations:
        values = {
            k: np.array([runs[st.cell_key(a, seed)][k] for seed in s.seeds])
            for k in fields
        }
        for k in fields:
            panels[k][a] = (widths, values[k])
        # The widest network's distance to itself (0) is left out.
        panels["distance_to_widest"][a] = (
            widths[:-1],
            values["distance_to_widest"][:, :-1],
        )
        rows.append(
            [
                a,
                st.fmt(values["lambda_min"][:, 0]),
                st.fmt(values["lambda_min"][:, -1]),
                st.fmt(values["distance_to_widest"][:, 0]),
                st.fmt(values["distance_to_widest"][:, -2]) if len(widths) > 1 else "-",
                st.fmt(values["drift"][:, 0]),
                st.fmt(values["drift"][:, -1]),
                st.fmt(values["loss_ratio"][:, -1]),
            ]
        )
    w0, w1 = widths[0], widths[-1]
    wm = widths[-2] if len(widths) > 1 else w1
    text = (
        "# Empirical NTK at initialisation and its drift in training\n\n"
        f"Scalar-output neural ODE (RK4, {s.steps} steps, T = {s.horizon}, {s.dtype}) on "
        f"{s.samples} digits; K = J J^T over all parameters; mean ± std over "
        f"{len(s.seeds)} seeds. Distance = ||K_m - K_{w1}||_F / ||K_{w1}||_F (same seed). Drift "
        f"= ||K_S - K_0||_F / ||K_0||_F after S = {s.train_steps} full-batch gradient "
        f"descent steps (step n / lambda_max(K_0)) on 0.5 mean (f - y)^2, y = +-1 "
        f"(digit >= 5); loss ratio = final / initial loss at m = {w1}.\n\n"
        + st.markdown_table(
            [
                "activation",
                f"lambda_min, m={w0}",
                f"lambda_min, m={w1}",
                f"distance, m={w0}",
                f"distance, m={wm}",
                f"drift, m={w0}",
                f"drift, m={w1}",
                f"loss ratio, m={w1}",
            ],
            rows,
        )
    )
    run_store.write_text("results.md", text)
    plots.curves(
        run_store.path / "ntk.png",
        [
            ("smallest NTK eigenvalue at init", "lambda_min(K)", panels["lambda_min"]),
            (
                f"distance to the m={w1} NTK",
                "relative Frobenius distance",
                panels["distance_to_widest"],
            ),
            (
                f"NTK drift after {s.train_steps} GD steps",
                "relative change",
                panels["drift"],
            ),
        ],
        "width m",
    )
    return text
