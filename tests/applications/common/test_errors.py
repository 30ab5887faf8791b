"""The error types of applications.common.errors: message lines, exit status."""

import pytest

from applications.common.errors import ApplicationError
from applications.common.errors import RunFailedError
from applications.common.errors import UsageError

pytestmark = pytest.mark.backend_independent


def test_lines_are_the_message_and_the_optional_hint():
    assert UsageError("no file x").lines() == ["error: no file x"]
    assert RunFailedError("download failed", hint="pass --data-dir").lines() == [
        "error: download failed",
        "hint: pass --data-dir",
    ]


def test_exit_status_and_builtin_base_per_class():
    usage, failed = UsageError("u"), RunFailedError("f")
    assert (usage.exit_status, failed.exit_status) == (2, 1)
    assert isinstance(usage, ValueError) and not isinstance(usage, RuntimeError)
    assert isinstance(failed, RuntimeError) and not isinstance(failed, ValueError)
    assert isinstance(usage, ApplicationError) and isinstance(failed, ApplicationError)
    assert str(usage) == "u" and usage.hint is None
