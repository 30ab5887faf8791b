"""TFLite tests: need TensorFlow and ai-edge-litert (the `test` extra
installs both; conversion of non-TensorFlow backends' models runs in a
TensorFlow-backend subprocess). They fail, not skip, where either is missing.

The kernel library is built fresh into a per-session temporary cache
(`cache_dir()` points there for the session; a conversion that needs the
kernel in its subprocess is handed the library built here), so a test run
always compiles the current tflite/ sources.
"""

import pytest

from keras_apalu.tflite import _kernel


@pytest.fixture(scope="session", autouse=True)
def _fresh_kernel_cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("apalu_kernel_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_kernel, "cache_dir", lambda: folder)
        yield folder
