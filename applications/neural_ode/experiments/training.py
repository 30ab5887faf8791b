"""Experiment 4: full-batch gradient descent on a digits subset, per width.

The neural ODE classifier (RK4, `steps` steps, float32) trained by plain
gradient descent (step `learning_rate`, gradients by backpropagation through
the solver or by the adjoint) on the softmax cross-entropy of `samples`
digits, for each activation, width and seed; APALU's slopes are kept
>= 1e-3 after every step (the layer's constraint). Recorded: the training
loss every `log_every` steps, and the final training and held-out accuracy
(`samples` other digits).
"""

import dataclasses

import numpy as np

from applications.neural_ode.experiments import store as st


@dataclasses.dataclass
class Settings:
    activations: tuple = ("apalu_smooth", "apalu", "relu", "softplus", "tanh", "gelu")
    seeds: tuple = (0, 1, 2)
    widths: tuple = (16, 64, 256)
    samples: int = 200
    steps: int = 4
    train_steps: int = 80
    learning_rate: float = 1.0
    gradient: str = "backprop"
    log_every: int = 5
    horizon: float = 1.0

    @classmethod
    def quick(cls):
        return cls(
            seeds=(0, 1), widths=(2, 4), samples=10, steps=1, train_steps=2, log_every=1
        )


def _accuracy(config, outer, theta, x, labels, steps):
    import keras

    from applications.neural_ode import model

    logits = keras.ops.convert_to_numpy(
        model.forward(config, outer, theta, x, steps=steps)
    )
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def run_cell(s, activation, seed, width):
    import keras

    from applications.neural_ode import activations
    from applications.neural_ode import data
    from applications.neural_ode import gradients
    from applications.neural_ode import model

    config = model.ODEConfig(activation=activation, width=width, horizon=s.horizon)
    outer, theta = model.init_params(config, seed)
    x_all, y_all = data.digits(2 * s.samples, seed=0)
    x, y = (
        keras.ops.convert_to_tensor(x_all[0::2]),
        keras.ops.convert_to_tensor(y_all[0::2]),
    )
    x_test = keras.ops.convert_to_tensor(x_all[1::2])
    losses = []
    for step in range(s.train_steps + 1):
        loss, grads, _ = gradients.loss_and_gradients(
            config, outer, theta, x, y, gradient=s.gradient, steps=s.steps
        )
        value = float(keras.ops.convert_to_numpy(loss))
        if step % s.log_every == 0 or step == s.train_steps or not np.isfinite(value):
            losses.append([step, value])
        if step == s.train_steps or not np.isfinite(value):
            break
        outer = {k: v - s.learning_rate * grads[k] for k, v in outer.items()}
        theta = {k: v - s.learning_rate * grads[k] for k, v in theta.items()}
        theta = {
            k: keras.ops.maximum(v, activations.MIN_SLOPE) if k in ("a", "b") else v
            for k, v in theta.items()
        }
    if not np.isfinite(losses[-1][1]):
        # Diverged: recorded (as inf losses from here on), not raised, so
        # one bad cell does not stop the comparison.
        done = losses[-1][0]
        losses += [
            [step, float("inf")]
            for step in range(0, s.train_steps + 1, s.log_every)
            if step > done
        ]
        if losses[-1][0] != s.train_steps:
            losses.append([s.train_steps, float("inf")])
    return {
        "losses": losses,
        "train_accuracy": _accuracy(config, outer, theta, x, y_all[0::2], s.steps),
        "test_accuracy": _accuracy(config, outer, theta, x_test, y_all[1::2], s.steps),
    }


def summarize(s, runs, run_store):
    from applications.neural_ode import plots

    widths = sorted(s.widths)
    rows, panels = [], []
    for width in widths:
        series = {}
        for a in s.activations:
            cells = [runs[st.cell_key(a, seed, width)] for seed in s.seeds]
            steps = [p[0] for p in cells[0]["losses"]]
            losses = np.array([[p[1] for p in c["losses"]] for c in cells])
            series[a] = (steps, np.where(np.isfinite(losses), losses, np.nan))
            half = losses[:, len(steps) // 2]
            rows.append(
                [
                    width,
                    a,
                    st.fmt(losses[:, 0], 3, False),
                    st.fmt(half, 3, False),
                    st.fmt(losses[:, -1], 3, False),
                    st.fmt([100 * c["train_accuracy"] for c in cells], 1, False),
                    st.fmt([100 * c["test_accuracy"] for c in cells], 1, False),
                ]
            )
        panels.append((f"width {width}", "training loss (cross-entropy)", series))
    mid = s.train_steps // 2 // s.log_every * s.log_every
    text = (
        "# Training by full-batch gradient descent on digits\n\n"
        f"{s.samples} training digits (and {s.samples} held out), RK4 with {s.steps} "
        f"steps, T = {s.horizon}, float32, plain gradient descent with step "
        f"{s.learning_rate} and gradients by {s.gradient}, {s.train_steps} steps; mean "
        f"± std over {len(s.seeds)} seeds.\n\n"
        + st.markdown_table(
            [
                "width",
                "activation",
                "loss, step 0",
                f"loss, step {mid}",
                f"loss, step {s.train_steps}",
                "train acc. %",
                "held-out acc. %",
            ],
            rows,
        )
    )
    run_store.write_text("results.md", text)
    plots.curves(
        run_store.path / "training_loss.png",
        panels,
        "gradient descent step",
        logx=False,
        logy=True,
    )
    return text
