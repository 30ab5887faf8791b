"""The ProductDense layer: learnable product-structured activations (LRNN)."""

import math

import keras
import numpy as np
from keras import initializers
from keras import ops
from keras import regularizers

from keras_apalu.layers._arguments import resolve

#: Inner activations the layer knows by a name of its own (beside Keras').
PERIODIC_ACTIVATIONS = ("sin", "spder")

# Samples of the Monte Carlo estimate of E[phi(t)^2] at initialisation
# (see `ProductDense._default_output_scale`); fixed seed, so deterministic.
_MOMENT_SAMPLES = 16384


def _resolve(getter, identifier, argument):
    return resolve("ProductDense", getter, identifier, argument)


def _positive_int(value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"ProductDense: {argument} must be a positive integer; got {value!r}."
        )
    if value < 1:
        raise ValueError(
            f"ProductDense: {argument} must be >= 1; got {argument}={value}."
        )
    return int(value)


def _resolve_inner_activation(identifier):
    """Returns `(kind, fn_or_layer)`: kind is 'sin', 'spder', 'fn' or 'layer'."""
    if isinstance(identifier, dict):
        identifier = keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str) and identifier in PERIODIC_ACTIVATIONS:
        return identifier, None
    if isinstance(identifier, keras.layers.Layer):
        return "layer", identifier
    if identifier is None:
        raise ValueError(
            "ProductDense: inner_activation cannot be None: each learned "
            "univariate function needs a nonlinearity. Use 'sin', 'spder', a "
            "Keras activation name or callable, or a layer such as APALU()."
        )
    try:
        fn = keras.activations.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"ProductDense: unknown inner_activation {identifier!r}. Use "
            "'sin', 'spder', a Keras activation name (e.g. 'relu', 'tanh'), "
            f"a callable, or a layer such as APALU(). ({error})"
        ) from None
    return "fn", fn


@keras.saving.register_keras_serializable(package="keras_apalu")
class ProductDense(keras.layers.Layer):
    """Dense layer whose neurons learn product-structured activations (LRNN).

    The layer of deep low-rank separated networks (Maharaj and Nair, ICLR
    2026). Each of the `units` outputs `l` projects the input onto
    `projection_width = d` directions and multiplies `d` learned univariate
    functions of them:

    ```python
    z[l, j] = x @ kernel[:, l, j] + bias[l, j]            # j = 1..d
    g[l, j](s) = sum_k v[l, j, k] * phi(u[l, j, k] * s + a[l, j, k]) + c[l, j]
    y[l] = prod_j (1 + gamma * g[l, j](z[l, j])),    gamma = d ** -0.5
    ```

    `g[l, j]` is a tiny MLP `1 -> hidden -> 1` with a fixed inner activation
    `phi`. The factor `gamma = 1 / sqrt(d)` bounds the variance of the output
    and of its input gradient independently of `d`: with zero-mean `g` of
    variance `sigma^2`, `E[y] = 1` and `E[y^2] = (1 + sigma^2 / d)^d <=
    exp(sigma^2)`. With `share_functions=True` the `d` functions `g[j]` are
    shared by all `units` neurons. With `d = 1`, `y = 1 + g(x @ w + b)`: a
    Dense layer with the learned activation `1 + g`, and with `g` fixed an
    ordinary MLP layer.

    Inner activations `phi`:
    - `"sin"`: `sin(omega_0 * t)` (SIREN);
    - `"spder"`: `sin(omega_0 * t) * sqrt(|omega_0 * t|)` (SPDER);
    - any Keras activation name or callable (`"relu"`, `"tanh"`, ...);
    - a Keras layer instance, e.g. `keras_apalu.layers.APALU(shared_axes=[3])`,
      applied to the hidden tensor of shape `(batch, units, d, hidden)`
      (`shared_axes=[3]` gives one pair (a, b) per univariate function).

    Default initialisation (each `None` initializer below): `kernel`
    LeCun-uniform and `bias` zeros, so `z` has the input's scale; `u` and `a`
    `U(-1, 1)`, SIREN's first-layer rule at fan-in 1 (every `g` is a first
    layer on a scalar); `v` `U(-s, s)` with `s = sqrt(3 / (hidden * m2))`
    where `m2 = E[phi(u t + a)^2]` for `t ~ N(0, 1)` (estimated once at build
    from a fixed-seed sample; 1/2 for `"sin"`), so `g` starts with mean 0
    and variance about 1; `c` zeros.

    Memory: per example and layer the forward pass holds `z` (`units * d`
    values), the hidden tensor `u z + a` and `phi` of it (`units * d *
    hidden` each) and the factors (`units * d`). Training with autodiff keeps
    about `2 * units * d * hidden + 3 * units * d` values per example for
    the backward pass (the hidden tensor for `phi'`, `phi` of it for the
    gradient of `v`, the factors for the product), i.e. `2 * d * hidden`
    times a Dense layer of the same width; this is the method's stated cost.
    Parameters: `n * units * d + units * d` for the projection, plus
    `units * d * (3 * hidden + 1)` for the functions (`d * (3 * hidden +
    1)` when shared).

    Args:
        units: positive integer, number of output neurons `r`.
        projection_width: positive integer, `d`, the number of univariate
            functions multiplied per neuron.
        hidden: positive integer, width `h` of each univariate MLP.
        inner_activation: `"sin"` (default), `"spder"`, a Keras activation
            name or callable, or a Keras layer (see above).
        omega_0: frequency factor of the `"sin"` and `"spder"` inner
            activations (default 30, SIREN's). Ignored for the others.
        share_functions: if `True`, one set of `d` functions shared by all
            neurons; default `False`, `units * d` functions (best fidelity).
        kernel_initializer: initializer of the projection `kernel`, stored
            with shape `(n, units * d)`. Default `"lecun_uniform"`.
        bias_initializer: initializer of the projection bias, shape
            `(units * d,)`. Default `"zeros"`.
        function_kernel_initializer: initializer of the inner weights `u`.
            Default `RandomUniform(-1, 1)`.
        function_bias_initializer: initializer of the inner biases `a`.
            Default `RandomUniform(-1, 1)`.
        function_output_initializer: initializer of the output weights `v`.
            Default: `RandomUniform(-s, s)` as described above.
        kernel_regularizer, bias_regularizer: optional regularizers of the
            projection kernel and bias.
        function_regularizer: optional regularizer applied to each of `u`,
            `a`, `v` and `c`.
        kernel_constraint, bias_constraint, function_constraint: optional
            constraints, as the regularizers.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        `(batch, n)`; more leading axes are allowed, `(..., n)`.

    Output shape:
        `(..., units)`.

    Example:

    >>> import keras
    >>> from keras_apalu import layers
    >>> model = keras.Sequential([
    ...     keras.Input((2,)),
    ...     layers.ProductDense(32, projection_width=8, hidden=8),
    ...     keras.layers.LayerNormalization(),
    ...     layers.ProductDense(32, projection_width=8, hidden=8),
    ...     keras.layers.LayerNormalization(),
    ...     keras.layers.Dense(1),
    ... ])
    """

    def __init__(
        self,
        units,
        projection_width=8,
        hidden=8,
        inner_activation="sin",
        omega_0=30.0,
        share_functions=False,
        kernel_initializer="lecun_uniform",
        bias_initializer="zeros",
        function_kernel_initializer=None,
        function_bias_initializer=None,
        function_output_initializer=None,
        kernel_regularizer=None,
        bias_regularizer=None,
        function_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        function_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = _positive_int(units, "units")
        self.projection_width = _positive_int(projection_width, "projection_width")
        self.hidden = _positive_int(hidden, "hidden")
        self.inner_kind, inner = _resolve_inner_activation(inner_activation)
        self.inner_layer = inner if self.inner_kind == "layer" else None
        self.inner_fn = inner if self.inner_kind == "fn" else None
        self.omega_0 = float(omega_0)
        if not math.isfinite(self.omega_0) or self.omega_0 <= 0:
            raise ValueError(
                f"ProductDense: omega_0 must be a positive number; got {omega_0!r}."
            )
        self.share_functions = bool(share_functions)
        get = initializers.get
        self.kernel_initializer = _resolve(
            get, kernel_initializer, "kernel_initializer"
        )
        self.bias_initializer = _resolve(get, bias_initializer, "bias_initializer")
        self.function_kernel_initializer = _resolve(
            get, function_kernel_initializer, "function_kernel_initializer"
        )
        self.function_bias_initializer = _resolve(
            get, function_bias_initializer, "function_bias_initializer"
        )
        self.function_output_initializer = _resolve(
            get, function_output_initializer, "function_output_initializer"
        )
        get = regularizers.get
        self.kernel_regularizer = _resolve(
            get, kernel_regularizer, "kernel_regularizer"
        )
        self.bias_regularizer = _resolve(get, bias_regularizer, "bias_regularizer")
        self.function_regularizer = _resolve(
            get, function_regularizer, "function_regularizer"
        )
        get = keras.constraints.get
        self.kernel_constraint = _resolve(get, kernel_constraint, "kernel_constraint")
        self.bias_constraint = _resolve(get, bias_constraint, "bias_constraint")
        self.function_constraint = _resolve(
            get, function_constraint, "function_constraint"
        )

    @property
    def gamma(self):
        """The product's scale, `projection_width ** -0.5`."""
        return self.projection_width**-0.5

    def phi(self, t):
        """The inner activation applied to the hidden tensor `t`."""
        if self.inner_kind == "sin":
            return ops.sin(self.omega_0 * t)
        if self.inner_kind == "spder":
            w = self.omega_0 * t
            return ops.sin(w) * ops.sqrt(ops.abs(w))
        if self.inner_kind == "layer":
            return self.inner_layer(t)
        return self.inner_fn(t)

    def _default_output_scale(self):
        """Returns `s` with `v ~ U(-s, s)` giving `g` a variance near 1."""
        if self.inner_kind == "sin":
            m2 = 0.5
        else:
            rng = np.random.default_rng(0)
            n = _MOMENT_SAMPLES
            t = (
                rng.uniform(-1, 1, n) * rng.normal(0, 1, n) + rng.uniform(-1, 1, n)
            ).astype("float32")
            if self.inner_kind == "layer":
                # A fresh copy of the layer (so this one is built once, on the
                # real hidden shape), on a (batch, 64, 1, 1) sample: 64
                # functions, so the moment averages over the layer's own
                # initial parameters too (e.g. APALU's a and b).
                probe = self.inner_layer.__class__.from_config(
                    self.inner_layer.get_config()
                )
                out = probe(ops.reshape(ops.convert_to_tensor(t), (n // 64, 64, 1, 1)))
            else:
                out = self.phi(ops.convert_to_tensor(t))
            out = ops.convert_to_numpy(ops.cast(out, "float32"))
            m2 = float(np.mean(np.square(out.astype(np.float64))))
            if not np.isfinite(m2) or m2 <= 0:
                raise ValueError(
                    "ProductDense: the inner activation is zero or not finite "
                    "on a standard sample, so the default output initializer "
                    "cannot scale it; pass function_output_initializer."
                )
        return math.sqrt(3.0 / (self.hidden * m2))

    def build(self, input_shape):
        n = input_shape[-1]
        if n is None:
            raise ValueError(
                "ProductDense: the last axis of the input must have a known "
                f"size; got input shape {tuple(input_shape)}."
            )
        r, d, h = self.units, self.projection_width, self.hidden
        self.kernel = self.add_weight(
            shape=(n, r * d),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = self.add_weight(
            shape=(r * d,),
            name="bias",
            initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )
        fn_shape = (d, h) if self.share_functions else (r, d, h)
        uniform = initializers.RandomUniform(-1.0, 1.0)
        output_init = self.function_output_initializer
        if output_init is None:
            scale = self._default_output_scale()
            output_init = initializers.RandomUniform(-scale, scale)

        def function_weight(name, shape, initializer):
            return self.add_weight(
                shape=shape,
                name=name,
                initializer=initializer,
                regularizer=self.function_regularizer,
                constraint=self.function_constraint,
            )

        self.function_kernel = function_weight(
            "function_kernel", fn_shape, self.function_kernel_initializer or uniform
        )
        self.function_bias = function_weight(
            "function_bias", fn_shape, self.function_bias_initializer or uniform
        )
        self.function_output = function_weight("function_output", fn_shape, output_init)
        self.function_output_bias = function_weight(
            "function_output_bias", fn_shape[:-1], "zeros"
        )
        if self.inner_layer is not None and not self.inner_layer.built:
            self.inner_layer.build((input_shape[0], r, d, h))
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: n})

    def call(self, inputs):
        r, d = self.units, self.projection_width
        lead = ops.shape(inputs)[:-1]
        if len(lead) != 1:
            # One batch axis, so the einsums below need no ellipsis (which
            # TensorFlow's einsum mishandles for unit-size axes).
            inputs = ops.reshape(inputs, (-1, ops.shape(inputs)[-1]))
        z = ops.add(ops.matmul(inputs, self.kernel), self.bias)
        z = ops.reshape(z, (-1, r, d))
        # (batch, r, d, 1) * (r, d, h): the hidden tensor of every function.
        t = ops.add(
            ops.multiply(ops.expand_dims(z, -1), self.function_kernel),
            self.function_bias,
        )
        s = self.phi(t)
        # Contract the hidden axis without materialising s * v.
        if self.share_functions:
            g = ops.einsum("brdh,dh->brd", s, self.function_output)
        else:
            g = ops.einsum("brdh,rdh->brd", s, self.function_output)
        g = ops.add(g, self.function_output_bias)
        y = ops.prod(ops.add(1.0, ops.multiply(self.gamma, g)), axis=-1)
        if len(lead) != 1:
            y = ops.reshape(y, (*lead, r))
        return y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        if self.inner_kind in PERIODIC_ACTIVATIONS:
            inner = self.inner_kind
        elif self.inner_kind == "layer":
            inner = keras.saving.serialize_keras_object(self.inner_layer)
        else:
            inner = keras.activations.serialize(self.inner_fn)
        ser = initializers.serialize
        reg = regularizers.serialize
        con = keras.constraints.serialize
        config.update(
            {
                "units": self.units,
                "projection_width": self.projection_width,
                "hidden": self.hidden,
                "inner_activation": inner,
                "omega_0": self.omega_0,
                "share_functions": self.share_functions,
                "kernel_initializer": ser(self.kernel_initializer),
                "bias_initializer": ser(self.bias_initializer),
                "function_kernel_initializer": ser(self.function_kernel_initializer),
                "function_bias_initializer": ser(self.function_bias_initializer),
                "function_output_initializer": ser(self.function_output_initializer),
                "kernel_regularizer": reg(self.kernel_regularizer),
                "bias_regularizer": reg(self.bias_regularizer),
                "function_regularizer": reg(self.function_regularizer),
                "kernel_constraint": con(self.kernel_constraint),
                "bias_constraint": con(self.bias_constraint),
                "function_constraint": con(self.function_constraint),
            }
        )
        return config
