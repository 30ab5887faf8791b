"""The errors an application reports to its user, one per exit status.

Raise them with a message that names the problem, the file or value, and the
fix; `applications.common.cli.run` prints the message in one or two lines
(the traceback only with `--verbose`) and exits with the class's status:

| class | builtin it also is | exit status | for |
|---|---|---|---|
| `UsageError` | `ValueError` | 2 | bad usage or bad input: an unknown option or backend, a missing, truncated or foreign file, an empty data folder |
| `RunFailedError` | `RuntimeError` | 1 | a run that started from good input and failed (a download, a worker, a partial result such as skipped inputs) |
"""


class ApplicationError(Exception):
    """Base class of the errors an application reports without a traceback.

    Args:
        message: what went wrong, naming the file or value.
        hint: optional second line: how to fix it.
    """

    exit_status = 1

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.hint = hint

    def lines(self):
        """The one or two lines the user sees."""
        lines = [f"error: {self}"]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return lines


class UsageError(ApplicationError, ValueError):
    """Bad usage or bad input; exit status 2."""

    exit_status = 2


class RunFailedError(ApplicationError, RuntimeError):
    """A run that failed after starting from good input; exit status 1."""

    exit_status = 1
