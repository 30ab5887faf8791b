"""The float kernel's NEON path (tflite/apalu_core.c, aarch64) under
qemu-aarch64: tests/tflite/native/apalu_neon_check.c compares it with the
scalar formula and the float64 definition on special values (0, -0,
denormals, +-inf, NaN, the clamp at -87, huge magnitudes) and random ones,
with scalar and per-channel slopes, split at odd offsets (vector bodies and
scalar tails). The same program on x86_64 checks whatever vector code GCC
makes there. Needs gcc-aarch64-linux-gnu and qemu-user (install.sh): a
failure in CI when missing, a skip elsewhere.
"""

import re

from tests.tflite import native_build
from tests.tflite.native_build import once_per_suite

pytestmark = once_per_suite

CHECK = native_build.REPO / "tests" / "tflite" / "native" / "apalu_neon_check.c"
FLAGS = [
    "-std=c11",
    "-O2",
    "-Wall",
    "-Werror",
    "-D_POSIX_C_SOURCE=200809L",
    *native_build.KERNEL_FLAGS,
    f"-I{native_build.KERNEL_DIR}",
]


def _build(compiler, binary, defines=()):
    native_build.run(
        [
            compiler,
            *FLAGS,
            *defines,
            "-static",
            CHECK,
            native_build.CORE,
            "-lm",
            "-o",
            binary,
        ]
    )
    return binary


def _summary(output):
    match = re.search(r"apalu_neon_check: (\d+) values, (\d+) failures", output)
    assert match, output[-3000:]
    assert int(match.group(1)) > 50000 and match.group(2) == "0", output
    return output


def test_neon_path_matches_scalar_and_float64_under_qemu(tmp_path):
    compiler = native_build.require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    qemu = native_build.require("qemu-aarch64", "qemu-user")
    binary = _build(compiler, tmp_path / "neon_check")
    # The NEON code is really in the binary (AArch64 vector division).
    objdump = native_build.require(
        "aarch64-linux-gnu-objdump", "binutils-aarch64-linux-gnu"
    )
    disassembly = native_build.run([objdump, "-d", binary]).stdout
    assert re.search(r"fdiv\s+v\d+\.4s", disassembly)
    print(_summary(native_build.run([qemu, binary]).stdout))


def test_vector_check_on_the_host(tmp_path):
    binary = _build(native_build.require("cc"), tmp_path / "check_host")
    print(_summary(native_build.run([binary]).stdout))
