"""Helpers of the web tests: a tool that only comes from an optional install
is skipped with its reason outside CI and fails under CI=true (install.sh
installs it there), as tests/tflite/native_build.py does for the ARM tools."""

import os

import pytest


def missing(reason):
    """Skips the test (fails it under CI=true) because `reason`."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: install.sh must install it)")
    pytest.skip(reason)
