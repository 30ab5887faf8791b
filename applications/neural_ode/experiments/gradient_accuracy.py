"""Experiment 1: gradient accuracy of the adjoint and of backprop as steps grow.

For each activation and seed, a random neural ODE classifier (float64) on a
fixed batch of digits: the cross-entropy's gradient with respect to every
parameter by

    backprop through RK4 with N steps,
    the adjoint method with RK4, N steps forward and N backward,
    the adjoint method with adaptive Dormand-Prince at several tolerances,

against a reference, backprop through RK4 with `reference_steps` steps.
Error = ||g - g_ref|| / ||g_ref|| over all parameters together. Kinked
activations (apalu, relu) make the adjoint equation's right-hand side jump;
the question is whether that shows in the errors, the measured orders of
convergence, or the adaptive solver's step counts.
"""

import dataclasses

import numpy as np

from applications.neural_ode.experiments import store as st


@dataclasses.dataclass
class Settings:
    activations: tuple = ("apalu_smooth", "apalu", "relu", "softplus", "tanh", "gelu")
    seeds: tuple = (0, 1, 2)
    width: int = 16
    samples: int = 32
    steps: tuple = (2, 4, 8, 16, 32)
    reference_steps: int = 256
    tolerances: tuple = (1e-3, 1e-5)
    horizon: float = 1.0

    @classmethod
    def quick(cls):
        return cls(
            seeds=(0, 1),
            width=3,
            samples=10,
            steps=(1, 2),
            reference_steps=8,
            tolerances=(1e-2,),
        )


def _flat(grads):
    import keras

    return np.concatenate(
        [np.ravel(keras.ops.convert_to_numpy(g)) for g in grads.values()]
    )


def _relative(g, ref):
    return float(np.linalg.norm(g - ref) / np.linalg.norm(ref))


def run_cell(s, activation, seed):
    import keras

    from applications.neural_ode import data
    from applications.neural_ode import gradients
    from applications.neural_ode import model

    config = model.ODEConfig(
        activation=activation, width=s.width, horizon=s.horizon, dtype="float64"
    )
    outer, theta = model.init_params(config, seed)
    x, y = data.digits(s.samples, seed=seed, dtype="float64")
    args = (
        config,
        outer,
        theta,
        keras.ops.convert_to_tensor(x),
        keras.ops.convert_to_tensor(y),
    )
    _, ref, _ = gradients.loss_and_gradients(
        *args, gradient="backprop", steps=s.reference_steps
    )
    ref = _flat(ref)
    out = {
        "backprop": [],
        "adjoint": [],
        "adjoint_vs_backprop": [],
        "dopri5_error": [],
        "dopri5_forward_steps": [],
        "dopri5_backward_steps": [],
    }
    for n in s.steps:
        _, bp, _ = gradients.loss_and_gradients(*args, gradient="backprop", steps=n)
        _, adj, _ = gradients.loss_and_gradients(*args, gradient="adjoint", steps=n)
        bp, adj = _flat(bp), _flat(adj)
        out["backprop"].append(_relative(bp, ref))
        out["adjoint"].append(_relative(adj, ref))
        out["adjoint_vs_backprop"].append(_relative(adj, bp))
    for tol in s.tolerances:
        _, adj, info = gradients.loss_and_gradients(
            *args, gradient="adjoint", method="dopri5", rtol=tol, atol=tol * 1e-2
        )
        out["dopri5_error"].append(_relative(_flat(adj), ref))
        out["dopri5_forward_steps"].append(info["forward_steps"])
        out["dopri5_backward_steps"].append(info["backward_steps"])
    return out


def summarize(s, runs, run_store):
    from applications.neural_ode import plots

    def collect(activation, field):
        return np.array(
            [runs[st.cell_key(activation, seed)][field] for seed in s.seeds]
        )

    rows, dopri_rows = [], []
    panels = {"adjoint": {}, "backprop": {}, "adjoint_vs_backprop": {}}
    for a in s.activations:
        adj, bp = collect(a, "adjoint"), collect(a, "backprop")
        for key in panels:
            panels[key][a] = (list(s.steps), collect(a, key))
        tail = slice(max(0, len(s.steps) - 3), None)
        order_adj = [
            st.order_of_convergence(np.array(s.steps)[tail], e[tail]) for e in adj
        ]
        order_bp = [
            st.order_of_convergence(np.array(s.steps)[tail], e[tail]) for e in bp
        ]
        rows.append(
            [
                a,
                st.fmt(adj[:, 0]),
                st.fmt(adj[:, -1]),
                st.fmt(bp[:, -1]),
                st.fmt(order_adj, 2, False),
                st.fmt(order_bp, 2, False),
            ]
        )
        err, fw, bw = (
            collect(a, k)
            for k in ("dopri5_error", "dopri5_forward_steps", "dopri5_backward_steps")
        )
        for i, tol in enumerate(s.tolerances):
            dopri_rows.append(
                [
                    a,
                    f"{tol:g}",
                    st.fmt(err[:, i]),
                    st.fmt(fw[:, i], 1, False),
                    st.fmt(bw[:, i], 1, False),
                ]
            )
    n0, n1 = s.steps[0], s.steps[-1]
    text = (
        "# Gradient accuracy: adjoint and backprop vs a float64 reference\n\n"
        f"Relative gradient error ||g - g_ref|| / ||g_ref|| over all parameters; "
        f"g_ref = backprop through RK4 with {s.reference_steps} steps (float64). "
        f"Width {s.width}, {s.samples} digits, T = {s.horizon}, "
        f"mean ± std over {len(s.seeds)} seeds. Order = fitted slope of log error vs "
        f"log steps over the last three step counts (RK4: 4 when smooth).\n\n"
        + st.markdown_table(
            [
                "activation",
                f"adjoint RK4, N={n0}",
                f"adjoint RK4, N={n1}",
                f"backprop RK4, N={n1}",
                "order, adjoint",
                "order, backprop",
            ],
            rows,
        )
        + "\nAdaptive Dormand-Prince adjoint (atol = rtol / 100):\n\n"
        + st.markdown_table(
            ["activation", "rtol", "gradient error", "forward steps", "backward steps"],
            dopri_rows,
        )
    )
    run_store.write_text("results.md", text)
    plots.curves(
        run_store.path / "gradient_error.png",
        [
            ("adjoint RK4 vs reference", "relative gradient error", panels["adjoint"]),
            (
                "backprop RK4 vs reference",
                "relative gradient error",
                panels["backprop"],
            ),
            (
                "adjoint vs backprop, same N",
                "relative difference",
                panels["adjoint_vs_backprop"],
            ),
        ],
        "RK4 steps N",
    )
    return text
