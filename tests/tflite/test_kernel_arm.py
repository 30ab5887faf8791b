"""The kernel on ARM: the C harness (tests/tflite/native/apalu_harness.c,
against its float64 reference) cross-compiled for aarch64 (LP64) and 32-bit
armhf (ILP32, where the kernel's 32-bit layout assertions are compiled) and
run under qemu-user.

Needs Debian's gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf and qemu-user,
which install.sh installs where apt is available; skipped, saying so, where
they are missing. The kernel is built as the Python package builds it, with
the harness statically linked (qemu then needs no ARM libraries). ARM builds
take the portable code path (no x86 intrinsics, no target clones; GCC
vectorises the float loop with NEON on aarch64). `--quick` runs fewer
thread counts, since qemu emulates each instruction.
"""

import pytest

from tests.tflite import native_build
from tests.tflite.native_build import once_per_suite

pytestmark = [once_per_suite, pytest.mark.slow]

TARGETS = {
    # name: (cross compiler, its apt package, qemu, pointer size)
    "aarch64": ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu", "qemu-aarch64", 8),
    "armhf": ("arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf", "qemu-arm", 4),
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_harness_under_qemu(target, tmp_path):
    compiler, package, qemu, pointer_size = TARGETS[target]
    compiler = native_build.require(compiler, package)
    qemu = native_build.require(qemu, "qemu-user")
    binary = tmp_path / f"apalu_harness_{target}"
    native_build.run(
        [
            compiler,
            "-std=c11",
            "-O2",
            "-static",
            *native_build.KERNEL_FLAGS,
            "-Wall",
            "-Werror",
            f"-I{native_build.KERNEL_DIR}",
            native_build.HARNESS,
            native_build.CORE,
            "-lm",
            "-o",
            binary,
        ]
    )
    result = native_build.run([qemu, binary, "--quick"])
    summary = native_build.harness_summary(result.stdout)
    # Ran as the intended ABI (the 32-bit build really is ILP32).
    assert summary.endswith(f"pointer size {pointer_size}"), summary
    print(f"{target}: {summary}")
