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

for _module in (
    "tensorflow_model_optimization",
    "tf_keras",
    "tensorflow",
    "ai_edge_litert",
):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(
            f"{_module} is not installed (pip install 'keras-apalu[tfmot]')",
            allow_module_level=True,
        )


# The scenario always runs under the TensorFlow backend in its own process,
# so its result does not depend on this run's backend: run it once per suite
# (in the tensorflow run) to keep CI time down.
if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    pytest.skip(
        "backend-independent (TensorFlow subprocess); runs in the "
        "KERAS_BACKEND=tensorflow pass",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def figures(sign_language_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tfmot") / "figures.json"
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.pop("TF_USE_LEGACY_KERAS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.tfmot.scenario",
            str(sign_language_dir),
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(out.read_text())
    print(json.dumps(figures, indent=1))
    return figures


def test_tfmot_does_not_leak_into_the_importing_process():
    # Importing the module must not import tfmot; using it imports tfmot
    # but must leave TF_USE_LEGACY_KERAS as it was (unset, and "0").
    probe = (
        "import os, sys\n"
        "from keras_apalu import model_optimization as mo\n"
        "print('tfmot' if 'tensorflow_model_optimization' in sys.modules "
        "else 'lazy')\n"
        "mo.pruning_callbacks()\n"
        "print('tfmot' if 'tensorflow_model_optimization' in sys.modules "
        "else 'lazy')\n"
        "print(os.environ.get('TF_USE_LEGACY_KERAS'))\n"
    )
    for before, after in ((None, "None"), ("0", "0")):
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        env.pop("TF_USE_LEGACY_KERAS", None)
        if before is not None:
            env["TF_USE_LEGACY_KERAS"] = before
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), env.get("PYTHONPATH")) if p
        )
        result = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        assert result.stdout.split()[-3:] == ["lazy", "tfmot", after]


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
