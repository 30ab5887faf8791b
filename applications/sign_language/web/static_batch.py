"""A .tflite model with its batch dimension fixed at 1, for LiteRT.js.

The application's exports declare a dynamic batch (`shape_signature`
`[-1, H, W, C]`); the Python interpreter resizes on its own, LiteRT.js has no
resize call and refuses a `[1, H, W, C]` input for a `[-1, ...]` tensor. The
server therefore sends a copy whose `shape_signature` entries of -1 are
replaced by the tensor's `shape` entries (already 1 for the batch): the same
bytes otherwise, the same operators and weights; the file on disk is not
changed.

The flatbuffer is read with the few rules of the format that this needs
(root table, vtables, vectors of tables); fields of the TFLite schema used:
`Model.subgraphs` (field 2), `SubGraph.tensors` (0), `Tensor.shape` (0) and
`Tensor.shape_signature` (7).
"""

import struct


def _u32(data, at):
    return struct.unpack_from("<I", data, at)[0]


def _field(data, table, index):
    """Absolute position of field `index` of the table at `table`, or None."""
    vtable = table - struct.unpack_from("<i", data, table)[0]
    vtable_size = struct.unpack_from("<H", data, vtable)[0]
    entry = 4 + 2 * index
    if entry >= vtable_size:
        return None
    offset = struct.unpack_from("<H", data, vtable + entry)[0]
    return table + offset if offset else None


def _target(data, at):
    """Follows the uoffset stored at `at`."""
    return at + _u32(data, at)


def _vector(data, table, index):
    """(start, length) of the vector in field `index`, or None."""
    at = _field(data, table, index)
    if at is None:
        return None
    vector = _target(data, at)
    return vector + 4, _u32(data, vector)


def static_batch(model):
    """`model` (bytes of a .tflite file) with every dynamic dimension fixed.

    Args:
        model: the flatbuffer's bytes.

    Returns:
        New bytes of the same length; each -1 of a tensor's
        `shape_signature` is replaced by the same dimension of its `shape`.

    Raises:
        ValueError: not a TFLite flatbuffer.
    """
    if len(model) < 8 or model[4:8] != b"TFL3":
        raise ValueError("not a TFLite flatbuffer (no TFL3 identifier)")
    data = bytearray(model)
    root = _u32(data, 0)
    subgraphs = _vector(data, root, 2) or (0, 0)
    for s in range(subgraphs[1]):
        subgraph = _target(data, subgraphs[0] + 4 * s)
        tensors = _vector(data, subgraph, 0) or (0, 0)
        for t in range(tensors[1]):
            tensor = _target(data, tensors[0] + 4 * t)
            shape = _vector(data, tensor, 0)
            signature = _vector(data, tensor, 7)
            if shape is None or signature is None or shape[1] != signature[1]:
                continue
            for d in range(signature[1]):
                at = signature[0] + 4 * d
                if struct.unpack_from("<i", data, at)[0] == -1:
                    value = struct.unpack_from("<i", data, shape[0] + 4 * d)[0]
                    struct.pack_into("<i", data, at, value)
    return bytes(data)
