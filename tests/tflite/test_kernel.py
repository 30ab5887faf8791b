"""The C kernel on hand-made one-op models, against the float64 reference."""

import numpy as np
import pytest

from keras_apalu import tflite
from tests.tflite.reference import apalu_flatbuffer
from tests.tflite.reference import apalu_reference
from tests.tflite.reference import run

# The C kernel on hand-made flatbuffers in the LiteRT interpreter: no Keras backend involved;
# runs in one backend's pass only (tests/conftest.py).
pytestmark = pytest.mark.backend_independent

SHAPE = (2, 5, 4, 3)


def _inputs(rng, shape):
    x = rng.normal(scale=4.0, size=shape).astype(np.float32)
    flat = x.reshape(-1)
    # Exercise the edges of the exp range reduction and both sides of 0.
    special = [
        0.0,
        -0.0,
        1e-7,
        -1e-7,
        1e-3,
        -1e-3,
        0.3466,
        -0.3466,
        20.0,
        -20.0,
        60.0,
        -60.0,
        -87.5,
        -100.0,
        88.0,
        1e4,
    ]
    n = min(len(special), flat.size)
    flat[:n] = special[:n]
    return x


# Every broadcast the layer's shared_axes can produce for a rank-4 input,
# plus a and b of different shapes.
PARAM_SHAPES = [
    ((), ()),  # scalar
    ((1,), (1,)),
    ((1, 1, 1), (1, 1, 1)),  # shared_axes="all"
    ((3,), (3,)),  # per channel, last axis
    ((1, 1, 3), (1, 1, 3)),  # shared_axes=[1, 2]
    ((5, 1, 3), (5, 1, 3)),  # shared_axes=[2]
    ((1, 4, 3), (1, 4, 3)),  # shared_axes=[1]
    ((5, 4, 1), (5, 4, 1)),  # shared_axes=[3]
    ((5, 1, 1), (5, 1, 1)),  # shared_axes=[2, 3]
    ((5, 4, 3), (5, 4, 3)),  # shared_axes=None: one per element
    ((1, 5, 4, 3), (1, 5, 4, 3)),
    ((3,), (5, 4, 1)),  # a and b broadcast differently
    ((), (5, 4, 3)),
]


@pytest.mark.parametrize("a_shape,b_shape", PARAM_SHAPES)
def test_kernel_matches_float64_reference(rng, a_shape, b_shape):
    a = rng.uniform(0.05, 2.0, size=a_shape).astype(np.float32)
    b = rng.uniform(0.05, 2.0, size=b_shape).astype(np.float32)
    x = _inputs(rng, SHAPE)
    interpreter = tflite.interpreter(model_content=apalu_flatbuffer(SHAPE, a, b))
    y = run(interpreter, x)
    assert y.dtype == np.float32 and y.shape == SHAPE
    np.testing.assert_allclose(y, apalu_reference(x, a, b), rtol=2e-6, atol=1e-6)


# Large enough for the kernel to split x over threads (32,768 elements per
# part at least); odd sizes, so parts start inside rows of the broadcast plan.
BIG_SHAPE = (3, 37, 41, 29)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(
    "a_shape,b_shape",
    [
        ((), ()),
        ((29,), (29,)),
        ((37, 1, 29), (1, 41, 1)),
        ((37, 41, 29), ()),
    ],
)
def test_threaded_kernel_matches_float64_reference(rng, threads, a_shape, b_shape):
    a = rng.uniform(0.05, 2.0, size=a_shape).astype(np.float32)
    b = rng.uniform(0.05, 2.0, size=b_shape).astype(np.float32)
    x = _inputs(rng, BIG_SHAPE)
    interpreter = tflite.interpreter(
        model_content=apalu_flatbuffer(BIG_SHAPE, a, b), num_threads=threads
    )
    for _ in range(3):  # the pool is reused between invokes
        y = run(interpreter, x)
        np.testing.assert_allclose(y, apalu_reference(x, a, b), rtol=2e-6, atol=1e-6)


def test_kernel_follows_input_resize(rng):
    a = rng.uniform(0.5, 1.5, size=(3,)).astype(np.float32)
    b = rng.uniform(0.5, 1.5, size=(3,)).astype(np.float32)
    interpreter = tflite.interpreter(model_content=apalu_flatbuffer((1, 4, 3), a, b))
    for shape in [(1, 4, 3), (7, 4, 3), (2, 9, 3)]:
        x = _inputs(rng, shape)
        np.testing.assert_allclose(
            run(interpreter, x), apalu_reference(x, a, b), rtol=2e-6, atol=1e-6
        )


def test_kernel_special_values():
    a = np.float32(1.25)
    b = np.float32(0.75)
    x = np.array([[np.inf, -np.inf, np.nan, 0.0]], np.float32)
    y = run(tflite.interpreter(model_content=apalu_flatbuffer((1, 4), a, b)), x)
    assert y[0, 0] == np.inf
    assert y[0, 1] == pytest.approx(-0.75)
    assert np.isnan(y[0, 2])
    assert y[0, 3] == 0.0


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"inputs": 2}, "expected 3 inputs"),
        ({"inputs": 4}, "expected 3 inputs"),
        ({"outputs": 2}, "expected 1 output"),
        ({"x_type": "INT32"}, "must be float32"),
        ({"a_shape": (4,)}, "does not broadcast"),
        ({"a_shape": (1, 1, 4, 3)}, "more than x's rank"),
    ],
)
def test_bad_node_is_an_interpreter_error_not_a_crash(kwargs, message):
    kwargs = dict(kwargs)
    a = np.ones(kwargs.pop("a_shape", (3,)), np.float32)
    content = apalu_flatbuffer((2, 3), a, np.ones((3,), np.float32), **kwargs)
    with pytest.raises(RuntimeError, match=message) as info:
        tflite.interpreter(model_content=content)
    assert "APALU" in str(info.value)


def test_registerer_by_name_in_a_fresh_process(rng, tmp_path):
    """`custom_op_registerers=[REGISTERER_NAME]`, as C++-style Python users do.

    In a subprocess: loading the library with global symbols also makes
    libtensorflow_cc's global, which this test process should not inherit.
    """
    import os
    import pathlib
    import subprocess
    import sys

    a = rng.uniform(0.5, 1.5, size=(3,)).astype(np.float32)
    b = rng.uniform(0.5, 1.5, size=(3,)).astype(np.float32)
    x = _inputs(rng, (2, 3))
    (tmp_path / "m.tflite").write_bytes(apalu_flatbuffer((2, 3), a, b))
    np.save(tmp_path / "x.npy", x)
    code = f"""
import numpy as np
from keras_apalu import tflite
tflite.load_library(global_symbols=True, library={str(tflite.library_path())!r})
from ai_edge_litert.interpreter import InterpreterWithCustomOps
it = InterpreterWithCustomOps(model_path={str(tmp_path / "m.tflite")!r},
                              custom_op_registerers=[tflite.REGISTERER_NAME])
it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]["index"], np.load({str(tmp_path / "x.npy")!r}))
it.invoke()
np.save({str(tmp_path / "y.npy")!r}, it.get_tensor(it.get_output_details()[0]["index"]))
"""
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "y.npy"), apalu_reference(x, a, b), rtol=2e-6, atol=1e-6
    )
