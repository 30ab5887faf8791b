"""The pieces export/ and tflite/ share (keras_apalu/_worker.py): the
subprocess worker and the staged, all-or-nothing writes."""

import keras
import pytest

from keras_apalu import _worker
from keras_apalu import errors


def test_staged_file_appears_only_on_commit(tmp_path):
    path = tmp_path / "model.xml"
    path.write_bytes(b"earlier")
    with _worker.Staging(path) as stage:
        stage.write_bytes(b"new")
        stage.partial.with_suffix(".bin").write_bytes(b"weights")
        assert path.read_bytes() == b"earlier"
        stage.commit()
    assert path.read_bytes() == b"new"
    assert (tmp_path / "model.bin").read_bytes() == b"weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin", "model.xml"]


def test_failed_folder_export_leaves_the_earlier_folder(tmp_path):
    path = tmp_path / "saved_model"
    path.mkdir()
    (path / "saved_model.pb").write_bytes(b"earlier")
    with (
        pytest.raises(RuntimeError, match="converter crashed"),
        _worker.Staging(path) as stage,
    ):
        stage.partial.mkdir()
        (stage.partial / "saved_model.pb").write_bytes(b"half")
        raise RuntimeError("converter crashed")
    assert (path / "saved_model.pb").read_bytes() == b"earlier"
    assert [p.name for p in tmp_path.iterdir()] == ["saved_model"]
    with _worker.Staging(path) as stage:
        stage.partial.mkdir()
        (stage.partial / "saved_model.pb").write_bytes(b"new")
        stage.commit()
    assert (path / "saved_model.pb").read_bytes() == b"new"


def test_unwritable_target_fails_before_any_work(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(OSError):
        _worker.Staging(tmp_path / "a_file" / "model.onnx")


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="backend-independent: the JAX pass"
)
def test_worker_raises_the_subprocess_error_again(tmp_path):
    """An `errors` type raised in the worker comes back with its type and
    message; anything else becomes an ExportError ending with its output."""
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")
    job = {
        "kind": "tflite",
        "model": str(bad),
        "output": str(tmp_path / "o"),
        "mode": "custom",
        "quantize": None,
        "representative": None,
        "reorder_max_pool": True,
        "library": None,
    }
    with pytest.raises(
        errors.InvalidModelError, match="bad.keras is not a complete .keras archive"
    ):
        _worker.run_job(job, "tensorflow")
    job = {"kind": "export", "model": str(bad), "to": [["onnx", "x.onnx"]]}
    with pytest.raises(
        errors.ExportError, match="(?s)jax-backend subprocess.*bad.keras"
    ):
        _worker.run_job(job, "jax")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.keras"]
