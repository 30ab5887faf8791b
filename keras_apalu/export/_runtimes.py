"""Each export format, run in its own runtime (the one a deployment uses).

    run = load(path, "onnx")       # onnxruntime
    outputs = run(x)               # NumPy in, NumPy out (first output)

| format           | runtime                                              |
|------------------|------------------------------------------------------|
| "onnx"           | onnxruntime, CPUExecutionProvider                     |
| "openvino"       | OpenVINO Core, CPU, INFERENCE_PRECISION_HINT f32     |
| "litert"         | ai_edge_litert Interpreter (APALU kernel registered  |
|                  | when the file has the custom op)                     |
| "tf_saved_model" | tf.saved_model.load(path).serve                      |
| "torch"          | torch.export.load(path).module()                     |

Inputs are run one sample at a time (batch 1), which every format accepts:
torch's exporters fix the batch to the sample size they traced with.
"""

import numpy as np

FORMATS = ("tf_saved_model", "litert", "onnx", "openvino", "torch")


def _onnx(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in session.get_inputs()]
    return lambda *xs: session.run(None, dict(zip(names, xs)))[0]


def _openvino(path):
    import openvino

    # Without the hint, OpenVINO's CPU plugin computes in bfloat16 on CPUs
    # that have it (AVX512_BF16, AMX): errors of 1e-3 instead of 1e-7.
    compiled = openvino.Core().compile_model(
        str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    return lambda *xs: np.asarray(compiled(list(xs))[0])


def _litert(path):
    from keras_apalu import tflite

    interpreter = tflite.interpreter(model_path=str(path))
    inputs = interpreter.get_input_details()
    output = interpreter.get_output_details()[0]

    def run(*xs):
        for detail, x in zip(inputs, xs):
            if tuple(detail["shape"]) != x.shape:
                interpreter.resize_tensor_input(detail["index"], x.shape)
                interpreter.allocate_tensors()
        for detail, x in zip(inputs, xs):
            interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(output["index"]).copy()

    return run


def _saved_model(path):
    import tensorflow as tf

    # Keep the loaded object: its variables die with it.
    loaded = tf.saved_model.load(str(path))
    return lambda *xs: np.asarray(loaded.serve(*xs))


def _torch(path):
    import torch

    module = torch.export.load(str(path)).module()

    def run(*xs):
        with torch.no_grad():
            out = module(*[torch.from_numpy(x) for x in xs])
        return out.detach().cpu().numpy()

    return run


_LOADERS = {
    "onnx": _onnx,
    "openvino": _openvino,
    "litert": _litert,
    "tf_saved_model": _saved_model,
    "torch": _torch,
}


def load(path, format):
    """A function `run(x, ...) -> first output` for an exported file.

    Args:
        path: the exported file (for "tf_saved_model", the directory; for
            "openvino", the `.xml` with its `.bin` beside it).
        format: one of `FORMATS`.

    Returns:
        A function of NumPy arrays (one per model input, batch axis first)
        returning the first output as a NumPy array; it runs the samples one
        at a time.
    """
    if format not in _LOADERS:
        raise ValueError(f"format must be one of {FORMATS}; got {format!r}.")
    run_one = _LOADERS[format](path)

    def run(*inputs):
        inputs = [np.asarray(x, np.float32) for x in inputs]
        rows = [run_one(*[x[i : i + 1] for x in inputs]) for i in range(len(inputs[0]))]
        return np.concatenate(rows, axis=0)

    return run
