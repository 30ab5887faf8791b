"""Gradients of a loss of the ODE solution by the adjoint method.

For dh/dt = f(h, t, theta) on [t0, t1] and a loss L(h(t1)), the adjoint
a(t) = dL/dh(t) and the parameter gradient g(t) solve, backwards from t1,

    dh/dt = f(h, t, theta)                 h(t1) = the forward solution
    da/dt = -a^T df/dh                     a(t1) = dL/dh(t1)
    dg/dt = -a^T df/dtheta                 g(t1) = 0

so that dL/dh(t0) = a(t0) and dL/dtheta = g(t0) (Pontryagin; Chen et al.
2018). h is re-integrated backwards alongside, so no forward state is kept:
memory does not grow with the number of steps. The products a^T df/dh and
a^T df/dtheta are vector-Jacobian products (`vjp`), the only
backend-specific piece. If f is not C1 (a kinked activation), the backward
equation's right-hand side jumps wherever a pre-activation crosses the kink.
"""

from keras import ops

from applications.common.vjp import vjp
from applications.neural_ode.solvers import odeint


def adjoint_gradients(
    field_fn,
    theta,
    h1,
    grad_h1,
    t0,
    t1,
    method="rk4",
    steps=None,
    rtol=1e-6,
    atol=1e-8,
    max_steps=10000,
):
    """Solves the adjoint equations backwards from `t1` to `t0`.

    Args:
        field_fn: the vector field, `field_fn(theta, h, t) -> tensor`, with
            `theta` a list of tensors and `t` a float.
        theta: list of parameter tensors.
        h1: the forward solution h(t1).
        grad_h1: dL/dh(t1), of the shape of `h1`.
        t0, t1: start and end time of the forward solve.
        method, steps, rtol, atol, max_steps: the backward solve's settings
            (`solvers.odeint`); the same as the forward's in the usual use.

    Returns:
        `(grad_h0, grad_theta, stats)`: dL/dh(t0), the list dL/dtheta and
        the backward solve's `SolveStats`.
    """
    theta = list(theta)
    count = len(theta)

    def augmented(t, state):
        h, a = state[0], state[1]
        f_value, pullback = vjp(
            lambda h_, *params: field_fn(list(params), h_, t), [h] + theta
        )
        grads = pullback(a)
        return [f_value] + [ops.negative(g) for g in grads]

    state = [h1, grad_h1] + [ops.zeros_like(p) for p in theta]
    final, stats = odeint(
        augmented,
        state,
        t1,
        t0,
        method=method,
        steps=steps,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )
    return final[1], final[2 : 2 + count], stats
