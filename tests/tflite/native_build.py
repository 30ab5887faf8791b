"""Helpers for the kernel's safety tests: those that compile the APALU
kernel and its C harness directly (visibility, sanitizers, ARM under qemu),
and the fuzz and concurrency tests in the LiteRT interpreter.

None of them depends on the Keras backend, so they run once per suite run,
under the tensorflow backend (`tests/run_backends.py` runs the suite once
per backend).
"""

import os
import pathlib
import shutil
import subprocess

import keras
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
KERNEL_DIR = REPO / "tflite"
KERNEL = KERNEL_DIR / "apalu_op.c"
# The runtime-free math every glue links with.
CORE = KERNEL_DIR / "apalu_core.c"
REGISTERER = KERNEL_DIR / "apalu_registerer.cc"
HARNESS = REPO / "tests" / "tflite" / "native" / "apalu_harness.c"

# The kernel's own build flags (keras_apalu/tflite/_kernel.py), minus -fPIC.
KERNEL_FLAGS = ["-fno-trapping-math", "-ffp-contract=fast", "-pthread"]

once_per_suite = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="tests the C kernel (directly or in the LiteRT interpreter), "
    "which does not depend on the Keras backend: it runs once, in the "
    "tensorflow backend's pass of the suite",
)


def require(tool, apt_package=None):
    """Path of `tool`; skips the test if it is missing and only comes from
    an optional apt package (install.sh installs it where apt works), fails
    otherwise (a C compiler is needed by the kernel anyway)."""
    path = shutil.which(tool)
    if path is None:
        # CI installs the optional tools (install.sh): there a missing one is
        # a failure, not a skip, so the ARM check cannot vanish unnoticed.
        if apt_package and not os.environ.get("CI"):
            pytest.skip(
                f"{tool} not found: apt-get install {apt_package} "
                "(install.sh does, where apt is available)"
            )
        pytest.fail(f"{tool} not found: a C/C++ compiler is required")
    return path


def run(command, timeout=600, env=None):
    """Runs `command`; fails the test with its output unless it exits 0."""
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else dict(os.environ, **env),
    )
    assert result.returncode == 0, (
        f"$ {' '.join(map(str, command))}\nexit {result.returncode}\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


def harness_summary(output):
    """The harness's summary line, checked: at least `cases` run, none
    failed."""
    lines = [line for line in output.splitlines() if line.startswith("apalu_harness:")]
    assert len(lines) == 1, output[-4000:]
    assert ", 0 failures;" in lines[0], output[-4000:]
    assert "FAIL" not in output, output[-4000:]
    return lines[0]
