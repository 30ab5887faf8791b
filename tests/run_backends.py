"""Runs the whole test suite once per Keras backend, each in its own process.

    python tests/run_backends.py [pytest args...]

Exits non-zero if any backend's run fails. KERAS_APALU_BACKENDS (comma
separated) narrows the list.
"""

import os
import pathlib
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
REPO = pathlib.Path(__file__).resolve().parents[1]


def main(argv):
    backends = os.environ.get("KERAS_APALU_BACKENDS", ",".join(BACKENDS))
    results = []
    for backend in [b.strip() for b in backends.split(",") if b.strip()]:
        env = dict(os.environ, KERAS_BACKEND=backend)
        env.pop("TF_USE_LEGACY_KERAS", None)
        print(f"\n===== KERAS_BACKEND={backend} =====", flush=True)
        start = time.perf_counter()
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "tests", *argv], cwd=REPO, env=env
        )
        results.append((backend, code, time.perf_counter() - start))
    print("\n===== summary =====")
    for backend, code, seconds in results:
        status = "passed" if code == 0 else f"FAILED (exit {code})"
        print(f"{backend:<11} {status:<16} {seconds:7.1f} s")
    failed = sum(code != 0 for _, code, _ in results)
    print(f"backends: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
