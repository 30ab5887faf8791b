"""Which APALU layers may run after the max-pooling that follows them.

For slopes a, b >= 0 APALU is non-decreasing, and a non-decreasing function
commutes with a maximum: max_i f(x_i) = f(max_i x_i). So when an APALU
layer's output goes only into a max-pooling layer, and its slopes are the
same at every position that one pooling window covers (shared over the pooled
axes, e.g. `shared_axes=[1, 2]` before a `MaxPooling2D`), the exported model
may pool first and apply APALU to the pooled map: the same values, with
APALU evaluated on 1/4 of the elements after a 2x2 pool. The pooling also
joins the convolution before it in one delegate partition (XNNPACK).

Only graph facts and the slope values decide; anything else (a subclassed
model, a second consumer, the APALU output being a model output, per-element
slopes, a negative slope) leaves the layer where it is.
"""

import keras
import numpy as np

_MAX_POOLING = (
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
)


def _model_outputs(model):
    """Ids of every output tensor of `model` and of its nested models."""
    ids = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.Model) and hasattr(layer, "_nodes_by_depth"):
            ids.update(id(t) for t in keras.tree.flatten(layer.outputs))
    return ids


def _pooled_axes(pool, rank):
    """Axes (of a rank-`rank` input, batch first) that `pool` reduces over."""
    if pool.data_format == "channels_first":
        return range(2, rank)
    return range(1, rank - 1)


def _slopes_allow(layer, pool, rank):
    """True if a, b are >= 0 and constant over every pooled axis."""
    for slope in layer.slopes():
        value = np.asarray(keras.ops.convert_to_numpy(slope), np.float64)
        if not (np.all(np.isfinite(value)) and np.all(value >= 0)):
            return False
        shape = (1,) * (rank - value.ndim) + value.shape
        if any(shape[axis] != 1 for axis in _pooled_axes(pool, rank)):
            return False
    return True


def max_pool_pairs(model, apalu_layers):
    """`(apalu_layer, pool_layer)` pairs whose order the export may swap.

    Args:
        model: the Keras model being converted.
        apalu_layers: its APALU layers.

    Returns:
        A list of pairs: each APALU layer called once in `model`'s graph,
        whose output feeds exactly one max-pooling layer (itself called
        once) and nothing else, with slopes that allow the swap.
    """
    outputs = _model_outputs(model)
    pairs = []
    for layer in apalu_layers:
        if len(layer._inbound_nodes) != 1 or len(layer._outbound_nodes) != 1:
            continue
        (produced,) = layer._inbound_nodes
        pool = layer._outbound_nodes[0].operation
        if not isinstance(pool, _MAX_POOLING) or len(pool._inbound_nodes) != 1:
            continue
        tensors = keras.tree.flatten(produced.output_tensors)
        if len(tensors) != 1 or id(tensors[0]) in outputs:
            continue
        if _slopes_allow(layer, pool, len(tensors[0].shape)):
            pairs.append((layer, pool))
    return pairs
