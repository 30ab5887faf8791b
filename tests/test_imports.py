"""Importing keras_apalu has no side effects and no cycles: each module
imports on its own in a fresh process, and under JAX nothing pulls in
TensorFlow, tf2onnx or ONNX."""

import os
import subprocess
import sys

import keras
import pytest

from tests.conftest import REPO

PACKAGE = REPO / "keras_apalu"
# Imported only where their optional extra and backend are: the torch
# export helper imports torch; model_optimization's own imports are lazy.
BACKEND_ONLY = {"keras_apalu.export._torch": "torch"}


def _modules():
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] != "__main__":
            names.append(".".join(parts))
    return names


def _python(code, backend):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(REPO))
    env.pop("TF_USE_LEGACY_KERAS", None)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True
    )


def test_every_module_is_listed():
    assert "keras_apalu.tflite._convert" in _modules()
    assert len(_modules()) > 20


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="one backend is enough: the JAX pass"
)
@pytest.mark.parametrize("module", _modules())
def test_module_imports_on_its_own(module):
    """A cycle shows as an ImportError of a partly initialised module."""
    backend = BACKEND_ONLY.get(module, "jax")
    result = _python(f"import {module}", backend)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="the JAX pass (the claim is about JAX)"
)
def test_jax_import_pulls_no_tensorflow_tf2onnx_or_onnx():
    code = (
        "import sys, keras_apalu, keras_apalu.export, keras_apalu.tflite; "
        "print(sorted(m for m in ('tensorflow', 'tf2onnx', 'onnx') "
        "if m in sys.modules))"
    )
    result = _python(code, "jax")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the TensorFlow pass"
)
def test_import_registers_no_converter_rule():
    """Under TensorFlow the tf2onnx rule is added when a graph is traced,
    not on import."""
    code = (
        "import sys, keras_apalu; from keras_apalu import _exporting; "
        "print(_exporting._TF2ONNX_RULES, 'tf2onnx' in sys.modules)"
    )
    result = _python(code, "tensorflow")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["False", "False"]
