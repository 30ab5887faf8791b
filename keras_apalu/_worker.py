"""Shared by `keras_apalu.export` and `keras_apalu.tflite`: work in another
backend's process, and files that appear only once complete.

- `run_job(job, backend)` runs one job in a fresh `python -m
  keras_apalu._worker JOB` process under `backend` (Keras fixes its backend
  per process): exporting a saved `.keras` file to formats Keras cannot write
  from the caller's backend, or converting it to TFLite under TensorFlow. A
  `keras_apalu.errors` error raised there is raised again here, same type and
  message; any other failure becomes an `ExportError` ending with the
  subprocess' last output lines.
- `Staging(path)`: a file or folder is written into a hidden folder beside
  `path` and moved over it only by `commit()`, so a failed export leaves an
  earlier file intact and a reader never sees half a file.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from keras_apalu import errors


def package_root():
    """The folder holding the `keras_apalu` package (put on the
    subprocess' PYTHONPATH, so a source checkout runs its own code)."""
    return str(pathlib.Path(__file__).resolve().parents[1])


def run_job(job, backend, verbose=False, what="export"):
    """Runs `job` (a JSON-able dict, see `main`) under `backend`.

    Args:
        job: the job; `job["kind"]` is "export" or "tflite".
        backend: the Keras backend of the subprocess.
        verbose: let the subprocess' output through (else it is captured
            and only shown, in the error, if the job fails).
        what: what the job does, for the error message.

    Raises:
        The job's `keras_apalu.errors` error, or `ExportError`.
    """
    env = dict(os.environ, KERAS_BACKEND=backend)
    # Set by tensorflow-model-optimization; would make TensorFlow load tf_keras.
    env.pop("TF_USE_LEGACY_KERAS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root(), env.get("PYTHONPATH")) if p
    )
    with tempfile.TemporaryDirectory(prefix="keras_apalu_job_") as tmp:
        # The job's own error, if it raises one on purpose (see `main`).
        error_file = pathlib.Path(tmp) / "error.json"
        job = dict(job, verbose=verbose, error_file=str(error_file))
        result = subprocess.run(
            [sys.executable, "-m", "keras_apalu._worker", json.dumps(job)],
            env=env,
            text=True,
            capture_output=not verbose,
        )
        if result.returncode == 0:
            return
        if error_file.exists():
            kind, message = json.loads(error_file.read_text())
            raise getattr(errors, kind)(message)
    tail = "\n".join((result.stderr or "").strip().splitlines()[-25:])
    raise errors.ExportError(
        f"{what} runs in a {backend}-backend subprocess here; it failed "
        f"(exit {result.returncode}):\n{tail}"
    )


class Staging:
    """Writes `path` (a file, or a folder such as a SavedModel) atomically.

    Write to `staging.partial`, then `commit()`; `cleanup()` (always) removes
    what is left. Creating it fails at once (e.g. `PermissionError`) when
    the target's folder cannot be written, before any work is done.
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dir = pathlib.Path(
            tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        )
        self.partial = self.dir / self.path.name

    def write_bytes(self, content):
        with open(self.partial, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())

    def commit(self):
        if self.path.is_dir():
            shutil.rmtree(self.path)
        self.partial.replace(self.path)
        weights = self.partial.with_suffix(".bin")
        if weights.exists():  # OpenVINO's weights beside the .xml
            weights.replace(self.path.with_suffix(".bin"))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.cleanup()


def write_atomically(path, content):
    """Writes `content` (bytes) to `path` through a `Staging`."""
    with Staging(path) as stage:
        stage.write_bytes(content)
        stage.commit()
    return stage.path


def _export(job):
    import keras

    from keras_apalu import export

    model = keras.saving.load_model(job["model"], compile=False)
    for format, path in job["to"]:
        export._export_here(model, path, format, job["verbose"])


def _tflite(job):
    from keras_apalu.tflite import _convert
    from keras_apalu.tflite import int8

    content = _convert.convert(
        job["model"],
        mode=job["mode"],
        quantize=job["quantize"],
        representative_data=int8.load_samples(job["representative"]),
        reorder_max_pool=job["reorder_max_pool"],
        verbose=job["verbose"],
        library=job["library"],
    )
    pathlib.Path(job["output"]).write_bytes(content)


def main(argv=None):
    """`python -m keras_apalu._worker JOB`: runs the JSON job (see `run_job`)."""
    job = json.loads((sys.argv[1:] if argv is None else argv)[0])
    if not job["verbose"]:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        {"export": _export, "tflite": _tflite}[job["kind"]](job)
    except errors.APALUError as error:
        pathlib.Path(job["error_file"]).write_text(
            json.dumps([type(error).__name__, str(error)])
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
