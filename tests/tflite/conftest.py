"""TFLite tests: need TensorFlow and ai-edge-litert (the `test` extra
installs both; conversion of non-TensorFlow backends' models runs in a
TensorFlow-backend subprocess). They fail, not skip, where either is missing.

The kernel library is built fresh into a per-session temporary cache, so a
test run always compiles the current tflite/ sources.
"""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _fresh_kernel_cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("apalu_kernel_cache")
    previous = os.environ.get("KERAS_APALU_TFLITE_CACHE")
    os.environ["KERAS_APALU_TFLITE_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("KERAS_APALU_TFLITE_CACHE", None)
    else:
        os.environ["KERAS_APALU_TFLITE_CACHE"] = previous

