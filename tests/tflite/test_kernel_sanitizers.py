"""The kernel under AddressSanitizer and UndefinedBehaviorSanitizer.

tests/tflite/native/apalu_harness.c drives the kernel through a hand-made
TfLiteContext/TfLiteNode (no TFLite runtime) over every input shape class,
slope broadcast, thread count 1-17 and int8 path, against its own float64
reference, plus re-prepared nodes, four threads invoking at once and 30
malformed nodes (each must be refused with an "APALU:" error). Tensors are
malloc'd with their exact sizes, so any out-of-bounds access, leak, signed
overflow or other undefined behaviour aborts the run.
"""

import re

import pytest

from tests.tflite import native_build
from tests.tflite.native_build import once_per_suite

pytestmark = [once_per_suite, pytest.mark.slow]

SANITIZE = [
    "-O1",
    "-g",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined,float-cast-overflow",
    "-fno-sanitize-recover=all",
]
ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


@pytest.mark.parametrize(
    "variant,defines,arguments",
    [
        # As the Python package builds it: SIMD lookups, target clones, threads.
        ("default", [], []),
        # The portable path ARM builds take (no x86 intrinsics, no clones).
        ("portable", ["-DAPALU_NO_SIMD", "-DAPALU_NO_CLONES"], ["--quick"]),
        # Single-threaded build.
        ("no-threads", ["-DAPALU_NO_THREADS"], ["--quick"]),
    ],
)
def test_harness_under_asan_and_ubsan(variant, defines, arguments, tmp_path):
    binary = tmp_path / f"apalu_harness_{variant}"
    native_build.run(
        [
            native_build.require("cc"),
            "-std=c11",
            *SANITIZE,
            *native_build.KERNEL_FLAGS,
            "-Wall",
            *defines,
            f"-I{native_build.KERNEL_DIR}",
            native_build.HARNESS,
            native_build.CORE,
            "-lm",
            "-o",
            binary,
        ]
    )
    result = native_build.run([binary, *arguments], env=ENV)
    summary = native_build.harness_summary(result.stdout)
    cases = int(re.search(r"(\d+) cases", summary).group(1))
    assert cases >= (1000 if not arguments else 800), summary
    assert "Sanitizer" not in result.stderr, result.stderr[-4000:]
    print(summary)
