"""Fuzzes the APALU kernel through the LiteRT interpreter, crash-safely.

Each case is a one-op flatbuffer (built by `apalu_op_flatbuffer`) whose APALU
node is valid or broken in one way: wrong input or output counts, wrong
dtypes, shapes that do not broadcast, zero-size, negative or huge shapes,
missing or bad quantisation parameters, constant buffers shorter than their
shapes, bad tensor indices, non-constant or repeated inputs, in-place or
read-only outputs, garbage custom options, big tensors on several threads.
An independent oracle (`expect`, written from the op's documented contract,
not from the kernel) says whether the node is valid and, if so, computes
the float64 reference result. A case passes when the interpreter refuses an
invalid node with an error, and runs a valid one to the reference result
(float32: rtol 2e-6, atol 1e-6; int8: within one step). A few cases may go
either way (marked `may_fail`: e.g. an in-place output), but if they run
their result must still be right.

Cases run in child processes, a batch per child (the interpreter starts
once per batch); a child that dies (segfault, abort) or hangs is reported
with the case it was running, and the batch goes on in a new child. Case i
depends only on (seed, i), so any case can be replayed alone:

    python -m tests.tflite.kernel_fuzz --cases 1000 --seed 11
    python -m tests.tflite.kernel_fuzz --seed 11 --only 417 --verbose

This module imports only NumPy and ai_edge_litert (no Keras, no
TensorFlow), so a child starts in well under a second.
"""

import argparse
import ctypes
import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np

from tests.tflite.reference import apalu_op_flatbuffer
from tests.tflite.reference import apalu_reference

REPO = pathlib.Path(__file__).resolve().parents[2]
REGISTERER_NAME = "KerasApalu_RegisterAPALU"

NUMPY_TYPES = {
    "FLOAT32": np.float32,
    "FLOAT16": np.float16,
    "FLOAT64": np.float64,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
}
WRONG_TYPES = ["FLOAT16", "FLOAT64", "UINT8", "INT16", "INT32", "INT64", "BOOL", "INT8"]
# Model inputs bigger than this are not fed (the case must fail before).
FEED_LIMIT = 1 << 26
MAX_RANK = 8

KINDS = [
    "valid-float",
    "valid-int8",
    "input-count",
    "output-count",
    "dtype-x",
    "dtype-param",
    "dtype-output",
    "broadcast",
    "zero-size",
    "huge-shape",
    "negative-shape",
    "quantisation",
    "short-buffer",
    "indices",
    "non-constant-params",
    "rank",
    "custom-options",
    "in-place",
    "big-threads",
]


@dataclasses.dataclass
class Tensor:
    """A tensor of the case's flatbuffer: `data` is its constant contents
    (None: not constant), `quant` its (scales, zero points) or None."""

    name: str
    shape: tuple
    type: str = "FLOAT32"
    data: object = None
    quant: object = None

    def spec(self):
        return (self.name, self.shape, self.type, self.data, self.quant)


@dataclasses.dataclass
class Case:
    index: int
    kind: str
    tensors: list
    inputs: list
    outputs: list
    model_inputs: list
    threads: int = 1
    custom_options: object = None
    may_fail: bool = False

    def describe(self):
        parts = [
            f"case {self.index} [{self.kind}] inputs={self.inputs} "
            f"outputs={self.outputs} model_inputs={self.model_inputs} "
            f"threads={self.threads}"
        ]
        for i, t in enumerate(self.tensors):
            constant = "" if t.data is None else (f" const[{np.asarray(t.data).size}]")
            parts.append(
                f"  t{i} {t.name} {t.type}{list(t.shape)}{constant} quant={t.quant}"
            )
        return "\n".join(parts)


# ---- generation ----------------------------------------------------------


def _shape(rng, rank=None, max_elements=600):
    rank = int(rng.integers(0, 6)) if rank is None else rank
    while True:
        dims = [int(rng.choice([1, 1, 2, 3, 4, 5, 7, 8])) for _ in range(rank)]
        if np.prod(dims, dtype=np.int64) <= max_elements:
            return tuple(dims)


def _param_shape(rng, x_shape):
    """A shape that broadcasts to x_shape: each axis kept or 1, then
    possibly without some leading axes; or a scalar."""
    if rng.random() < 0.15 or not x_shape:
        return ()
    kept = [d if rng.random() < 0.5 else 1 for d in x_shape]
    cut = int(rng.integers(0, len(kept) + 1))
    return tuple(kept[cut:]) if rng.random() < 0.5 else tuple(kept)


def _values(rng, shape, tensor_type="FLOAT32"):
    dtype = NUMPY_TYPES[tensor_type]
    if tensor_type.startswith("FLOAT"):
        values = rng.normal(scale=4.0, size=shape)
        flat = values.reshape(-1)
        special = [0.0, -1e-7, 30.0, -30.0, -100.0, 89.0]
        flat[: min(len(special), flat.size)] = special[: flat.size]
        return values.astype(dtype)
    if tensor_type == "BOOL":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    info = np.iinfo(dtype)
    low, high = max(info.min, -1000), min(info.max, 1000)
    return rng.integers(low, high, size=shape, endpoint=True).astype(dtype)


def _slopes(rng, shape):
    return rng.uniform(0.05, 2.0, size=shape).astype(np.float32)


def _float_case(rng, index, kind):
    x_shape = _shape(rng)
    a_shape, b_shape = _param_shape(rng, x_shape), _param_shape(rng, x_shape)
    tensors = [
        Tensor("x", x_shape),
        Tensor("a", a_shape, data=_slopes(rng, a_shape)),
        Tensor("b", b_shape, data=_slopes(rng, b_shape)),
        Tensor("y", x_shape),
        Tensor("y2", x_shape),
    ]
    return Case(
        index, kind, tensors, [0, 1, 2], [3], [0], threads=int(rng.integers(1, 4))
    )


def _int8_case(rng, index, kind):
    x_shape = _shape(rng, rank=int(rng.integers(1, 5)))
    a_shape, b_shape = _param_shape(rng, x_shape), _param_shape(rng, x_shape)
    in_q = (float(rng.uniform(0.01, 0.3)), int(rng.integers(-128, 128)))
    out_q = (float(rng.uniform(0.01, 0.3)), int(rng.integers(-128, 128)))
    param_type = "INT32" if rng.random() < 0.5 else "FLOAT32"

    def param(name, shape):
        value = _slopes(rng, shape)
        if param_type == "FLOAT32":
            return Tensor(name, shape, "FLOAT32", value)
        scale = 2.0 / 2**30
        return Tensor(
            name, shape, "INT32", np.round(value / scale).astype(np.int32), (scale, 0)
        )

    tensors = [
        Tensor("x", x_shape, "INT8", quant=in_q),
        param("a", a_shape),
        param("b", b_shape),
        Tensor("y", x_shape, "INT8", quant=out_q),
        Tensor("y2", x_shape, "INT8", quant=out_q),
    ]
    return Case(index, kind, tensors, [0, 1, 2], [3], [0])


def _not_broadcasting(rng, x_shape):
    """A parameter shape that does not broadcast to x_shape."""
    if not x_shape or rng.random() < 0.3:
        # More axes than x (leading 1s or not).
        extra = [int(rng.choice([1, 2, 3]))]
        return tuple(extra + list(x_shape))
    shape = list(x_shape)
    axis = int(rng.integers(0, len(shape)))
    shape[axis] = shape[axis] + int(rng.integers(1, 4))  # never 1, never x's
    return tuple(shape)


def make_case(seed, index):
    """Case `index` of the run with `seed` (deterministic)."""
    rng = np.random.default_rng([seed, index])
    kind = KINDS[index % len(KINDS)]
    int8 = rng.random() < 0.35
    case = (_int8_case if int8 else _float_case)(rng, index, kind)
    t = case.tensors
    x = t[0]
    if kind == "valid-float":
        case = _float_case(rng, index, kind)
    elif kind == "valid-int8":
        case = _int8_case(rng, index, kind)
        # Out-of-range zero points are still valid (the result saturates).
        if rng.random() < 0.2:
            case.tensors[3].quant = (case.tensors[3].quant[0], 300)
    elif kind == "input-count":
        count = int(rng.choice([0, 1, 2, 4, 5]))
        case.inputs = [0, 1, 2, 2, 1][:count]
    elif kind == "output-count":
        case.outputs = [] if rng.random() < 0.4 else [3, 4]
    elif kind == "dtype-x":
        x.type = str(rng.choice([w for w in WRONG_TYPES if w != "INT8"] + ["INT8"]))
        if x.type == "INT8" and not int8:
            x.quant = (0.1, 0)  # int8 x with a float output: still invalid
    elif kind == "dtype-param":
        p = t[int(rng.integers(1, 3))]
        p.type = str(
            rng.choice(
                WRONG_TYPES if not int8 else [w for w in WRONG_TYPES if w != "INT32"]
            )
        )
        p.data = _values(rng, p.shape, p.type)
        if p.type == "INT32":
            p.quant = (0.01, 0)
    elif kind == "dtype-output":
        choices = [
            w for w in WRONG_TYPES + ["FLOAT32"] if w != ("INT8" if int8 else "FLOAT32")
        ]
        t[3].type = str(rng.choice(choices))
        t[3].quant = (0.1, 0)
    elif kind == "broadcast":
        p = t[int(rng.integers(1, 3))]
        p.shape = _not_broadcasting(rng, x.shape)
        p.data = _slopes(rng, p.shape)
        if p.type == "INT32":
            p.data = np.ones(p.shape, np.int32)
    elif kind == "zero-size":
        shape = list(x.shape) or [1]
        shape[int(rng.integers(0, len(shape)))] = 0
        x.shape = t[3].shape = t[4].shape = tuple(shape)
        p = t[int(rng.integers(1, 3))]
        roll = rng.random()
        if roll < 0.4:  # a zero-size slope: valid only on x's zero axis
            p.shape = tuple(shape)
        elif roll < 0.7:
            p.shape = (0,)
        else:
            p.shape = _param_shape(rng, tuple(shape))
        p.data = np.zeros(p.shape, NUMPY_TYPES[p.type])
    elif kind == "huge-shape":
        huge = [
            int(v)
            for v in rng.choice(
                [2**31 - 1, 2**30, 65536, 1 << 20, 46341], size=int(rng.integers(2, 5))
            )
        ]
        # Beyond what a child may allocate (RLIMIT_AS, below), even int8.
        while np.prod(huge, dtype=object) < 2**35:
            huge.append(int(rng.choice([46341, 65536, 1 << 20])))
        roll = rng.random()
        if roll < 0.5:  # a model input too big for memory or for size_t
            x.shape = t[3].shape = tuple(huge)
        else:  # a constant that claims a huge shape over a small buffer
            p = t[int(rng.integers(1, 3))]
            x.shape = t[3].shape = tuple(huge)
            p.shape = tuple(huge)
            p.data = np.ones(16, NUMPY_TYPES[p.type])
    elif kind == "negative-shape":
        target = t[int(rng.integers(0, 4))]
        shape = list(target.shape) or [1]
        shape[int(rng.integers(0, len(shape)))] = int(rng.choice([-1, -2, -(2**31)]))
        target.shape = tuple(shape)
        if target.data is not None:
            target.data = np.ones(4, NUMPY_TYPES[target.type])
    elif kind == "quantisation":
        if not int8:
            case = _int8_case(rng, index, kind)
            t, x = case.tensors, case.tensors[0]
        target = t[int(rng.choice([0, 3, 1, 2]))]
        roll = rng.random()
        if roll < 0.3:
            target.quant = None
        elif roll < 0.5:
            target.quant = (0.0, 0)
        elif roll < 0.65:
            target.quant = (-0.1, 0)
        elif roll < 0.8:
            target.quant = (float("nan"), 0)
        else:  # per-channel parameters on a per-tensor operand
            target.quant = ([0.1, 0.2], [0, 0])
        if target.type == "FLOAT32" and target.quant is None:
            t[1].type = "INT32"  # an int32 slope without parameters
            t[1].data = np.ones(t[1].shape, np.int32)
            t[1].quant = None
    elif kind == "short-buffer":
        p = t[int(rng.integers(1, 3))]
        size = int(np.prod(p.shape, dtype=np.int64))
        p.data = np.ones(
            max(size - int(rng.integers(1, 3)), 0) if rng.random() < 0.7 else size + 3,
            NUMPY_TYPES[p.type],
        )
    elif kind == "indices":
        roll = rng.random()
        if roll < 0.25:
            case.inputs[int(rng.integers(0, 3))] = -1  # optional tensor
        elif roll < 0.45:
            case.inputs[int(rng.integers(0, 3))] = int(rng.choice([5, 99]))
        elif roll < 0.6:
            case.outputs = [int(rng.choice([-1, 5, 99]))]
        elif roll < 0.8:
            case.inputs = [0, 0, 0]  # x as its own slopes: valid (float)
        else:
            case.inputs = list(rng.permutation([0, 1, 2]))
            case.inputs = [int(i) for i in case.inputs]
    elif kind == "non-constant-params":
        p = int(rng.integers(1, 3))
        t[p].data = None
        t[p].quant = t[p].quant if t[p].type == "INT32" else None
        case.model_inputs = [0, p]  # fed: valid for float, not for int8
    elif kind == "rank":
        rank = int(rng.integers(9, 12))
        shape = tuple([1] * (rank - 2) + [2, 3])
        x.shape = t[3].shape = shape
        for p in (t[1], t[2]):
            p.shape = () if rng.random() < 0.5 else (3,)
            p.data = (
                _slopes(rng, p.shape)
                if p.type == "FLOAT32"
                else np.ones(p.shape, np.int32)
            )
    elif kind == "custom-options":
        case.custom_options = (
            rng.integers(0, 256, size=int(rng.integers(0, 64)))
            .astype(np.uint8)
            .tobytes()
        )
    elif kind == "in-place":
        roll = rng.random()
        if roll < 0.5:
            case.outputs = [0]  # the model input is also the output
            case.may_fail = True
        else:
            case.outputs = [int(rng.integers(1, 3))]  # a constant as output
            case.may_fail = True
    elif kind == "big-threads":
        case = _float_case(rng, index, kind)
        shape = (int(rng.integers(2, 4)), int(rng.integers(30000, 60000)))
        case.tensors[0].shape = case.tensors[3].shape = shape
        for p in (case.tensors[1], case.tensors[2]):
            p.shape = _param_shape(rng, shape)
            p.data = _slopes(rng, p.shape)
        case.threads = int(rng.integers(1, 6))
    return case


# ---- the oracle ----------------------------------------------------------


def _bytes_needed(tensor):
    return (
        int(np.prod(tensor.shape, dtype=object))
        * np.dtype(NUMPY_TYPES[tensor.type]).itemsize
    )


def _per_tensor(quant):
    if quant is None:
        return None
    scale, zero = np.atleast_1d(quant[0]), np.atleast_1d(quant[1])
    if scale.size != 1 or zero.size != 1 or not scale[0] > 0:
        return None
    return float(scale[0]), int(zero[0])


def _param_value(tensor, data):
    if tensor.type == "FLOAT32":
        return np.asarray(data, np.float64).reshape(tensor.shape)
    scale, zero = _per_tensor(tensor.quant)
    return scale * (np.asarray(data, np.float64).reshape(tensor.shape) - zero)


def expect(case, feeds):
    """(valid, expected): whether the APALU node is valid, and its float64
    reference output (float32 or int8 values as float64) if it is."""
    tensors, count = case.tensors, len(case.tensors)
    if len(case.inputs) != 3 or len(case.outputs) != 1:
        return False, None
    if any(i < 0 or i >= count for i in case.inputs + case.outputs):
        return False, None
    x, a, b = (tensors[i] for i in case.inputs)
    out = tensors[case.outputs[0]]
    for tensor in tensors:
        # The model is refused: a negative dimension anywhere, a constant
        # buffer shorter than its shape, or quantisation with neither 1
        # scale nor one per channel of axis 0.
        if any(d < 0 for d in tensor.shape):
            return False, None
        if (
            tensor.data is not None
            and min(tensor.shape, default=0) >= 0
            and (np.asarray(tensor.data).nbytes < _bytes_needed(tensor))
        ):
            return False, None
        if tensor.quant is not None and tensor.shape:  # (not checked on
            scales = np.atleast_1d(tensor.quant[0]).size  # a scalar)
            if scales > 1 and scales != tensor.shape[0]:
                return False, None
    for tensor in (x, a, b):
        if any(d < 0 for d in tensor.shape):
            return False, None
    if len(x.shape) > MAX_RANK:
        return False, None
    int8 = x.type == "INT8"
    if int8:
        if (
            out.type != "INT8"
            or _per_tensor(x.quant) is None
            or (_per_tensor(out.quant) is None)
        ):
            return False, None
        for p in (a, b):
            if p.data is None or p.type not in ("FLOAT32", "INT32"):
                return False, None
            if p.type == "INT32" and _per_tensor(p.quant) is None:
                return False, None
    elif any(t.type != "FLOAT32" for t in (x, a, b, out)):
        return False, None
    for p in (a, b):
        if len(p.shape) > len(x.shape):
            return False, None
        for pd, xd in zip(reversed(p.shape), reversed(x.shape)):
            if pd != 1 and pd != xd:
                return False, None
    if _bytes_needed(x) > FEED_LIMIT:
        return False, None  # cannot be allocated (or fed) here
    # A tensor neither fed nor constant has no defined value.
    values = {}
    for i in set(case.inputs):
        tensor = tensors[i]
        if i in feeds:
            values[i] = feeds[i]
        elif tensor.data is not None:
            # A longer buffer is accepted; its first elements are the values.
            count = int(np.prod(tensor.shape, dtype=np.int64))
            values[i] = (
                np.asarray(tensor.data).reshape(-1)[:count].reshape(tensor.shape)
            )
        else:
            return False, None
    xv = values[case.inputs[0]].astype(np.float64)
    av = _param_value(a, values[case.inputs[1]])
    bv = _param_value(b, values[case.inputs[2]])
    if not int8:
        return True, apalu_reference(xv, av, bv)
    s_in, z_in = _per_tensor(x.quant)
    s_out, z_out = _per_tensor(out.quant)
    y = apalu_reference(s_in * (xv - z_in), av, bv)
    return True, np.clip(np.round(y / s_out) + z_out, -128, 127)


def _matches(got, expected, int8):
    got = np.asarray(got, np.float64)
    if got.shape != expected.shape:
        return False
    if int8:
        return bool(np.all(np.abs(got - expected) <= 1))
    return bool(np.allclose(got, expected, rtol=2e-6, atol=1e-6, equal_nan=True))


# ---- running one case (in the child) -------------------------------------


def _registerer(library):
    handle = ctypes.CDLL(str(library))
    register = getattr(handle, REGISTERER_NAME)
    register.argtypes = [ctypes.c_void_p]
    register.restype = None
    return lambda address: register(ctypes.c_void_p(address))


def _feeds(case, rng):
    feeds = {}
    for i in case.model_inputs:
        tensor = case.tensors[i]
        if any(d < 0 for d in tensor.shape) or (_bytes_needed(tensor) > FEED_LIMIT):
            continue
        if tensor.type in ("FLOAT32", "INT32") and i != 0:
            feeds[i] = (
                _slopes(rng, tensor.shape)
                if tensor.type == "FLOAT32"
                else np.ones(tensor.shape, np.int32)
            )
        else:
            feeds[i] = _values(rng, tensor.shape, tensor.type)
    return feeds


def run_case(case, register):
    """Runs one case; returns (outcome, detail). Outcomes: "ok" (ran, right
    result), "error@build", "error@allocate", "error@feed", "error@invoke"
    (interpreter errors), "WRONG" (a result that is not the reference, or an
    invalid node accepted)."""
    from ai_edge_litert.interpreter import InterpreterWithCustomOps

    content = apalu_op_flatbuffer(
        [t.spec() for t in case.tensors],
        case.inputs,
        case.outputs,
        model_inputs=case.model_inputs,
        custom_options=case.custom_options,
    )
    feeds = _feeds(case, np.random.default_rng([case.index, 7]))
    valid, expected = expect(case, feeds)
    stage = "build"
    try:
        interpreter = InterpreterWithCustomOps(
            model_content=content,
            custom_op_registerers=[register],
            num_threads=case.threads,
        )
        stage = "allocate"
        interpreter.allocate_tensors()
        stage = "feed"
        missing = [i for i in case.model_inputs if i not in feeds]
        if missing:
            return "WRONG", f"allocated a model input too big to feed: {missing}"
        for i, value in feeds.items():
            interpreter.set_tensor(i, value)
        stage = "invoke"
        interpreter.invoke()
    except (RuntimeError, ValueError) as error:
        if valid and not case.may_fail:
            return "WRONG", f"valid node refused at {stage}: {error}"
        return f"error@{stage}", (str(error).strip() or "(no message)")[:200]
    if not valid:
        return "WRONG", "an invalid node was accepted and ran"
    got = interpreter.get_tensor(case.outputs[0])
    if not _matches(got, expected, case.tensors[case.inputs[0]].type == "INT8"):
        return "WRONG", (
            f"result differs from the reference (shape "
            f"{np.shape(got)} vs {expected.shape})"
        )
    return "ok", ""


def _child(seed, indices, library):
    """Runs cases, printing `start i` before and `done i {json}` after each
    (flushed), so the parent can tell which case a crash happened in."""
    import resource

    # A huge allocation must fail, not exhaust the machine.
    limit = 16 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A crash is reported by the parent; no core file in the checkout.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    register = _registerer(library)
    for index in indices:
        print(f"start {index}", flush=True)
        outcome, detail = run_case(make_case(seed, index), register)
        record = {
            "outcome": outcome,
            "detail": detail,
            "kind": KINDS[index % len(KINDS)],
        }
        print(f"done {index} {json.dumps(record)}", flush=True)


# ---- the parent ----------------------------------------------------------


@dataclasses.dataclass
class Report:
    cases: int = 0
    outcomes: dict = dataclasses.field(default_factory=dict)
    by_kind: dict = dataclasses.field(default_factory=dict)
    crashes: list = dataclasses.field(default_factory=list)
    wrong: list = dataclasses.field(default_factory=list)

    def add(self, index, kind, outcome, detail):
        self.cases += 1
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        kind_counts = self.by_kind.setdefault(kind, {})
        kind_counts[outcome] = kind_counts.get(outcome, 0) + 1
        if outcome == "CRASH":
            self.crashes.append((index, detail))
        elif outcome == "WRONG":
            self.wrong.append((index, detail))

    def summary(self):
        lines = [
            f"{self.cases} cases: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        ]
        for kind in KINDS:
            if kind in self.by_kind:
                lines.append(
                    f"  {kind:<20} "
                    + ", ".join(
                        f"{k} {v}" for k, v in sorted(self.by_kind[kind].items())
                    )
                )
        for index, detail in self.crashes + self.wrong:
            lines.append(f"  case {index}: {detail}")
        return "\n".join(lines)


def run(seed, indices, library, batch=250, timeout=600, progress=None):
    """Runs the cases `indices` in child processes of `batch` cases each.

    A child that dies or times out is reported as a CRASH of the case it
    had started; its batch resumes in a new child after that case.

    Args:
        seed: the run's seed (case i depends on (seed, i) only).
        indices: case numbers to run.
        library: path of the kernel library (keras_apalu.tflite.library_path()).
        batch: cases per child process.
        timeout: seconds a child may take.
        progress: optional callable(cases_done).

    Returns:
        A `Report`.
    """
    report = Report()
    pending = list(indices)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    while pending:
        chunk, pending = pending[:batch], pending[batch:]
        command = [
            sys.executable,
            "-m",
            "tests.tflite.kernel_fuzz",
            "--child",
            "--seed",
            str(seed),
            "--library",
            str(library),
            "--indices",
            ",".join(map(str, chunk)),
        ]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                cwd=REPO,
                env=env,
                timeout=timeout,
            )
            stdout, code, why = result.stdout, result.returncode, None
            stderr = result.stderr
        except subprocess.TimeoutExpired as expired:
            stdout = expired.stdout or b""
            stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
            code, why, stderr = None, f"timed out after {timeout} s", ""
        started = None
        done = set()
        for line in stdout.splitlines():
            if line.startswith("start "):
                started = int(line.split()[1])
            elif line.startswith("done "):
                _, index, record = line.split(" ", 2)
                record = json.loads(record)
                report.add(
                    int(index), record["kind"], record["outcome"], record["detail"]
                )
                done.add(int(index))
        if code != 0:
            if started is None or started in done:
                raise RuntimeError(
                    f"fuzz child failed outside a case (exit {code}):\n{stderr[-3000:]}"
                )
            why = why or f"child exited with {code} ({_signal_name(code)})"
            report.add(
                started,
                KINDS[started % len(KINDS)],
                "CRASH",
                f"{why}\n{make_case(seed, started).describe()}\n{stderr[-2000:]}",
            )
            rest = chunk[chunk.index(started) + 1 :]
            pending = rest + pending
        if progress is not None:
            progress(report.cases)
    return report


def _signal_name(code):
    import signal

    if code is not None and code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            pass
    return "exit status"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument(
        "--only", type=int, default=None, help="run this one case (and describe it)"
    )
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--library", default=None, help="kernel library (default: build/find it)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--indices", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        indices = [int(i) for i in args.indices.split(",") if i]
        _child(args.seed, indices, args.library)
        return 0
    library = args.library
    if library is None:
        from keras_apalu import tflite

        library = tflite.library_path()
    indices = [args.only] if args.only is not None else range(args.cases)
    if args.verbose:
        for index in indices:
            print(make_case(args.seed, index).describe())
    import keras

    bar = keras.utils.Progbar(len(indices), unit_name="case")
    report = run(args.seed, indices, library, batch=args.batch, progress=bar.update)
    print(report.summary())
    return 1 if report.crashes or report.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
