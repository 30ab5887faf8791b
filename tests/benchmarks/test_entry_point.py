"""`python -m benchmarks`: usage errors, and a smoke run of each benchmark.

The smoke runs use --quick (tiny sizes, few rounds) and only check that the
benchmark runs end to end and reports every candidate without an error; the
figures are not checked (speed figures come from benchmark runs only). The
op and memory benchmarks have code of their own per backend, so they run
under each pass's backend; the others call only Keras' own train step and
export, or the op benchmark's per-backend code (model, formulations,
product-dense, deployment), or run under TensorFlow whatever the pass
(tflite), so they run once.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

from tests.conftest import REPO

BACKEND = keras.backend.backend()


def run_benchmarks(*argv, timeout=900):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def smoke(name, tmp_path, *options, backend=BACKEND):
    """Runs `name --quick`; returns the rows of its JSON sidecar."""
    output = tmp_path / f"{name}.md"
    done = run_benchmarks(
        name, "--quick", "--backends", backend, "--output", str(output), *options
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(output.with_suffix(".json").read_text())
    assert report["benchmark"] == name and not report["failures"]
    assert report["rows"], "no measurement in the report"
    assert not [r for r in report["rows"] if r.get("error")]
    assert output.read_text().startswith("# ")
    return report["rows"]


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "argv, message",
    [
        (["nope"], "unknown benchmark 'nope'; valid: op, model"),
        (["op", "--activations", "ReLU", "Relu"], "unknown 'Relu'; valid: 'ReLU'"),
        (["tflite", "--activations", "ReLU"], "does not apply to the tflite"),
        (["op", "--backends", "theano"], "invalid choice: 'theano'"),
        ([], "Benchmarks:"),
    ],
)
def test_usage_errors_exit_2_naming_the_valid_choices(argv, message):
    done = run_benchmarks(*argv, timeout=120)
    assert done.returncode == 2
    assert message in done.stdout + done.stderr


@pytest.mark.backend_independent
def test_help_lists_every_benchmark():
    done = run_benchmarks("--help", timeout=120)
    assert done.returncode == 0
    for name in (
        "op",
        "model",
        "memory",
        "formulations",
        "jax-slope-sums",
        "product-dense",
        "tflite",
        "deployment",
        "web",
        "workers",
    ):
        assert f"\n  {name} " in done.stdout


@pytest.mark.slow
def test_op(tmp_path):
    rows = smoke("op", tmp_path)
    names = {r["activation"] for r in rows}
    assert {"ReLU", "PReLU", "GELU", "APALU", "APALU (plain)"} <= names
    assert {r["pass"] for r in rows} == {"fwd", "grad", "vjp"}
    report = (tmp_path / "op.md").read_text()
    assert "APALU / PReLU" in report and "vjp form" in report


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "jax", reason="a JAX-only benchmark")
def test_jax_slope_sums(tmp_path):
    rows = smoke("jax-slope-sums", tmp_path, backend="jax")
    from benchmarks.jax_slope_sums import CANDIDATES

    assert {r["activation"] for r in rows} == set(CANDIDATES)


@pytest.mark.slow
@pytest.mark.backend_independent
def test_model(tmp_path):
    rows = smoke(
        "model",
        tmp_path,
        "--model",
        "mlp",
        "--activations",
        "ReLU",
        "APALU",
        "APALU (plain)",
    )
    assert [r["activation"] for r in rows] == ["ReLU", "APALU", "APALU (plain)"]


@pytest.mark.slow
def test_memory(tmp_path):
    rows = smoke("memory", tmp_path, "--activations", "ReLU", "APALU")
    assert {(r["model"], r["activation"]) for r in rows} == {
        (m, a) for m in ("cnn", "mlp") for a in ("ReLU", "APALU")
    }


@pytest.mark.slow
@pytest.mark.backend_independent
def test_formulations(tmp_path):
    rows = smoke("formulations", tmp_path)
    assert "one expm1, custom gradient" in {r["activation"] for r in rows}


@pytest.mark.slow
@pytest.mark.backend_independent
def test_product_dense(tmp_path):
    rows = smoke("product-dense", tmp_path)
    assert rows[0]["time"] and rows[0]["memory"]


@pytest.mark.slow
@pytest.mark.backend_independent
def test_tflite(tmp_path):
    rows = smoke("tflite", tmp_path, backend="tensorflow")
    assert {r["mode"] for r in rows} == {"float", "int8", "builds", "app"}


@pytest.mark.slow
@pytest.mark.backend_independent
def test_deployment(tmp_path):
    rows = smoke("deployment", tmp_path)
    assert [(r["format"], r["route"] != "FAILED") for r in rows] == [("litert", True)]
