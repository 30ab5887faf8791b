"""Data-parallel training on two virtual CPU devices matches one device.

The virtual devices must exist before the backend starts, so each check runs
in a fresh Python process (XLA_FLAGS for JAX, logical CPUs for TensorFlow).
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from applications.sign_language.distribute import DistributionError
from applications.sign_language.train import train

REPO = pathlib.Path(__file__).resolve().parents[3]

_SCRIPT = r"""
import json, os, sys
if os.environ["KERAS_BACKEND"] == "tensorflow":
    from applications.sign_language.distribute import configure_virtual_cpus
    configure_virtual_cpus(2)
import keras
import numpy as np
from applications.sign_language import data as data_lib, split as split_lib
from applications.sign_language.distribute import device_count
from applications.sign_language.train import TrainConfig, train

data_dir, out = sys.argv[1], sys.argv[2]
# A split whose train and validation sizes are even, so that every batch
# (the last, partial one too) splits evenly across 2 devices and both runs
# see exactly the same images.
entries = data_lib.list_images(data_lib.resolve_data_dir(data_dir))
files = [f"{p.parent.name}/{p.name}" for p, _ in entries]
labels = [label for _, label in entries]
for split_seed in range(50):
    record = split_lib.make_split(files, labels, "signer", 0.2, 0.2, split_seed)
    if len(record["train"]["files"]) % 2 == 0 and len(record["val"]["files"]) % 2 == 0:
        break
settings = dict(data_dir=data_dir, split_seed=split_seed, cache_dir=out + "/cache", image_size=16, width=4,
                blocks=2, epochs=2, patience=0, batch_size=16, augment=0.0,
                dropout=0.0, val_fraction=0.2, test_fraction=0.2, verbose=0,
                plots=False)
runs = {}
for name, distribute in (("single", False), ("parallel", True)):
    metrics = train(TrainConfig(run_dir=f"{out}/{name}", distribute=distribute, **settings))
    model = keras.saving.load_model(f"{out}/{name}/model.keras")
    runs[name] = {"metrics": metrics, "weights": [np.asarray(w) for w in model.get_weights()]}
diff = max(float(np.max(np.abs(a - b))) for a, b in
           zip(runs["single"]["weights"], runs["parallel"]["weights"]))
scale = max(float(np.max(np.abs(a))) for a in runs["single"]["weights"])
print("RESULT " + json.dumps({
    "devices": device_count(),
    "parallel_devices": runs["parallel"]["metrics"]["devices"],
    "max_weight_diff": diff, "weight_scale": scale,
    "test_accuracy": [runs[n]["metrics"]["test_accuracy"] for n in ("single", "parallel")],
}))
"""


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="Keras' distribution API has no torch backend (see next test)",
)
@pytest.mark.slow
def test_two_devices_match_one_device(tiny_dataset, tmp_path):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tiny_dataset), str(tmp_path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [l for l in completed.stdout.splitlines() if l.startswith("RESULT ")]
    assert completed.returncode == 0 and lines, completed.stderr[-4000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["devices"] == 2
    assert result["parallel_devices"] == 2
    # Same data, same seed, same global batch: only the summation order of
    # the gradient differs between one and two devices.
    assert result["max_weight_diff"] < 1e-3 * max(1.0, result["weight_scale"]), result


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch only")
def test_distribute_on_torch_is_a_clear_error(tiny_config):
    with pytest.raises(DistributionError, match="not available on the torch backend"):
        train(tiny_config(distribute=True))
