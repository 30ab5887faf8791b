"""Fuzzed APALU nodes in the LiteRT interpreter: an error or the right
result, never a crash (see tests/tflite/kernel_fuzz.py for the cases, the
oracle and the child processes that catch crashes)."""

import pytest

from keras_apalu import tflite
from tests.tflite import kernel_fuzz
from tests.tflite import native_build
from tests.tflite.native_build import once_per_suite

pytestmark = once_per_suite

SEED = 11
CASES = 1200


@pytest.mark.slow
def test_fuzzed_nodes_give_an_error_or_the_reference_never_a_crash():
    report = kernel_fuzz.run(SEED, range(CASES), tflite.library_path(), batch=300)
    print(report.summary())
    assert report.cases == CASES
    assert not report.crashes, report.summary()
    assert not report.wrong, report.summary()
    # Every kind of case was generated, and both outcomes are well
    # represented (a generator that only made invalid nodes, or only valid
    # ones, would test little).
    assert set(report.by_kind) == set(kernel_fuzz.KINDS)
    errors = sum(v for k, v in report.outcomes.items() if k.startswith("error@"))
    assert report.outcomes.get("ok", 0) >= CASES // 5, report.summary()
    assert errors >= CASES // 3, report.summary()


def test_a_crashing_case_is_reported_and_the_run_goes_on(tmp_path):
    # A "kernel library" whose registerer segfaults: every case crashes its
    # child, is reported with its description, and the next case runs in a
    # new child.
    source = tmp_path / "crash.c"
    source.write_text(
        "void KerasApalu_RegisterAPALU(void* resolver) {\n"
        "  (void)resolver;\n"
        "  *(volatile int*)0 = 1;\n"
        "}\n"
    )
    library = tmp_path / "libcrash.so"
    native_build.run(
        [native_build.require("cc"), "-shared", "-fPIC", source, "-o", library]
    )
    report = kernel_fuzz.run(SEED, [0, 1, 2], library, batch=3)
    assert report.cases == 3
    assert [index for index, _ in report.crashes] == [0, 1, 2]
    assert "SIGSEGV" in report.crashes[0][1]
    assert "case 0 [valid-float]" in report.crashes[0][1]


def test_cases_are_deterministic():
    assert (
        kernel_fuzz.make_case(SEED, 417).describe()
        == kernel_fuzz.make_case(SEED, 417).describe()
    )
    assert (
        kernel_fuzz.make_case(SEED, 417).describe()
        != kernel_fuzz.make_case(SEED + 1, 417).describe()
    )
