"""Loss and gradients of the neural ODE, by backpropagation or by the adjoint.

backprop: differentiate every operation of the forward solve (exact
          gradient of the discrete solution; memory grows with steps)
adjoint:  solve the forward ODE, then the adjoint ODE backwards with the
          same solver (`adjoint.adjoint_gradients`); converges to the
          gradient of the exact ODE solution as the steps shrink
"""

from keras import ops

from applications.common.vjp import value_and_grad
from applications.common.vjp import vjp
from applications.neural_ode import model
from applications.neural_ode.adjoint import adjoint_gradients

GRADIENT_METHODS = ("backprop", "adjoint")


def loss_and_gradients(
    config,
    outer,
    theta,
    x,
    labels,
    gradient="backprop",
    loss_fn=model.cross_entropy,
    method="rk4",
    steps=8,
    rtol=1e-6,
    atol=1e-8,
):
    """`(loss, grads, info)` of `loss_fn(model outputs, labels)`.

    Args:
        config: the `model.ODEConfig`.
        outer, theta: parameter dicts (`model.init_params`).
        x, labels: a batch of inputs and targets.
        gradient: `"backprop"` or `"adjoint"`.
        loss_fn: `loss_fn(outputs, labels) -> scalar tensor`.
        method, steps, rtol, atol: the ODE solver (`solvers.odeint`); the
            adjoint uses the same settings backwards.

    Returns:
        the loss (a scalar tensor), a dict of gradients with the keys of
        `outer` and `theta`, and a dict of solver statistics
        (`forward_steps`, `backward_steps`, `evaluations`).
    """
    solver = dict(method=method, steps=steps, rtol=rtol, atol=atol)
    outer_names, theta_names = list(outer), list(theta)
    if gradient == "backprop":
        stats = {}

        def loss_of(*params):
            o = dict(zip(outer_names, params[: len(outer_names)]))
            th = dict(zip(theta_names, params[len(outer_names) :]))
            h_T, solve_stats = model.solve(
                config, th, model.embed(config, o, x), **solver
            )
            stats["forward"] = solve_stats
            return loss_fn(model.readout(config, o, h_T), labels)

        params = [outer[k] for k in outer_names] + [theta[k] for k in theta_names]
        loss, grads = value_and_grad(loss_of, params)
        info = {
            "forward_steps": stats["forward"].steps,
            "backward_steps": 0,
            "evaluations": stats["forward"].evaluations,
        }
        return loss, dict(zip(outer_names + theta_names, grads)), info
    if gradient != "adjoint":
        raise ValueError(
            f"neural_ode: gradient must be one of {GRADIENT_METHODS}; got {gradient!r}."
        )
    h0, embed_pullback = vjp(lambda A: model.embed(config, {"A": A}, x), [outer["A"]])
    h_T, forward_stats = model.solve(config, theta, ops.stop_gradient(h0), **solver)
    h_T = ops.stop_gradient(h_T)
    readout_names = [k for k in outer_names if k != "A"]
    loss, loss_pullback = vjp(
        lambda h, *ps: loss_fn(
            model.readout(config, dict(zip(readout_names, ps)), h), labels
        ),
        [h_T] + [outer[k] for k in readout_names],
    )
    grad_hT, *readout_grads = loss_pullback(ops.ones_like(loss))

    def field_fn(params, h, t):
        return model.field(config, dict(zip(theta_names, params)), h, t)

    grad_h0, theta_grads, backward_stats = adjoint_gradients(
        field_fn,
        [theta[k] for k in theta_names],
        h_T,
        grad_hT,
        0.0,
        config.horizon,
        **solver,
    )
    (grad_A,) = embed_pullback(grad_h0)
    grads = dict(zip(readout_names, readout_grads))
    grads["A"] = grad_A
    grads.update(zip(theta_names, theta_grads))
    grads = {k: grads[k] for k in outer_names + theta_names}
    info = {
        "forward_steps": forward_stats.steps,
        "backward_steps": backward_stats.steps,
        "evaluations": forward_stats.evaluations + backward_stats.evaluations,
    }
    return loss, grads, info
