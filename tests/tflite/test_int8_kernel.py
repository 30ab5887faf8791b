"""The int8 path of the APALU kernel vs a float64 NumPy reference.

Every one of the 256 input levels goes through each parameter position, for
several input/output scales and zero points, scalar, per-channel and
broadcast a and b (float32 or quantised int32), and the table-free path used
when a and b vary over more positions than the kernel tabulates.
"""

import numpy as np
import pytest

from keras_apalu import tflite
from tests.tflite.int8_reference import apalu_int8_flatbuffer
from tests.tflite.int8_reference import apalu_int8_reference
from tests.tflite.reference import run

# The C kernel on hand-made flatbuffers in the LiteRT interpreter: no Keras backend involved;
# runs in one backend's pass only (tests/conftest.py).
pytestmark = pytest.mark.backend_independent

LEVELS = np.arange(-128, 128, dtype=np.int8)
# (input scale, zero point), (output scale, zero point)
SCALES = [
    ((0.05, -10), (0.08, -60)),
    ((0.02, 5), (0.3, -100)),
    ((0.1, 0), (0.01, 3)),
    ((0.25, 90), (0.04, -128)),
]
# (x shape, a shape, b shape); the level axis is 1 (x[:, q, ...] = q).
LAYOUTS = [
    ((1, 256), (), ()),
    ((1, 256, 7), (7,), (7,)),
    ((2, 256, 37), (37,), (1, 37)),  # vector runs of 16 and a tail
    ((1, 256, 128), (128,), (1, 128)),  # 64x64 blocks (channels % 64 == 0)
    ((1, 256, 7), (), (7,)),
    ((3, 256, 5), (3, 1, 5), (5,)),
    # More positions than the kernel tabulates: the table-free path.
    ((1, 256, 4100), (4100,), (4100,)),
]


def _levels_input(shape):
    shape_ = [1] * len(shape)
    shape_[1] = 256
    return np.broadcast_to(LEVELS.reshape(shape_), shape).copy()


def _check(x, a, b, in_q, out_q, param_type):
    model = apalu_int8_flatbuffer(x.shape, a, b, in_q, out_q, param_type)
    y = run(tflite.interpreter(model_content=model), x)
    assert y.dtype == np.int8 and y.shape == x.shape
    expected = apalu_int8_reference(x, a, b, in_q, out_q)
    steps = np.abs(y.astype(np.int32) - expected.astype(np.int32))
    assert steps.max() <= 1, f"off by {steps.max()} steps"
    return steps


@pytest.mark.parametrize("param_type", ["FLOAT32", "INT32"])
@pytest.mark.parametrize("in_q, out_q", SCALES)
@pytest.mark.parametrize("x_shape, a_shape, b_shape", LAYOUTS)
def test_int8_kernel_within_one_step(
    rng, x_shape, a_shape, b_shape, in_q, out_q, param_type
):
    a = rng.uniform(0.05, 2.0, size=a_shape).astype(np.float32)
    b = rng.uniform(0.05, 2.0, size=b_shape).astype(np.float32)
    x = _levels_input(x_shape)
    steps = _check(x, a, b, in_q, out_q, param_type)
    # Off-by-one only where the float64 value sits on a rounding boundary.
    assert np.mean(steps) < 0.01


def test_int8_kernel_saturates_and_keeps_positive_side(rng):
    # Output scale too small for the range: saturation at both ends, and the
    # positive side is not clipped to the zero point.
    x = _levels_input((1, 256))
    a, b = np.float32(1.3), np.float32(0.7)
    in_q, out_q = (0.1, 0), (0.02, 0)
    model = apalu_int8_flatbuffer(x.shape, a, b, in_q, out_q)
    y = run(tflite.interpreter(model_content=model), x)[0]
    assert y[-1] == 127 and y[0] == -35  # -0.7 / 0.02
    assert np.all(np.diff(y.astype(np.int32)) >= 0)
    assert np.all(y[LEVELS > 0] > 0)


def test_int8_kernel_rejects_bad_quantisation():
    x = _levels_input((1, 256))
    model = apalu_int8_flatbuffer(
        x.shape, np.float32(1), np.float32(1), (0.1, 0), (0.0, 0)
    )
    with pytest.raises(RuntimeError, match="positive scale"):
        tflite.interpreter(model_content=model)


@pytest.mark.parametrize("size", [1, 63, 1000])
def test_int8_kernel_shared_table_any_length(rng, size):
    # Runs that are not a multiple of the vector width (64 levels).
    x = rng.integers(-128, 128, size=(1, size)).astype(np.int8)
    a, b = np.float32(0.9), np.float32(1.7)
    _check(x, a, b, (0.05, -3), (0.06, -70), "INT32")


@pytest.mark.parametrize("shape", [(1, 100, 64), (3, 7, 5, 128), (1, 64, 64)])
def test_int8_kernel_per_channel_any_rows(rng, shape):
    # Row counts that are not multiples of the 64-row blocks.
    x = rng.integers(-128, 128, size=shape).astype(np.int8)
    a = rng.uniform(0.05, 2.0, size=shape[-1:]).astype(np.float32)
    b = rng.uniform(0.05, 2.0, size=shape[-1:]).astype(np.float32)
    _check(x, a, b, (0.04, 7), (0.05, -90), "FLOAT32")
