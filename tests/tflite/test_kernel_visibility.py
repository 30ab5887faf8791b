"""`KerasApalu_Register_APALU` is exported from a shared library built with
-fvisibility=hidden, whether apalu_op.c and apalu_core.c are compiled as C,
as C++, or included into a .cc unity build (issue: in C++ the visibility
attribute used to sit before `extern "C"`, where g++ drops it, hiding the
symbol).
"""

import ctypes
import re

import pytest

from tests.tflite import native_build
from tests.tflite.native_build import once_per_suite

pytestmark = once_per_suite

GETTER = "KerasApalu_Register_APALU"
HIDDEN = ["-fvisibility=hidden", "-fPIC", "-shared", "-O1", "-Wall", "-Werror"]


def _exported(library):
    """Names of the functions a shared library defines and exports."""
    nm = native_build.require("nm")
    result = native_build.run([nm, "-D", "--defined-only", library])
    return {
        line.split()[-1]
        for line in result.stdout.splitlines()
        if re.match(r"^[0-9a-f]+ [TW] ", line)
    }


def _build(kind, tmp_path):
    library = tmp_path / f"lib_{kind}.so"
    if kind == "c":
        command = [
            native_build.require("cc"),
            "-std=c11",
            native_build.KERNEL,
            native_build.CORE,
        ]
    elif kind == "c++":
        command = [
            native_build.require("c++"),
            "-std=c++17",
            "-x",
            "c++",
            native_build.KERNEL,
            native_build.CORE,
        ]
    else:  # a unity build: the .c file included into a .cc file
        unity = tmp_path / "unity.cc"
        unity.write_text('#include "apalu_op.c"\n#include "apalu_core.c"\n')
        command = [
            native_build.require("c++"),
            "-std=c++20",
            f"-I{native_build.KERNEL_DIR}",
            unity,
        ]
    native_build.run([*command, *HIDDEN, *native_build.KERNEL_FLAGS, "-o", library])
    return library


@pytest.mark.parametrize("kind", ["c", "c++", "unity"])
def test_registration_getter_is_exported_with_hidden_visibility(kind, tmp_path):
    library = _build(kind, tmp_path)
    # Only the getter: everything else stays hidden (so the flag took
    # effect, and the getter is exported by its attribute alone).
    assert _exported(library) == {GETTER}
    # And a dynamic loader finds it, and it returns the registration.
    handle = ctypes.CDLL(str(library))
    getter = getattr(handle, GETTER)
    getter.restype = ctypes.POINTER(ctypes.c_void_p * 4)
    init, free, prepare, invoke = getter().contents
    assert init and free and prepare and invoke


def test_registerer_is_exported_with_hidden_visibility(tmp_path):
    # The Python registerer; its tflite::MutableOpResolver::AddCustom stays
    # undefined here (it comes from libtensorflow_cc at load time).
    library = tmp_path / "libregisterer.so"
    native_build.run(
        [
            native_build.require("c++"),
            "-std=c++17",
            *HIDDEN,
            native_build.REGISTERER,
            "-o",
            library,
        ]
    )
    assert "KerasApalu_RegisterAPALU" in _exported(library)
