"""Experiment 2: an Euler ResNet of depth L against the ODE solution, same weights.

h_{k+1} = h_k + (T / L) f(h_k, t_k) is Euler's method with L steps, a
residual network of depth L sharing the ODE's weights. For each activation
and seed: the relative difference of its outputs (logits) and of
its backprop gradient (all parameters) from those of the ODE solution,
computed by RK4 with `reference_steps` steps, for L in `depths` (in
`dtype`: float32 is ample for differences of 1e-3 and more).
"""

import dataclasses

import numpy as np

from applications.neural_ode.experiments import store as st
from applications.neural_ode.experiments.gradient_accuracy import _flat
from applications.neural_ode.experiments.gradient_accuracy import _relative


@dataclasses.dataclass
class Settings:
    activations: tuple = ("apalu_smooth", "apalu", "relu", "softplus", "tanh", "gelu")
    seeds: tuple = (0, 1, 2, 3, 4)
    width: int = 32
    samples: int = 64
    depths: tuple = (10, 30, 100, 300, 1000)
    reference_steps: int = 128
    horizon: float = 1.0
    dtype: str = "float32"

    @classmethod
    def quick(cls):
        return cls(seeds=(0, 1), width=3, samples=10, depths=(1, 2), reference_steps=4)


def run_cell(s, activation, seed):
    import keras

    from applications.neural_ode import data
    from applications.neural_ode import gradients
    from applications.neural_ode import model

    config = model.ODEConfig(
        activation=activation, width=s.width, horizon=s.horizon, dtype=s.dtype
    )
    outer, theta = model.init_params(config, seed)
    x, y = data.digits(s.samples, seed=seed, dtype=s.dtype)
    xt, yt = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    ref_out = keras.ops.convert_to_numpy(
        model.forward(config, outer, theta, xt, method="rk4", steps=s.reference_steps)
    )
    _, ref_grad, _ = gradients.loss_and_gradients(
        config, outer, theta, xt, yt, steps=s.reference_steps
    )
    ref_grad = _flat(ref_grad)
    out = {"output": [], "gradient": []}
    for depth in s.depths:
        logits = keras.ops.convert_to_numpy(
            model.forward(config, outer, theta, xt, method="euler", steps=depth)
        )
        _, grad, _ = gradients.loss_and_gradients(
            config, outer, theta, xt, yt, method="euler", steps=depth
        )
        out["output"].append(_relative(logits, ref_out))
        out["gradient"].append(_relative(_flat(grad), ref_grad))
    return out


def summarize(s, runs, run_store):
    from applications.neural_ode import plots

    rows = []
    panels = {"output": {}, "gradient": {}}
    for a in s.activations:
        values = {
            k: np.array([runs[st.cell_key(a, seed)][k] for seed in s.seeds])
            for k in panels
        }
        for k in panels:
            panels[k][a] = (list(s.depths), values[k])
        slope = [st.order_of_convergence(s.depths, e) for e in values["gradient"]]
        rows.append(
            [
                a,
                st.fmt(values["output"][:, 0]),
                st.fmt(values["output"][:, -1]),
                st.fmt(values["gradient"][:, 0]),
                st.fmt(values["gradient"][:, -1]),
                st.fmt(slope, 2, False),
            ]
        )
    d0, d1 = s.depths[0], s.depths[-1]
    text = (
        "# Euler ResNet of depth L vs the ODE solution (same weights)\n\n"
        f"Relative difference of the outputs (logits) and of the backprop gradient "
        f"(all parameters) from the ODE's (RK4, {s.reference_steps} steps), {s.dtype}; "
        f"width {s.width}, {s.samples} digits, T = {s.horizon}, mean ± std over "
        f"{len(s.seeds)} seeds. Slope = fitted order in L of the gradient difference.\n\n"
        + st.markdown_table(
            [
                "activation",
                f"output, L={d0}",
                f"output, L={d1}",
                f"gradient, L={d0}",
                f"gradient, L={d1}",
                "slope (gradient)",
            ],
            rows,
        )
    )
    run_store.write_text("results.md", text)
    plots.curves(
        run_store.path / "resnet_vs_ode.png",
        [
            ("outputs: ResNet vs ODE", "relative difference", panels["output"]),
            ("gradients: ResNet vs ODE", "relative difference", panels["gradient"]),
        ],
        "depth L (Euler steps)",
    )
    return text
