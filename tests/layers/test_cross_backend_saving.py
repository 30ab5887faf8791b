"""A .keras file saved under one backend loads under every other one."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_apalu import layers
from tests.conftest import REPO

BACKENDS = ("tensorflow", "jax", "torch")

LOAD_SCRIPT = """
import sys, numpy as np, keras
import keras_apalu  # registers the layer
model = keras.saving.load_model(sys.argv[1])
x = np.load(sys.argv[2])
np.save(sys.argv[3], keras.ops.convert_to_numpy(model(x)))
print(keras.backend.backend())
"""


@pytest.mark.slow
@pytest.mark.parametrize("other", [b for b in BACKENDS if b != keras.backend.backend()])
def test_model_saved_here_loads_under_other_backend(tmp_path, rng, other):
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, padding="same"),
            layers.APALU(shared_axes=[1, 2]),
            keras.layers.Flatten(),
            keras.layers.Dense(16),
            layers.APALU(smooth=True),
            keras.layers.Dense(5),
        ]
    )
    x = rng.normal(0, 1, (3, 8, 8, 3)).astype("float32")
    model.compile("adam", "mse")
    model.fit(x, rng.normal(0, 1, (3, 5)), epochs=1, verbose=0)
    want = keras.ops.convert_to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, KERAS_BACKEND=other)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_SCRIPT,
            str(tmp_path / "m.keras"),
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == other
    # Conv2D and Dense sum in a backend-specific order, so float32 results
    # differ by rounding (~1e-6 of the output's scale); APALU adds nothing.
    got = np.load(tmp_path / "y.npy")
    assert np.abs(got - want).max() <= 1e-6 * max(1.0, np.abs(want).max())
    # The APALU layers alone (no summation): equal to 1e-6 (relative where
    # the value is large enough that 1e-6 is below one float32 ulp).
    act_model = keras.Sequential(
        [
            keras.Input((6, 4)),
            layers.APALU(shared_axes=[1]),
            layers.APALU(smooth=True),
        ]
    )
    act_model.layers[0].a.assign(np.linspace(0.1, 2.0, 4).reshape(1, 4))
    act_model.layers[0].b.assign(np.linspace(2.0, 0.5, 4).reshape(1, 4))
    x_act = (rng.normal(0, 4, (5, 6, 4))).astype("float32")
    want_act = keras.ops.convert_to_numpy(act_model(x_act))
    act_model.save(tmp_path / "act.keras")
    np.save(tmp_path / "x_act.npy", x_act)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_SCRIPT,
            str(tmp_path / "act.keras"),
            str(tmp_path / "x_act.npy"),
            str(tmp_path / "y_act.npy"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "y_act.npy"), want_act, rtol=1e-6, atol=1e-6
    )
