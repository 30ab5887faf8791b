"""Runs the test suite once per Keras backend, each in its own process.

    python tests/run_backends.py                 # the full suite (what CI runs)
    python tests/run_backends.py --fast          # without tests marked slow
    python tests/run_backends.py --serial -x     # one backend after the other
    python tests/run_backends.py tests/test_ops.py -k gradient

Other arguments go to pytest unchanged. The backends' pytest processes run
at the same time (the tests are mostly single-threaded Python, so two cores
run three passes in little more than the time of the longest); each pass's
output goes to a file and is printed in one piece when the pass ends,
followed by a summary with pytest's closing line per backend. `--serial`
runs them one after the other with their output live.

Tests marked `backend_independent` (pure Python: argument parsing, run
stores, statistics, plotting, packaging) run in the first backend's pass
only (tests/conftest.py reads KERAS_APALU_ONCE_BACKEND).

Exit status: 0 when every backend passed; 1 when any failed. A backend whose
pass collected no test (pytest's exit 5, e.g. a node id that exists only in
another backend's pass) counts as passed as long as another backend ran
tests; 5 when none did. KERAS_APALU_BACKENDS (comma separated) narrows the
list of backends.
"""

import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile
import time

BACKENDS = ("tensorflow", "jax", "torch")
REPO = pathlib.Path(__file__).resolve().parents[1]
#: Environment variable naming the backend whose pass runs the tests marked
#: `backend_independent` (the other passes deselect them; tests/conftest.py).
ONCE_BACKEND_ENV = "KERAS_APALU_ONCE_BACKEND"
NO_TESTS = 5  # pytest's exit status when nothing was collected
_CLOSING = re.compile(
    r"(passed|failed|errors?|skipped|deselected|no tests ran)"
    r".* in [0-9.]+s"
)


def _backends():
    names = os.environ.get("KERAS_APALU_BACKENDS", ",".join(BACKENDS))
    backends = [b.strip() for b in names.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown or not backends:
        sys.exit(
            f"KERAS_APALU_BACKENDS: unknown backend(s) {unknown}; "
            f"choose from {', '.join(BACKENDS)}."
        )
    return backends


def _environment(backend, once_backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.pop("TF_USE_LEGACY_KERAS", None)
    env[ONCE_BACKEND_ENV] = once_backend
    return env


def _command(pytest_args):
    # "tests" unless the caller names files or node ids of their own.
    named = [
        a
        for a in pytest_args
        if not a.startswith("-") and (REPO / a.split("::")[0]).exists()
    ]
    return [sys.executable, "-m", "pytest", *([] if named else ["tests"]), *pytest_args]


def _made(path):
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _closing_line(text):
    """pytest's last summary line ("== 12 passed in 3.4s =="), or ""."""
    for line in reversed(text.strip().splitlines()):
        if _CLOSING.search(line):
            return line.strip("= ").strip()
    return ""


def _run_serial(backends, command, once_backend):
    results = []
    for backend in backends:
        print(f"\n===== KERAS_BACKEND={backend} =====", flush=True)
        start = time.perf_counter()
        code = subprocess.call(
            command, cwd=REPO, env=_environment(backend, once_backend)
        )
        results.append((backend, code, time.perf_counter() - start, ""))
    return results


def _run_concurrent(backends, command, once_backend):
    results = []
    with tempfile.TemporaryDirectory(prefix="run_backends_") as folder:
        running = {}
        for backend in backends:
            log = open(pathlib.Path(folder, f"{backend}.log"), "w+")
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=dict(
                    _environment(backend, once_backend),
                    # Each pass its own root of pytest's tmp_path folders, so
                    # that no pass's clean-up of old folders meets another's.
                    PYTEST_DEBUG_TEMPROOT=_made(pathlib.Path(folder, backend)),
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            running[backend] = (process, log, time.perf_counter())
        print(
            f"running {', '.join(backends)} at the same time: {shlex.join(command[2:])}",
            flush=True,
        )
        try:
            while running:
                for backend, (process, log, start) in list(running.items()):
                    code = process.poll()
                    if code is None:
                        continue
                    seconds = time.perf_counter() - start
                    log.seek(0)
                    text = log.read()
                    log.close()
                    del running[backend]
                    print(
                        f"\n===== KERAS_BACKEND={backend} "
                        f"(exit {code}, {seconds:.0f} s) =====",
                        flush=True,
                    )
                    sys.stdout.write(text)
                    sys.stdout.flush()
                    results.append((backend, code, seconds, _closing_line(text)))
                time.sleep(0.5)
        finally:
            for process, log, _ in running.values():  # interrupted
                process.terminate()
                process.wait()
                log.close()
    order = {b: i for i, b in enumerate(backends)}
    return sorted(results, key=lambda r: order[r[0]])


def main(argv):
    argv = list(argv)
    fast = "--fast" in argv
    serial = "--serial" in argv
    argv = [a for a in argv if a not in ("--fast", "--serial")]
    if fast:
        argv = ["-m", "not slow", *argv]
    backends = _backends()
    command = _command(argv)
    run = _run_serial if serial else _run_concurrent
    start = time.perf_counter()
    results = run(backends, command, backends[0])
    wall = time.perf_counter() - start

    ran = [code for _, code, _, _ in results if code != NO_TESTS]
    print("\n===== summary =====")
    for backend, code, seconds, closing in results:
        if code == 0:
            status = "passed"
        elif code == NO_TESTS:
            status = "no tests ran" + ("" if ran else " (FAILED)")
        else:
            status = f"FAILED (exit {code})"
        print(f"{backend:<11} {status:<18} {seconds:7.1f} s  {closing}")
    failed = [code for code in ran if code != 0]
    print(
        f"backends: {len(results) - len(failed)} passed, {len(failed)} "
        f"failed ({wall:.0f} s wall{', --fast' if fast else ''})"
    )
    if not ran:
        return NO_TESTS
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
