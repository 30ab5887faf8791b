"""Shared test set-up: one suite, run once per Keras backend.

The backend is chosen by KERAS_BACKEND before keras is imported (see
tests/run_backends.py, which runs this suite under each backend in its own
process).

Markers (declared in pyproject.toml):

* `slow`: more than a few seconds; `tests/run_backends.py --fast` (or
  `-m "not slow"`) leaves them out.
* `backend_independent`: pure Python that no Keras backend changes
  (argument parsing, run stores, statistics, plotting, packaging). When
  KERAS_APALU_ONCE_BACKEND names a backend (run_backends.py sets it to the
  first of its backends), the other backends' passes deselect them, so they
  run once per suite run. A plain `pytest` run keeps them.
"""

import os
import pathlib

import keras
import numpy as np
import pytest
from hypothesis import settings

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "datasets" / "sign-language-digits"

settings.register_profile("ci", max_examples=40, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


#: See the module docstring; tests/run_backends.py sets it.
ONCE_BACKEND_ENV = "KERAS_APALU_ONCE_BACKEND"


def pytest_report_header(config):
    once = os.environ.get(ONCE_BACKEND_ENV)
    where = f"; backend_independent tests run under {once}" if once else ""
    return (
        f"keras backend: {keras.backend.backend()} (keras {keras.__version__}){where}"
    )


def pytest_collection_modifyitems(config, items):
    once = os.environ.get(ONCE_BACKEND_ENV)
    if not once or once == keras.backend.backend():
        return
    keep, drop = [], []
    for item in items:
        once_only = item.get_closest_marker("backend_independent")
        (drop if once_only else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def x64():
    """Lets float64 tensors exist in the test (JAX disables them by default)."""
    if keras.backend.backend() == "jax":
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


@pytest.fixture(autouse=True)
def _reset_dtype_policy():
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def sign_language_dir():
    """The development copy of the Sign Language Digits dataset."""
    path = pathlib.Path(os.environ.get("SIGN_LANGUAGE_DIGITS_DIR", SHARED_DATA))
    if not (path / "Dataset").is_dir():
        pytest.fail(
            f"Sign Language Digits dataset not found at {path}; set "
            "SIGN_LANGUAGE_DIGITS_DIR to a folder holding Dataset/<digit>/."
        )
    return path
