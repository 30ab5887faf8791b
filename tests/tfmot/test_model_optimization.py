"""keras_apalu.model_optimization (tfmot extra): QAT converts to an int8
custom-op model; pruned kernels reach the requested sparsity in the exported
TFLite model.

tfmot is imported only in a TensorFlow-backend subprocess
(tests/tfmot/scenario.py), so its TF_USE_LEGACY_KERAS cannot leak into this
suite. Skipped when the extra is not installed.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

for _module in ("tensorflow_model_optimization", "tf_keras", "tensorflow",
                "ai_edge_litert"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"{_module} is not installed (pip install "
                    "'keras-apalu[tfmot]')", allow_module_level=True)


# The scenario always runs under the TensorFlow backend in its own process,
# so its result does not depend on this run's backend: run it once per suite
# (in the tensorflow run) to keep CI time down.
if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    pytest.skip("backend-independent (TensorFlow subprocess); runs in the "
                "KERAS_BACKEND=tensorflow pass", allow_module_level=True)


@pytest.fixture(scope="module")
def figures(sign_language_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tfmot") / "figures.json"
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.pop("TF_USE_LEGACY_KERAS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-m", "tests.tfmot.scenario", str(sign_language_dir),
         str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(out.read_text())
    print(json.dumps(figures, indent=1))
    return figures


def test_tfmot_does_not_leak_into_this_process(figures):
    assert "tensorflow_model_optimization" not in sys.modules
    assert "TF_USE_LEGACY_KERAS" not in os.environ


def test_tf_keras_twin_matches_keras3_model(figures):
    assert figures["twin_max_abs_error"] < 1e-4


def test_qat_model_converts_to_int8_custom_op(figures):
    assert figures["qat_int8_ops"].count("APALU") == 3
    assert not {"DEQUANTIZE", "QUANTIZE"} & set(figures["qat_int8_ops"])
    assert figures["qat_int8_float_tensors"] == []
    assert figures["qat_int8_rel_rmse"] < 0.05
    assert figures["qat_int8_accuracy"] >= figures["qat_accuracy"] - 0.03
    assert figures["qat_accuracy"] > 0.6


def test_pruned_kernels_have_requested_sparsity(figures):
    target = figures["sparsity"]
    kernels = figures["pruned_tflite_sparsity"]
    assert len(kernels) == 4
    for size, fraction in kernels:
        # tfmot zeroes round(target * size) weights of each kernel.
        assert abs(fraction - target) <= 1.0 / size + 1e-9, kernels
    for fraction in figures["pruned_keras_sparsity"].values():
        assert abs(fraction - target) < 0.01
    assert figures["pruned_accuracy"] > 0.6
