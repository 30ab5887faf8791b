"""Keeps native libraries' log lines (TensorFlow's C++ logs, XLA, the TFLite
converter) off the terminal; `--verbose` lets them through.

Those libraries write from C++ straight to file descriptor 2, partly before
any setting such as TF_CPP_MIN_LOG_LEVEL is read. `native_stderr_to_file()`
points descriptor 2 at a temporary file and Python's `sys.stderr` at a copy of
the real one, so Python's own messages (errors, warnings, the application's
output) still reach the terminal. Imports nothing heavy: it runs before keras
is imported.
"""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_to_file(enabled=True):
    """Inside the block, native code's writes to stderr go to a temporary
    file that is discarded at the end.

    Args:
        enabled: `False` makes this a no-op (native logs reach the terminal).
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    real = os.dup(2)
    terminal = os.fdopen(os.dup(real), "w", buffering=1)
    saved_stderr = sys.stderr
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        if _writes_to_fd2(saved_stderr):
            sys.stderr = terminal
        try:
            yield
        finally:
            terminal.flush()
            sys.stderr = saved_stderr
            os.dup2(real, 2)
            os.close(real)
            terminal.close()


def quiet_python_logs():
    """Sets the environment variables that keep TensorFlow's and absl's own
    start-up chatter down (the rest is caught by `native_stderr_to_file`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def _writes_to_fd2(stream):
    """Whether `stream` writes to descriptor 2 (not so under a capture,
    e.g. pytest's, which is then left in place)."""
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False
