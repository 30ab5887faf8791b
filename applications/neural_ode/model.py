"""The neural ODE classifier: embedding, a vector field integrated over [0, T], readout.

    h(0)  = A x / sqrt(d_in)                            (d_in = 64 for digits)
    dh/dt = f(h, t) = s_v / sqrt(m T) * phi(s_u / sqrt(m) * h U + (t / T) w + c) V
    y     = h(T) B / sqrt(m) + B0

with hidden state and hidden layer of width m, every weight matrix drawn
from N(0, 1) and scaled in the forward pass (the NTK parametrisation, so the
empirical NTK has a limit as m grows), and the vector field's output weights
carrying the factor 1 / sqrt(T): their variance scales like 1/T, the
guideline of Gao et al. (ICLR 2025) for a time horizon T. `phi` is chosen by
name (see `activations`).

Parameters are plain tensors in a dict (`init_params`); `field` and `embed` /
`readout` are pure functions of them, so the same code is differentiated by
backpropagation through the solver and by the adjoint method.
"""

import dataclasses
import math

import keras
import numpy as np
from keras import ops

from applications.neural_ode import activations
from applications.neural_ode.solvers import odeint

#: Names of the vector field's parameters before the activation's (a, b).
FIELD_WEIGHTS = ("U", "w", "c", "V")
#: Names of the parameters outside the ODE.
OUTER_WEIGHTS = ("A", "B", "B0")


@dataclasses.dataclass(frozen=True)
class ODEConfig:
    """Shape and scales of the neural ODE.

    Attributes:
        activation: activation name (`activations.ACTIVATIONS`).
        width: m, the hidden state's and the hidden layer's size.
        inputs: d_in, the input size.
        outputs: number of outputs (10 logits, or 1 for a scalar model).
        horizon: T, the end time.
        sigma_u, sigma_v: the scales s_u, s_v of the vector field's weights.
        dtype: "float32" or "float64".
    """

    activation: str = "apalu_smooth"
    width: int = 64
    inputs: int = 64
    outputs: int = 10
    horizon: float = 1.0
    sigma_u: float = 1.0
    sigma_v: float = 1.0
    dtype: str = "float32"

    def __post_init__(self):
        activations.check_name(self.activation)
        for name in ("width", "inputs", "outputs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(
                    f"neural_ode: {name} must be >= 1; got {getattr(self, name)}."
                )
        if not self.horizon > 0:
            raise ValueError(f"neural_ode: horizon T must be > 0; got {self.horizon}.")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(
                f"neural_ode: dtype must be float32 or float64; got {self.dtype!r}."
            )

    def field_names(self):
        return list(FIELD_WEIGHTS) + activations.parameter_names(self.activation)


def _matmul(x, w):
    """x @ w for a batch x of shape (n, k): `ops.matmul`, or an einsum in
    float64 (keras 3.15's torch matmul computes float64 in float32; its
    einsum is exact but slower)."""
    if keras.backend.standardize_dtype(x.dtype) == "float64":
        return ops.einsum("bi,ij->bj", x, w)
    return ops.matmul(x, w)


def init_params(config, seed):
    """Initial parameters: `(outer, theta)`, two dicts of tensors.

    `theta` holds the vector field's parameters (U, w, c, V and the
    activation's), `outer` the embedding A and the readout B, B0. Every
    matrix is N(0, 1) (scaled in the forward pass), c and B0 start at 0.
    """
    rng = np.random.default_rng(seed)
    m, dtype = config.width, config.dtype
    values = {
        "A": rng.standard_normal((config.inputs, m)),
        "U": rng.standard_normal((m, m)),
        "w": rng.standard_normal((m,)),
        "c": np.zeros((m,)),
        "V": rng.standard_normal((m, m)),
        "B": rng.standard_normal((m, config.outputs)),
        "B0": np.zeros((config.outputs,)),
    }
    values.update(activations.init_parameters(config.activation, m, rng, "float64"))
    tensors = {k: ops.convert_to_tensor(v.astype(dtype)) for k, v in values.items()}
    theta = {k: tensors[k] for k in config.field_names()}
    outer = {k: tensors[k] for k in OUTER_WEIGHTS}
    return outer, theta


def field(config, theta, h, t):
    """The vector field f(h, t) of the formula above (`theta` a dict)."""
    m, horizon = config.width, config.horizon
    pre = _matmul(h, theta["U"]) * (config.sigma_u / math.sqrt(m))
    pre = pre + (float(t) / horizon) * theta["w"] + theta["c"]
    act_params = {k: theta[k] for k in activations.parameter_names(config.activation)}
    hidden = activations.apply(config.activation, pre, act_params)
    return _matmul(hidden, theta["V"]) * (config.sigma_v / math.sqrt(m * horizon))


def embed(config, outer, x):
    """h(0) = A x / sqrt(d_in)."""
    return _matmul(x, outer["A"]) / math.sqrt(config.inputs)


def readout(config, outer, h):
    """y = h(T) B / sqrt(m) + B0."""
    return _matmul(h, outer["B"]) / math.sqrt(config.width) + outer["B0"]


def solve(config, theta, h0, method="rk4", steps=8, rtol=1e-6, atol=1e-8):
    """h(T) from h(0) by `method`; returns `(h_T, stats)`."""
    y, stats = odeint(
        lambda t, y: [field(config, theta, y[0], t)],
        [h0],
        0.0,
        config.horizon,
        method=method,
        steps=steps,
        rtol=rtol,
        atol=atol,
    )
    return y[0], stats


def forward(config, outer, theta, x, **solver):
    """The network's outputs y for inputs x (the ODE solved by `solve`)."""
    h_T, _ = solve(config, theta, embed(config, outer, x), **solver)
    return readout(config, outer, h_T)


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy of integer `labels`:
    mean(logsumexp(y) - y[label]).

    Written out, and with a sum rather than `ops.mean`, because under keras
    3.15's torch backend `ops.mean` (like `ops.matmul`) computes float64
    in float32 (`keras.backend.result_type("float64", "float32")` is
    "float32"), about 1e-7 off; the float64 references need better.
    """
    log_probs = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
    picked = ops.one_hot(labels, logits.shape[-1], dtype=logits.dtype) * log_probs
    return -ops.sum(picked) / logits.shape[0]
