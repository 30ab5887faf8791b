"""The APALU activation layer."""

import keras
from keras import initializers
from keras import ops
from keras import regularizers

from keras_apalu import constraints
from keras_apalu.layers._arguments import resolve
from keras_apalu.ops import apalu
from keras_apalu.ops import check_implementation

#: Ratio b / a at which APALU's left and right slopes meet at 0 (C1).
SMOOTH_RATIO = 1.5

#: How 0.1.0's values of `implementation` load (they ran the same values).
_OLD_IMPLEMENTATIONS = {"ops": "plain", "autodiff": "plain", "one_exp": "fused"}


def _resolve(getter, identifier, argument):
    return resolve("APALU", getter, identifier, argument)


def _fitted_initializers(init, a_initializer, b_initializer, smooth):
    if a_initializer is not None or b_initializer is not None:
        raise ValueError(
            f"APALU: pass either init={init!r} or a_initializer/b_initializer, "
            "not both."
        )
    from keras_apalu import initialization

    result = initialization.fit(init, smooth=smooth)
    return (initializers.Constant(result.a), initializers.Constant(result.b))


@keras.saving.register_keras_serializable(package="keras_apalu")
class APALU(keras.layers.Layer):
    """Adaptive Parametric Activation Linear Unit (arXiv 2402.08244).

    Formula:
    ```python
    f(x) = a * (x + x * sigmoid(1.702 * x))   for x >= 0
    f(x) = b * (exp(x) - 1)                   for x <  0
    ```
    where `a > 0` and `b > 0` are learned. The output lies in `(-b, inf)`, the
    function is continuous and strictly increasing, and at 0 its right slope is
    `1.5 a` and its left slope `b`. With `smooth=True` the layer learns `a`
    only and ties `b = 1.5 a`, which makes the derivative continuous (C1).

    The math lives in `keras_apalu.ops.apalu`; by default each backend
    compiles it into one fused pass forward and one backward, and the
    gradient is recomputed from the input in the backward pass, so the layer
    keeps only its input for training, like ReLU.

    Args:
        a_initializer: initializer for `a`. Defaults to the paper's
            `RandomUniform(0, 2)`.
        b_initializer: initializer for `b` (ignored when `smooth=True`).
            Defaults to `RandomUniform(0, 2)`.
        a_regularizer: optional regularizer for `a`.
        b_regularizer: optional regularizer for `b` (ignored when `smooth`).
        a_constraint: constraint for `a`. Defaults to
            `"strictly_positive"` (`a >= 1e-3`); `None` removes it.
        b_constraint: constraint for `b`, as `a_constraint`.
        shared_axes: the axes along which `a` and `b` are shared, as in
            `keras.layers.PReLU`: 1-based axes of the input, the batch axis 0
            excluded (negative values count from the end). For Conv2D feature
            maps `(batch, height, width, channels)`, `shared_axes=[1, 2]` gives
            one `a` and `b` per channel; `"all"` shares every non-batch axis
            (one `a` and one `b` for the layer). Default `None`: one `a` and
            `b` per input element.
        smooth: if `True`, learn `a` only and use `b = 1.5 a`.
        implementation: how `keras_apalu.ops.apalu` computes it (same
            values): `"fused"` (default), the formula and its analytic
            gradient (right-hand slope `1.5 a` at x = 0) each compiled by
            the backend into one pass (XLA, Inductor), keeping only the
            input, `a` and `b` for the backward pass; or `"plain"`, the
            backend differentiates the formula (left slope `b` at 0), as
            exports and tfmot do. `"fused"` runs `"plain"` where it cannot
            be compiled (one warning) or the environment variable
            `KERAS_APALU_FUSED=0` is set, and on TensorFlow for calls
            outside training (`training` not `True`: predict, evaluate,
            `model.export` traces), since export converters cannot read
            XLA-compiled functions. Files saved by keras_apalu 0.1.0 load
            with their values translated: `"ops"`, `"autodiff"` and
            `custom_gradient=False` as `"plain"`, `"one_exp"` and
            `custom_gradient=True` as `"fused"`.
        init: start as the best fit of an activation instead of using
            `a_initializer` and `b_initializer` (give one or the other):
            a name (`"relu"`, `"relu6"`, `"leaky_relu"`, `"elu"`, `"gelu"`,
            `"silu"`, `"swish"`) or a callable on float64 NumPy arrays. The
            constant `a` and `b` are the float64 least-squares fit on
            [-4, 4] (`keras_apalu.initialization.fit`, whose docstring
            tables the fit error per target; relu: RMS 0.029, max 0.077).
            Default `None`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Arbitrary floating-point tensor with a batch axis first.

    Output shape:
        Same shape and dtype as the input.

    Example:

    >>> import keras
    >>> from keras_apalu import layers
    >>> model = keras.Sequential([
    ...     keras.Input((32,)),
    ...     keras.layers.Dense(64),
    ...     layers.APALU(),
    ...     keras.layers.Dense(10),
    ... ])
    """

    def __init__(
        self,
        a_initializer=None,
        b_initializer=None,
        a_regularizer=None,
        b_regularizer=None,
        a_constraint="strictly_positive",
        b_constraint="strictly_positive",
        shared_axes=None,
        smooth=False,
        implementation="fused",
        init=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.init = init if isinstance(init, str) else None
        if init is not None:
            a_initializer, b_initializer = _fitted_initializers(
                init, a_initializer, b_initializer, smooth
            )
        if a_initializer is None:
            a_initializer = initializers.RandomUniform(0.0, 2.0)
        if b_initializer is None:
            b_initializer = initializers.RandomUniform(0.0, 2.0)
        self.a_initializer = _resolve(initializers.get, a_initializer, "a_initializer")
        self.b_initializer = _resolve(initializers.get, b_initializer, "b_initializer")
        self.a_regularizer = _resolve(regularizers.get, a_regularizer, "a_regularizer")
        self.b_regularizer = _resolve(regularizers.get, b_regularizer, "b_regularizer")
        self.a_constraint = _resolve(constraints.get, a_constraint, "a_constraint")
        self.b_constraint = _resolve(constraints.get, b_constraint, "b_constraint")
        self.shared_axes = self._validate_shared_axes(shared_axes)
        self.smooth = bool(smooth)
        self.implementation = check_implementation(implementation)

    @staticmethod
    def _validate_shared_axes(shared_axes):
        if shared_axes is None or shared_axes == "all":
            return shared_axes
        if isinstance(shared_axes, int):
            shared_axes = [shared_axes]
        try:
            axes = [int(axis) for axis in shared_axes]
        except (TypeError, ValueError):
            raise ValueError(
                "APALU: shared_axes must be None, 'all', an int or a list of "
                f"ints; got {shared_axes!r}."
            ) from None
        if 0 in axes:
            raise ValueError(
                "APALU: shared_axes cannot contain 0, the batch axis: every "
                "sample of a batch uses the same a and b already. Axes are "
                "1-based from the first non-batch axis (1), or negative "
                f"from the end. Got shared_axes={axes}."
            )
        return axes

    def _param_shape(self, input_shape):
        rank = len(input_shape)
        param_shape = list(input_shape[1:])
        if self.shared_axes == "all":
            return [1] * (rank - 1)
        for axis in self.shared_axes or []:
            index = axis if axis > 0 else rank + axis
            if not 1 <= index < rank:
                raise ValueError(
                    f"APALU: shared_axes entry {axis} is out of range for an "
                    f"input of rank {rank} (shape {tuple(input_shape)}); valid "
                    f"axes are 1..{rank - 1} or -{rank - 1}..-1."
                )
            param_shape[index - 1] = 1
        for index, dim in enumerate(param_shape):
            if dim is None:
                raise ValueError(
                    f"APALU: axis {index + 1} of the input has unknown size "
                    f"(shape {tuple(input_shape)}); share it with shared_axes "
                    "or give the input a fixed size there."
                )
        return param_shape

    def build(self, input_shape):
        param_shape = self._param_shape(input_shape)
        self.a = self.add_weight(
            shape=param_shape,
            name="a",
            initializer=self.a_initializer,
            regularizer=self.a_regularizer,
            constraint=self.a_constraint,
        )
        if not self.smooth:
            self.b = self.add_weight(
                shape=param_shape,
                name="b",
                initializer=self.b_initializer,
                regularizer=self.b_regularizer,
                constraint=self.b_constraint,
            )
        axes = {
            i: input_shape[i]
            for i in range(1, len(input_shape))
            if param_shape[i - 1] != 1
        }
        self.input_spec = keras.layers.InputSpec(ndim=len(input_shape), axes=axes)

    def slopes(self):
        """Returns the tensors `(a, b)` the layer applies (b = 1.5 a if smooth)."""
        a = ops.convert_to_tensor(self.a)
        if self.smooth:
            return a, SMOOTH_RATIO * a
        return a, ops.convert_to_tensor(self.b)

    def call(self, inputs, training=None):
        a, b = self.slopes()
        return apalu(
            inputs,
            a,
            b,
            implementation=self.implementation,
            training=bool(training),
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "a_initializer": initializers.serialize(self.a_initializer),
                "b_initializer": initializers.serialize(self.b_initializer),
                "a_regularizer": regularizers.serialize(self.a_regularizer),
                "b_regularizer": regularizers.serialize(self.b_regularizer),
                "a_constraint": keras.constraints.serialize(self.a_constraint),
                "b_constraint": keras.constraints.serialize(self.b_constraint),
                "shared_axes": self.shared_axes,
                "smooth": self.smooth,
                "implementation": self.implementation,
                "init": self.init,
            }
        )
        if self.init is not None:
            # A named fit is recomputed on load; the constants need not travel.
            config["a_initializer"] = config["b_initializer"] = None
        return config

    @classmethod
    def from_config(cls, config):
        """The layer of `get_config`'s dict; 0.1.0's dicts are translated."""
        config = dict(config)
        legacy_custom_gradient = config.pop("custom_gradient", None)
        implementation = config.get("implementation", "fused")
        implementation = _OLD_IMPLEMENTATIONS.get(implementation, implementation)
        if legacy_custom_gradient is False:
            implementation = "plain"
        config["implementation"] = implementation
        return super().from_config(config)
