"""Silences what converters print (TensorFlow's C++ logs, tf2onnx's INFO
lines, Keras' "Saved artifact" and captured-TensorSpec dumps) while keeping
it for the error message when something fails."""

import contextlib
import logging
import os
import sys
import tempfile


class ExportError(RuntimeError):
    """An export failed; the message ends with the converter's last lines."""


@contextlib.contextmanager
def quiet(enabled=True, what="export"):
    """Sends file descriptors 1 and 2 (and Python's logging) to a temporary
    file inside the block. On an exception the last 25 lines it caught are
    added to the error (an `ExportError` chained to the original).

    Args:
        enabled: `False` makes this a no-op (`--verbose`).
        what: what is being done, for the error message.
    """
    if not enabled:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    root = logging.getLogger()
    level = root.level
    with tempfile.TemporaryFile(mode="w+b") as log, open(
            log.fileno(), "w", closefd=False) as text, \
            contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        root.setLevel(logging.ERROR)
        try:
            yield
        except Exception as error:
            text.flush()
            log.seek(0)
            lines = log.read().decode(errors="replace").strip().splitlines()
            tail = "\n".join(lines[-25:])
            raise ExportError(
                f"{what} failed: {type(error).__name__}: {error}"
                + (f"\n--- last converter output ---\n{tail}" if tail else "")
            ) from error
        finally:
            text.flush()
            root.setLevel(level)
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
