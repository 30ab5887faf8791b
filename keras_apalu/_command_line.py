"""Keeps TensorFlow's native import logs out of `keras-apalu-tflite`.

Importing keras under the TensorFlow backend makes TensorFlow's C++ code
print a few log lines straight to file descriptor 2, before any Python code
of the command runs, and `TF_CPP_MIN_LOG_LEVEL` does not stop them. So when
this process was started as the command (`keras-apalu-tflite ...` or
`python -m keras_apalu.tflite ...`) without `--verbose`, `keras_apalu`'s own
import runs inside `quiet_import()`, which sends descriptor 2 to /dev/null
for that long. Any other process is left as it is. The command then runs
each subcommand inside `native_stderr_silenced()` too (the first TensorFlow
op logs as well), unless `--verbose`.
"""

import contextlib
import os
import pathlib
import sys


def _started_as_command_line():
    argv = list(getattr(sys, "orig_argv", sys.argv))
    if "--verbose" in argv:
        return False
    if "-m" in argv and argv.index("-m") + 1 < len(argv):
        return argv[argv.index("-m") + 1] in (
            "keras_apalu.tflite",
            "keras_apalu.tflite.__main__",
        )
    return pathlib.Path(sys.argv[0]).name == "keras-apalu-tflite"


@contextlib.contextmanager
def native_stderr_silenced(enabled=True):
    """File descriptor 2 goes to /dev/null inside the block (if `enabled`);
    Python's own `sys.stderr` (the command's messages) still reaches the
    terminal through a copy of the real descriptor."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    swap = _writes_to_fd2(sys.stderr)
    previous = sys.stderr
    terminal = os.fdopen(os.dup(saved), "w", buffering=1) if swap else None
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        if swap:
            sys.stderr = terminal
        yield
    finally:
        if swap:
            terminal.flush()
            sys.stderr = previous
            terminal.close()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _writes_to_fd2(stream):
    """Whether `stream` writes to descriptor 2 (not so under a capture,
    such as pytest's, which is then left in place)."""
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def quiet_import():
    """`native_stderr_silenced()` for the command only (see module doc)."""
    return native_stderr_silenced(_started_as_command_line())
