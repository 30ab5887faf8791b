"""Reads the operator list of a .tflite flatbuffer (no TensorFlow needed)."""

import pathlib

from keras_apalu.errors import InvalidModelError

# A TFLite flatbuffer: root table offset, then this file identifier.
_IDENTIFIER = b"TFL3"


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - TF-only installs
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def _read(model):
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    return pathlib.Path(model).read_bytes()


def _root(model):
    """The schema's Model table of a flatbuffer, checked to be one."""
    content = _read(model)
    what = (
        "the model bytes"
        if isinstance(model, (bytes, bytearray, memoryview))
        else str(model)
    )
    if content[4:8] != _IDENTIFIER:
        raise InvalidModelError(
            f"{what} is not a TFLite flatbuffer (no {_IDENTIFIER.decode()} "
            "identifier); convert the model again (keras_apalu.tflite.export)."
        )
    root = _schema().Model.GetRootAsModel(content, 0)
    try:  # A truncated file: offsets point past its end.
        for s in range(root.SubgraphsLength()):
            subgraph = root.Subgraphs(s)
            for o in range(subgraph.OperatorsLength()):
                subgraph.Operators(o).OpcodeIndex()
        for b in range(root.BuffersLength()):
            if root.Buffers(b).DataLength():
                root.Buffers(b).DataAsNumpy()
    except Exception as error:  # the reader raises struct.error, IndexError...
        raise InvalidModelError(
            f"{what} is a truncated or corrupt TFLite flatbuffer ({error}); "
            "convert the model again."
        ) from error
    return root


def op_names(model):
    """Names of the operators of every subgraph, in execution order.

    Builtin ops are named as in the TFLite schema (e.g. "FULLY_CONNECTED",
    "LOGISTIC"); custom ops by their custom code (e.g. "APALU"; Flex ops
    start with "Flex").

    Args:
        model: the flatbuffer as bytes, or a path to a .tflite file.
    """
    schema = _schema()
    builtin_names = {
        value: name
        for name, value in vars(schema.BuiltinOperator).items()
        if not name.startswith("_")
    }
    root = _root(model)
    codes = []
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            codes.append(code.CustomCode().decode())
        else:
            codes.append(builtin_names.get(builtin, f"BUILTIN_{builtin}"))
    names = []
    for s in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            names.append(codes[subgraph.Operators(o).OpcodeIndex()])
    return names


def uses_custom_op(model, name):
    """Whether the model's operator codes include the custom op `name`."""
    root = _root(model)
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i).CustomCode()
        if code is not None and code.decode() == name:
            return True
    return False
