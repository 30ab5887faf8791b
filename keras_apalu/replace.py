"""Model surgery: put APALU in place of a model's activations.

`replace_activations(model, target="relu")` returns a new model in which
every activation named by `target` is an APALU layer started as the
least-squares fit of the activation it replaces
(`keras_apalu.initialization`), with every other weight copied over.
"""

import functools

import keras
import numpy as np

from keras_apalu import initialization
from keras_apalu.layers.apalu import APALU

#: Activation names `replace_activations` can match.
NAMES = ("relu", "relu6", "leaky_relu", "elu", "gelu", "silu")
_ALIASES = {"swish": "silu"}

# Layers whose `activation=` is applied to their output and can be split off.
_SPLITTABLE = tuple(
    getattr(keras.layers, name)
    for name in (
        "Dense",
        "EinsumDense",
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "Conv1DTranspose",
        "Conv2DTranspose",
        "Conv3DTranspose",
        "SeparableConv1D",
        "SeparableConv2D",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
    )
    if hasattr(keras.layers, name)
)


def _leaky(slope, x):
    return np.where(x >= 0, x, slope * x)


def _elu(alpha, x):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _function_spec(function):
    """`(name, fit target)` of an activation function, or `(None, None)`."""
    name = getattr(function, "__name__", None)
    name = _ALIASES.get(name, name)
    if name in NAMES:
        return name, name
    return None, None


def _activation_spec(layer):
    """`(name, fit target)` of what an activation layer computes, if known.

    The fit target is a name of `keras_apalu.initialization.TARGETS` where
    the layer computes exactly that (serialisable), else a NumPy callable.
    """
    if isinstance(layer, keras.layers.Activation):
        return _function_spec(layer.activation)
    if isinstance(layer, keras.layers.ReLU):
        max_value = layer.max_value
        slope = float(layer.negative_slope)
        if float(layer.threshold) != 0.0:
            return None, None
        if max_value is None and slope == 0.0:
            return "relu", "relu"
        if max_value is not None and float(max_value) == 6.0 and slope == 0.0:
            return "relu6", "relu6"
        if max_value is None and slope > 0.0:
            return "leaky_relu", functools.partial(_leaky, slope)
        return None, None
    if isinstance(layer, keras.layers.LeakyReLU):
        slope = float(layer.negative_slope)
        return "leaky_relu", (
            "leaky_relu" if slope == 0.2 else functools.partial(_leaky, slope)
        )
    if isinstance(layer, keras.layers.ELU):
        alpha = float(layer.alpha)
        return "elu", "elu" if alpha == 1.0 else functools.partial(_elu, alpha)
    return None, None


def _split_spec(layer):
    if isinstance(layer, _SPLITTABLE) and getattr(layer, "activation", None):
        return _function_spec(layer.activation)
    return None, None


def _is_graph_model(layer):
    return isinstance(layer, keras.Sequential) or (
        isinstance(layer, keras.Model) and hasattr(layer, "_run_through_graph")
    )


class _Rewriter:
    def __init__(self, targets, init, shared_axes, layer_kwargs, x_range=None):
        self.targets = targets
        self.init = init
        self.x_range = x_range
        self.shared_axes = shared_axes
        self.layer_kwargs = layer_kwargs
        self.pairs = []  # (original, clone) whose weights are copied
        self.found = {}  # name -> count, of every known activation seen
        self.replaced = 0
        self.names = set()
        self._split = {}  # id(clone) -> original, of split-off activations

    # -- what matches --------------------------------------------------
    def _match(self, name):
        if name is not None:
            self.found[name] = self.found.get(name, 0) + 1
        return name is not None and name in self.targets

    def _check_opaque(self, layer):
        """Errors on a layer with its own call code around a matching activation."""
        inner = layer._flatten_layers(include_self=False, recursive=True)
        for sub in inner:
            name = _activation_spec(sub)[0] or _split_spec(sub)[0]
            if name in self.targets:
                raise ValueError(
                    f"replace_activations cannot rewrite layer {layer.name!r} "
                    f"({type(layer).__name__}): its activation {sub.name!r} "
                    f"({name}) is called from the layer's own `call` code, "
                    "which only a Functional or Sequential model exposes. "
                    "Rebuild that layer with APALU (e.g. APALU(init=...)) "
                    "or leave it out of `target`."
                )

    # -- new layers ----------------------------------------------------
    def _unique(self, name):
        candidate, k = name, 1
        while candidate in self.names:
            k += 1
            candidate = f"{name}_{k}"
        self.names.add(candidate)
        return candidate

    def _apalu(self, name, fit_target, rank, channel_axis, dtype):
        shared = self.shared_axes
        if shared == "channel":
            channel = channel_axis % rank
            shared = [axis for axis in range(1, rank) if axis != channel] or None
        init = fit_target if self.init == "fit" else self.init
        kwargs = dict(self.layer_kwargs)
        if init is not None and self.x_range is not None:
            result = initialization.fit(
                init, x_range=self.x_range, smooth=kwargs.get("smooth", False)
            )
            kwargs["a_initializer"] = keras.initializers.Constant(result.a)
            kwargs["b_initializer"] = keras.initializers.Constant(result.b)
        elif init is not None:
            kwargs["init"] = init
        self.replaced += 1
        return APALU(shared_axes=shared, name=self._unique(name), dtype=dtype, **kwargs)

    def _clone(self, layer):
        clone = layer.__class__.from_config(layer.get_config())
        self.pairs.append((layer, clone))
        self.names.add(clone.name)
        return clone

    # -- the graph -----------------------------------------------------
    def rewrite(self, model):
        if isinstance(model, keras.Sequential):
            return self._rewrite_sequential(model)
        if _is_graph_model(model):
            return self._rewrite_functional(model)
        raise ValueError(
            f"replace_activations cannot rewrite model {model.name!r} "
            f"({type(model).__name__}): a subclassed model's `call` code is "
            "opaque; only Functional and Sequential models (nested ones "
            "included) can be rewritten."
        )

    def _clone_function(self, layer):
        if _is_graph_model(layer):
            return self.rewrite(layer)
        if self._match(_activation_spec(layer)[0]):
            return layer  # replaced in _call_function, never called
        self._check_opaque(layer)
        clone = self._clone(layer)
        name, _ = _split_spec(layer)
        if self._match(name):
            config = clone.get_config()
            config["activation"] = "linear"
            self.pairs.pop()
            clone = clone.__class__.from_config(config)
            self.pairs.append((layer, clone))
            self._split[id(clone)] = layer
        return clone

    def _call_function(self, layer, *args, **kwargs):
        name, fit_target = _activation_spec(layer)
        if name in self.targets:
            inputs = args[0]
            channel_axis = _channel_axis_of(inputs)
            apalu = self._apalu(
                layer.name,
                fit_target,
                len(inputs.shape),
                channel_axis,
                layer.dtype_policy,
            )
            return apalu(inputs)
        outputs = layer(*args, **kwargs)
        original = self._split.get(id(layer))
        if original is not None:
            _, fit_target = _split_spec(original)
            channel_axis = (
                1 if getattr(layer, "data_format", None) == "channels_first" else -1
            )
            apalu = self._apalu(
                f"{layer.name}_apalu",
                fit_target,
                len(outputs.shape),
                channel_axis,
                layer.dtype_policy,
            )
            outputs = apalu(outputs)
        return outputs

    def _rewrite_functional(self, model):
        return keras.models.clone_model(
            model,
            clone_function=self._clone_function,
            call_function=self._call_function,
        )

    def _rewrite_sequential(self, model):
        layers = []
        for layer in model.layers:
            if _is_graph_model(layer):
                layers.append(self.rewrite(layer))
                continue
            name, fit_target = _activation_spec(layer)
            split_name, split_target = _split_spec(layer)
            if self._match(name):
                rank = len(_output_shape(layer, model))
                layers.append(
                    self._apalu(layer.name, fit_target, rank, -1, layer.dtype_policy)
                )
                continue
            self._check_opaque(layer)
            clone = self._clone(layer)
            if self._match(split_name):
                config = clone.get_config()
                config["activation"] = "linear"
                self.pairs.pop()
                clone = clone.__class__.from_config(config)
                self.pairs.append((layer, clone))
                channel_axis = (
                    1 if getattr(layer, "data_format", None) == "channels_first" else -1
                )
                layers.append(clone)
                layers.append(
                    self._apalu(
                        f"{layer.name}_apalu",
                        split_target,
                        len(_output_shape(layer, model)),
                        channel_axis,
                        layer.dtype_policy,
                    )
                )
                continue
            layers.append(clone)
        inputs = keras.Input(
            batch_shape=model.inputs[0].shape,
            dtype=model.inputs[0].dtype,
            name=model.inputs[0].name,
        )
        return keras.Sequential(
            [inputs] + layers, name=model.name, trainable=model.trainable
        )


def _channel_axis_of(tensor):
    history = getattr(tensor, "_keras_history", None)
    producer = getattr(history, "operation", None)
    if getattr(producer, "data_format", None) == "channels_first":
        return 1
    return -1


def _output_shape(layer, model):
    try:
        return layer.output.shape
    except (AttributeError, ValueError, RuntimeError):
        nodes = getattr(layer, "_inbound_nodes", None)
        if nodes:
            return nodes[-1].output_tensors[0].shape
        raise ValueError(
            f"replace_activations: the output shape of layer {layer.name!r} "
            f"of {model.name!r} is unknown; build the model on an input "
            "first (keras.Input or model.build)."
        ) from None


def _targets(target):
    names = [target] if isinstance(target, str) else list(target)
    if names == ["all"]:
        return set(NAMES)
    resolved = set()
    for name in names:
        name = _ALIASES.get(name, name)
        if name not in NAMES:
            raise ValueError(
                f"replace_activations: unknown target {name!r}; choose from "
                f"{', '.join(NAMES + tuple(_ALIASES))} or 'all'."
            )
        resolved.add(name)
    return resolved


def replace_activations(
    model,
    target="relu",
    init="fit",
    shared_axes="channel",
    x_range=None,
    **apalu_kwargs,
):
    """A copy of `model` with APALU in place of the activations named by `target`.

    Matches `keras.layers.Activation` layers, `ReLU` (relu, relu6, leaky
    relu), `LeakyReLU` and `ELU` layers, and the `activation=` of Dense,
    EinsumDense and convolution layers, which is then split off: the layer
    keeps its weights with a linear activation, and an APALU named
    `<layer>_apalu` follows it. A replacing APALU takes the name of the
    layer it replaces. Every other layer is cloned with its weights
    (BatchNormalization statistics included); the original model is left
    untouched. Nested Functional and Sequential models are rewritten too.

    With `init="fit"`, each APALU starts as the float64 least-squares fit of
    the activation it replaces on [-4, 4] (`keras_apalu.initialization`;
    relu: RMS error 0.029, max 0.077; silu 0.095 / 0.148), so the new model's
    output starts close to the original's. It is not equal: the fit error
    compounds over depth (see docs/toolkit.md for measured figures on
    keras.applications models).

    Args:
        model: a built Functional or Sequential model.
        target: an activation name (`"relu"`, `"relu6"`, `"leaky_relu"`,
            `"elu"`, `"gelu"`, `"silu"` or its alias `"swish"`), a list of
            them, or `"all"`. Note that MobileNetV2 uses `relu6`.
        init: `"fit"` (default): fit each APALU to what it replaces;
            `None`: the layer's own initializers (the paper's U(0, 2));
            or an `init` value for every APALU (a name or callable, see
            `keras_apalu.layers.APALU`).
        shared_axes: `"channel"` (default): one `a`, `b` per channel (the
            last axis, or axis 1 after a `channels_first` convolution),
            shared over every other axis; or any `shared_axes` value of
            `APALU` (`None`, `"all"`, a list of axes) for every layer.
        x_range: the `(low, high)` input range of the fits, if not the
            default [-4, 4] (the fitted `a`, `b` are then stored as
            constant initializers).
        **apalu_kwargs: more `APALU` arguments for every new layer (for
            example `implementation`, `smooth`, constraints).

    Returns:
        A new model of the same kind (Functional or Sequential); compile it
        before training.

    Raises:
        ValueError: unknown target; a subclassed model, or a layer whose own
            `call` code applies a matching activation (named in the
            message); an unbuilt Sequential model; no activation matched
            (the message lists the ones found).
    """
    targets = _targets(target)
    if init is not None and ({"a_initializer", "b_initializer"} & set(apalu_kwargs)):
        raise ValueError(
            "replace_activations: give the initialisation with `init=` "
            "(init=None to use a_initializer/b_initializer)."
        )
    if not model.built:
        raise ValueError(
            f"replace_activations: model {model.name!r} is not built; build "
            "it on an input first (keras.Input or model.build)."
        )
    rewriter = _Rewriter(targets, init, shared_axes, apalu_kwargs, x_range)
    new_model = rewriter.rewrite(model)
    if not rewriter.replaced:
        found = ", ".join(f"{k} ({v})" for k, v in sorted(rewriter.found.items()))
        raise ValueError(
            f"replace_activations: no {'/'.join(sorted(targets))} activation in "
            f"model {model.name!r}; activations found: {found or 'none'}."
        )
    for original, clone in rewriter.pairs:
        clone.set_weights(original.get_weights())
    return new_model
