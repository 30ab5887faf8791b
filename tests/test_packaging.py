"""The wheel: only `keras_apalu`, prefixed commands, and a clean install.

The install test builds the wheel (non-editable), installs it with `keras`
and `jax` only (downloaded by pip) into a fresh virtual environment, and runs
the layer there, outside the checkout. It does not depend on the backend of
the test run, so it runs once, in the JAX pass (the backend it installs).
"""

import os
import shutil
import subprocess
import sys
import zipfile

import keras
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="backend-independent packaging check: runs once, in the JAX pass",
)

SCRIPT = r"""
import pathlib, sys
import numpy as np
import keras
import keras_apalu
from keras_apalu import layers, replace_activations

assert "site-packages" in keras_apalu.__file__, keras_apalu.__file__
for name in ("tensorflow", "torch", "applications"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise AssertionError(f"{name} is importable in the clean environment")

model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(2)])
model = replace_activations(model)
model.compile(optimizer="sgd", loss="mse")
x = np.linspace(-1, 1, 32, dtype="float32").reshape(8, 4)
model.fit(x, x[:, :2], epochs=1, verbose=0)
y = model.predict(x, verbose=0)
assert np.all(np.isfinite(y))
layer = model.layers[1]
assert isinstance(layer, layers.APALU)
a, b = (np.asarray(v) for v in layer.get_weights())
h = model.layers[0](x)
h = np.asarray(h)
s = 1.0 / (1.0 + np.exp(-1.702 * h))
expected = np.where(h >= 0, a * (h + h * s), b * np.expm1(np.minimum(h, 0)))
np.testing.assert_allclose(np.asarray(layer(h)), expected, rtol=1e-5, atol=1e-6)
model.save(sys.argv[1])
keras.saving.load_model(sys.argv[1])

from keras_apalu import tflite
try:
    tflite.export(model, pathlib.Path(sys.argv[1]).with_suffix(".tflite"))
except ImportError as error:
    print("TFLITE:", error)
else:
    raise AssertionError("TFLite export without TensorFlow did not fail")
print("OK", keras.backend.backend())
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Builds the wheel from a copy of the package sources (no build/ here)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    # The kernel sources are linked into the package; copy them as files.
    shutil.copytree(
        REPO / "keras_apalu",
        source / "keras_apalu",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (path,) = out.glob("keras_apalu-*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_only_the_library(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(
            archive.read(n).decode() for n in names if n.endswith("entry_points.txt")
        )
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"keras_apalu", "keras_apalu-0.1.0.dist-info"}
    assert "keras_apalu/tflite/native/apalu_op.c" in names
    commands = [
        line.split("=")[0].strip() for line in entry_points.splitlines() if "=" in line
    ]
    assert commands and all(c.startswith("keras-apalu-") for c in commands), commands


@pytest.mark.slow
def test_clean_install_with_keras_and_one_backend(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel), "jax"],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_HOME")}
    env.update(KERAS_BACKEND="jax", KERAS_HOME=str(tmp_path / "keras_home"))
    result = subprocess.run(
        [str(python), "-c", SCRIPT, str(tmp_path / "model.keras")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK jax" in result.stdout
    tflite_line = next(
        line for line in result.stdout.splitlines() if line.startswith("TFLITE:")
    )
    assert "pip install 'keras-apalu[tflite]'" in tflite_line
    # The console script is installed under its prefixed name.
    assert (venv / "bin" / "keras-apalu-tflite").exists()
    assert not (venv / "bin" / "sign-language").exists()
