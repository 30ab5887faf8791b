"""Keeps TensorFlow's C++ log lines off the terminal (`--verbose` keeps them).

TensorFlow, XLA and the TFLite converter log from C++ straight to file
descriptor 2, partly before any setting such as TF_CPP_MIN_LOG_LEVEL is
read. `native_stderr_to_file()` points descriptor 2 at a temporary file and
Python's `sys.stderr` at a copy of the real one, so Python's own messages
(errors, warnings, this application's output) still reach the terminal.
Imports nothing heavy: it runs before keras is imported.
"""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_to_file(enabled=True, expected=()):
    """Inside the block, native code's writes to stderr go to a temporary
    file; if the block raises, the last 20 of those lines are printed first
    (they may explain the error).

    Args:
        enabled: `False` makes this a no-op.
        expected: exception classes that explain themselves (bad input):
            no log lines are printed for them.
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
        except expected:
            raise
        except BaseException:
            log.seek(0)
            lines = log.read().decode(errors="replace").strip().splitlines()
            if lines:
                print("--- last native log lines ---", *lines[-20:], sep="\n",
                      file=sys.stderr)
            raise
        finally:
            terminal.flush()
            sys.stderr = saved_stderr
            os.dup2(real, 2)
            os.close(real)
            terminal.close()


def _writes_to_fd2(stream):
    """Whether `stream` writes to descriptor 2 (not so under a capture,
    e.g. pytest's, which is then left in place)."""
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False
