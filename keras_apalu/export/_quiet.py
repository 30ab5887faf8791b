"""Silences what converters print (TensorFlow's C++ logs, tf2onnx's INFO
lines, Keras' "Saved artifact" and captured-TensorSpec dumps) while keeping
it for the error message when something fails. Every exporter takes a
`verbose` argument that turns this off."""

import contextlib
import logging
import os
import sys
import tempfile

from keras_apalu.errors import ExportError


@contextlib.contextmanager
def quiet(enabled=True, what="export", wrap_errors=True):
    """Sends file descriptors 1 and 2, `sys.stdout`, `sys.stderr` and
    Python's logging below ERROR to a temporary file inside the block.

    Args:
        enabled: `False` makes this a no-op (what `verbose=True` does).
        what: what is being done, for the error message.
        wrap_errors: on an exception, `True` raises an `ExportError` whose
            message ends with the last 25 lines caught (chained to the
            original); `False` prints those lines to stderr and re-raises
            the original exception unchanged.
    """
    if not enabled:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    root = logging.getLogger()
    level = root.level
    tail = None
    with tempfile.TemporaryFile(mode="w+b") as log:
        with open(log.fileno(), "w", closefd=False) as text:
            try:
                with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                    os.dup2(log.fileno(), 1)
                    os.dup2(log.fileno(), 2)
                    root.setLevel(logging.ERROR)
                    yield
            except Exception as error:
                text.flush()
                log.seek(0)
                lines = log.read().decode(errors="replace").strip().splitlines()
                tail = "\n".join(lines[-25:])
                if wrap_errors:
                    raise ExportError(
                        f"{what} failed: {type(error).__name__}: {error}"
                        + (f"\n--- last converter output ---\n{tail}" if tail else "")
                    ) from error
                raise
            finally:
                text.flush()
                root.setLevel(level)
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
                if tail and not wrap_errors:
                    print(
                        f"--- {what}: last converter output ---\n{tail}",
                        file=sys.stderr,
                    )
