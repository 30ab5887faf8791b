"""Full-integer (int8) conversion: representative data, converter settings,
and the rewrite that makes the APALU custom op run in int8.

With `quantize="int8"` every activation is int8 (biases int32), and the
model's input and output are int8 too. The TFLite converter calibrates the
float model on the representative data; in custom mode the calibrator needs
the APALU kernel, which is registered through the converter's (private)
`target_spec._experimental_custom_op_registerers`. The converter cannot
quantise a custom op, so it leaves APALU float32 between a DEQUANTIZE and a
QUANTIZE, having recorded the scale calibration found for APALU's output on
that QUANTIZE. `rewrite_custom_op_int8` then rewires each APALU op to read
the int8 tensor the DEQUANTIZE read and to write the int8 tensor the QUANTIZE
wrote, removes both, and stores a and b as int32 tensors quantised per tensor
(scale max|p| / 2^30), so no float tensor is left. The kernel's int8 path
(tflite/apalu_op.c) builds one 256-entry lookup table per (a, b) position in
Prepare from the scales and zero points.

Only the schema reader of `ai_edge_litert` (or TensorFlow) and the
`flatbuffers` package are needed for the rewrite; TensorFlow is imported only
by `configure_converter`.
"""

import pickle

import numpy as np

from keras_apalu.tflite import _kernel

#: Levels of an int32 parameter: |q| <= 2^30 leaves room in int32.
PARAM_LEVELS = 2**30


def _schema():
    from keras_apalu.tflite.flatbuffer import _schema as schema

    return schema()


def representative_samples(model, representative_data):
    """Checks `representative_data` against `model` and returns its inputs.

    Args:
        model: the Keras model (its `inputs` give the expected shapes).
        representative_data: a NumPy array (or array-like) of N samples with
            the batch axis first, for a one-input model; or a list/tuple of
            such arrays, one per model input, each with the same N. Use a few
            hundred real inputs (e.g. training images): calibration sets each
            tensor's int8 range from what these produce.

    Returns:
        A list (one entry per model input) of float32 arrays of N samples.

    Raises:
        ValueError: wrong number of arrays, no samples, differing sample
            counts, or a shape that does not match the model input.
    """
    if representative_data is None:
        raise ValueError(
            "quantize='int8' needs representative_data: a few hundred real "
            "model inputs (batch axis first) to calibrate the int8 ranges."
        )
    inputs = list(model.inputs)
    if isinstance(representative_data, (list, tuple)):
        arrays = list(representative_data)
    else:
        arrays = [representative_data]
    if len(arrays) != len(inputs):
        raise ValueError(
            f"representative_data has {len(arrays)} array(s) but the model "
            f"has {len(inputs)} input(s); give one array per input."
        )
    samples = []
    for array, tensor in zip(arrays, inputs):
        array = np.asarray(array, dtype=np.float32)
        expected = tuple(tensor.shape[1:])
        if array.ndim != len(expected) + 1 or any(
            e is not None and e != d for e, d in zip(expected, array.shape[1:])
        ):
            raise ValueError(
                f"representative_data for input {tensor.name!r} has shape "
                f"{array.shape}; expected (N, {', '.join(map(str, expected))})"
                " (N samples, batch axis first)."
            )
        samples.append(array)
    counts = {len(array) for array in samples}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(
            "representative_data must hold the same number (>= 1) of "
            f"samples for every input; got {sorted(counts)}."
        )
    return samples


def configure_converter(converter, samples, mode, library=None):
    """Sets a `tf.lite.TFLiteConverter` up for full-integer conversion.

    Args:
        converter: the converter (its custom-op settings already made).
        samples: `representative_samples(...)`; fed one sample at a time.
        mode: "custom" registers the APALU kernel for calibration.
        library: a prebuilt kernel library (default: the cached build).
    """
    import tensorflow as tf

    def dataset():
        for i in range(len(samples[0])):
            yield [array[i : i + 1] for array in samples]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if mode == "custom":
        # Private attribute: the calibrator runs the float model, APALU op
        # included, so it needs the kernel.
        converter.target_spec._experimental_custom_op_registerers = [
            _kernel.registerer(library)
        ]


def _tensor_type_names(schema):
    return {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def _quantize_param(schema, model, tensor):
    """Replaces a constant float32 parameter tensor by quantised int32."""
    values = np.frombuffer(
        bytes(bytearray(model.buffers[tensor.buffer].data)), np.float32
    ).astype(np.float64)
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    scale = peak / PARAM_LEVELS if peak > 0 else 1.0
    levels = np.round(values / scale).astype(np.int32)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(levels.tobytes(), np.uint8)
    model.buffers.append(buffer)
    tensor.buffer = len(model.buffers) - 1
    tensor.type = schema.TensorType.INT32
    quantization = schema.QuantizationParametersT()
    quantization.scale = [scale]
    quantization.zeroPoint = [0]
    tensor.quantization = quantization


def _is_int8(schema, tensor):
    q = tensor.quantization
    return (
        tensor.type == schema.TensorType.INT8
        and q is not None
        and q.scale is not None
        and len(q.scale) == 1
    )


def rewrite_custom_op_int8(content):
    """Makes every APALU custom op of a full-int8 model run in int8.

    Args:
        content: a flatbuffer converted with full-integer quantisation, in
            which each APALU op reads a DEQUANTIZE output and feeds a
            QUANTIZE (what the TFLite converter produces for a custom op).

    Returns:
        The rewritten flatbuffer (bytes): APALU reads and writes the int8
        tensors, a and b are quantised int32, and the DEQUANTIZE/QUANTIZE
        pairs and every tensor and buffer left unused are gone.

    Raises:
        ValueError: an APALU op is wired in a way this rewrite does not
            handle (e.g. its input does not come from an int8 DEQUANTIZE, or
            its output feeds anything but one int8 QUANTIZE).
    """
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytes(content), 0)
    if any(getattr(b, "offset", 0) > 1 for b in model.buffers or []):
        raise ValueError(
            "Models with external (offset) buffers are not "
            "supported by the int8 APALU rewrite."
        )
    codes = model.operatorCodes or []

    def code_of(op):
        code = codes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.customCode or b""
            return custom.decode() if isinstance(custom, bytes) else custom
        return builtin

    for subgraph in model.subgraphs or []:
        _rewrite_subgraph(schema, model, subgraph, code_of)
    _drop_unused(schema, model)
    builder = flatbuffers.Builder(max(1024, len(content)))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _rewrite_subgraph(schema, model, subgraph, code_of):
    ops = list(subgraph.operators or [])
    tensors = subgraph.tensors

    def producers():
        return {int(t): op for op in ops for t in op.outputs}

    def consumers(index):
        return [op for op in ops if index in [int(i) for i in op.inputs]]

    outputs = {int(i) for i in subgraph.outputs}
    removed = set()
    for op in [o for o in ops if code_of(o) == _kernel.OP_NAME]:
        x, a, b = (int(i) for i in op.inputs)
        (y,) = (int(i) for i in op.outputs)
        source = producers().get(x)
        if (
            source is None
            or code_of(source) != schema.BuiltinOperator.DEQUANTIZE
            or not _is_int8(schema, tensors[int(source.inputs[0])])
        ):
            raise ValueError(
                f"APALU op reading {tensors[x].name!r}: its input does not come"
                " from an int8 DEQUANTIZE, so it cannot be made int8."
            )
        sinks = consumers(y)
        if (
            len(sinks) != 1
            or y in outputs
            or code_of(sinks[0]) != schema.BuiltinOperator.QUANTIZE
            or not _is_int8(schema, tensors[int(sinks[0].outputs[0])])
        ):
            raise ValueError(
                f"APALU op writing {tensors[y].name!r}: its output must feed "
                "exactly one int8 QUANTIZE to be made int8 (an APALU layer "
                "feeding another APALU directly has no calibrated scale in "
                "between); use mode='builtin' for this model."
            )
        for index in (a, b):
            tensor = tensors[index]
            if tensor.type == schema.TensorType.FLOAT32:
                data = model.buffers[tensor.buffer].data
                if tensor.buffer == 0 or data is None or len(data) == 0:
                    raise ValueError(
                        f"APALU parameter {tensor.name!r} is not a constant."
                    )
                _quantize_param(schema, model, tensor)
        op.inputs = np.asarray([int(source.inputs[0]), a, b], np.int32)
        op.outputs = np.asarray([int(sinks[0].outputs[0])], np.int32)
        removed.add(id(sinks[0]))
        ops = [o for o in ops if id(o) not in removed]
        if not consumers(x) and x not in outputs:
            removed.add(id(source))
            ops = [o for o in ops if id(o) not in removed]
    subgraph.operators = ops


def _drop_unused(schema, model):
    """Removes tensors no op or signature uses, then unused buffers."""
    for s, subgraph in enumerate(model.subgraphs or []):
        used = set()
        for op in subgraph.operators or []:
            for field in (op.inputs, op.outputs, op.intermediates):
                if field is not None:
                    used.update(int(i) for i in field if int(i) >= 0)
        used.update(int(i) for i in subgraph.inputs)
        used.update(int(i) for i in subgraph.outputs)
        keep = sorted(used)
        new_index = {old: new for new, old in enumerate(keep)}

        def remap(field, new_index=new_index):
            if field is None:
                return None
            return np.asarray(
                [new_index[int(i)] if int(i) >= 0 else int(i) for i in field],
                np.int32,
            )

        for op in subgraph.operators or []:
            op.inputs = remap(op.inputs)
            op.outputs = remap(op.outputs)
            op.intermediates = remap(op.intermediates)
        subgraph.inputs = remap(subgraph.inputs)
        subgraph.outputs = remap(subgraph.outputs)
        for signature in model.signatureDefs or []:
            if signature.subgraphIndex == s:
                for tensor_map in (signature.inputs or []) + (signature.outputs or []):
                    tensor_map.tensorIndex = new_index[tensor_map.tensorIndex]
        subgraph.tensors = [subgraph.tensors[i] for i in keep]

    used = {0}
    for subgraph in model.subgraphs or []:
        used.update(t.buffer for t in subgraph.tensors)
    used.update(m.buffer for m in model.metadata or [])
    used.update(
        int(i)
        for i in (model.metadataBuffer if model.metadataBuffer is not None else [])
    )
    keep = sorted(used)
    new_index = {old: new for new, old in enumerate(keep)}
    model.buffers = [model.buffers[i] for i in keep]
    for subgraph in model.subgraphs or []:
        for tensor in subgraph.tensors:
            tensor.buffer = new_index[tensor.buffer]
    for metadata in model.metadata or []:
        metadata.buffer = new_index[metadata.buffer]
    if model.metadataBuffer is not None:
        model.metadataBuffer = np.asarray(
            [new_index[int(i)] for i in model.metadataBuffer], np.int32
        )


def float_tensors(content):
    """Names and types of the float tensors of a .tflite model.

    Args:
        content: the flatbuffer (bytes) or a path.

    Returns:
        A list of `(name, type_name)` for every FLOAT16/FLOAT32/FLOAT64
        tensor of every subgraph; empty for a fully integer model.
    """
    from keras_apalu.tflite.flatbuffer import _read

    schema = _schema()
    names = _tensor_type_names(schema)
    root = schema.Model.GetRootAsModel(_read(content), 0)
    found = []
    for s in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(s)
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            name = names.get(tensor.Type(), str(tensor.Type()))
            if name.startswith("FLOAT"):
                found.append((tensor.Name().decode(), name))
    return found


def load_samples(path):
    """Representative data from a .npy (one input) or .npz (one array per
    input, in order arr_0, arr_1, ...) file; None for None."""
    if path is None:
        return None
    try:
        data = np.load(path)
    except (ValueError, EOFError, pickle.UnpicklingError) as error:
        raise ValueError(
            f"{path} is not a .npy or .npz file of calibration inputs "
            f"({error}); write them with numpy.save."
        ) from error
    if isinstance(data, np.ndarray):
        return data
    with data:
        keys = sorted(data.files, key=lambda k: int(k.split("_")[-1]))
        return [data[k] for k in keys]
