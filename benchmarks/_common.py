"""Shared helpers of the benchmark scripts: machine info, timing, tables.

Every script runs each Keras backend in its own child process (the backend is
chosen by KERAS_BACKEND before keras is imported), collects the child's rows as
JSON and prints one markdown report with the machine's description and the
exact command that produced it.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"

# Marks the child's JSON line among whatever the libraries print to stdout.
_ROWS_MARKER = "@@BENCH_ROWS@@"


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (or platform as a fallback)."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_bandwidth(megabytes=256, repeats=5):
    """Copy bandwidth in bytes/s: best of `repeats` `numpy.copyto` of a large array.

    Counts the bytes read plus the bytes written (2 x the array size). One
    thread, as numpy's copy is single-threaded.
    """
    import numpy as np

    source = np.ones(megabytes * 2**20 // 8)
    target = np.empty_like(source)
    np.copyto(target, source)  # fault the pages in before timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best


def library_versions():
    versions = {}
    for name in ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def load_average():
    return "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())


_START_LOAD = load_average()


def machine_info(bandwidth):
    """Markdown lines describing the machine, the libraries and the load."""
    versions = ", ".join(f"{k} {v}" for k, v in library_versions().items())
    return [
        f"- Date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores "
        f"({platform.system()} {platform.release()})",
        f"- Python {platform.python_version()}; {versions}",
        f"- Measured copy bandwidth (numpy, 1 thread, 256 MiB): "
        f"{bandwidth / 1e9:.1f} GB/s",
        f"- Load average (1/5/15 min) at start: {_START_LOAD}",
        f"- Threads: {thread_setting()}",
    ]


def add_run_arguments(parser, quick_help, timing=True):
    """Adds the options every benchmark script shares.

    --quick, --backends, (with `timing`) --threads and --clock, --timeout,
    --output and the internal --child.
    """
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS),
                        choices=BACKENDS)
    if timing:
        parser.add_argument("--threads", type=int,
                            help="threads per library (default: library defaults)")
        parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                            help="wall: perf_counter; cpu: process_time, robust "
                            "on a shared machine with --threads 1")
    parser.add_argument("--timeout", type=int, default=900,
                        help="seconds allowed per backend process")
    parser.add_argument("--output", help="markdown file to write "
                        "(default benchmarks/results/<script>.md)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)


def run_backends(script, args, child_args):
    """The parent side of a benchmark: one child process per backend.

    Applies --threads and --clock (where the script has them) for the
    children, measures the copy bandwidth, and runs `script --child
    child_args` under each of `args.backends`.

    Returns:
        `(rows, bandwidth, failures)`: the children's rows, bytes/s, and a
        report section listing the backends whose process failed (or None).
    """
    limit_threads(getattr(args, "threads", None))
    if getattr(args, "clock", None):
        os.environ["BENCH_CLOCK"] = args.clock
    bandwidth = memory_bandwidth()
    rows, failed = [], []
    for backend in args.backends:
        print(f"running {backend} ...", file=sys.stderr, flush=True)
        backend_rows, error = run_backend_child(
            pathlib.Path(script), backend, child_args, args.timeout)
        rows += backend_rows
        if error:
            failed.append(f"- {backend}: process failed: `{error}`")
    failures = ["## Backend processes that failed", ""] + failed if failed else None
    return rows, bandwidth, failures


def limit_threads(threads):
    """Sets the environment so that every library uses `threads` threads.

    Must run before tensorflow, jax or torch is imported (in the child).
    `None` leaves each library's default (all cores).
    """
    if not threads:
        return
    n = str(threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = n
    os.environ["TF_NUM_INTRAOP_THREADS"] = n
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    if threads == 1:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        ).strip()
    os.environ["BENCH_THREADS"] = n


def apply_thread_limits():
    """Child side, after importing the backend: the settings env cannot do."""
    threads = os.environ.get("BENCH_THREADS")
    if not threads:
        return
    backend = os.environ.get("KERAS_BACKEND")
    if backend == "torch":
        import torch

        torch.set_num_threads(int(threads))
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)


def thread_setting():
    threads = os.environ.get("BENCH_THREADS")
    text = (f"{threads} per library (--threads {threads})" if threads
            else "library defaults (all cores)")
    clock_name = os.environ.get("BENCH_CLOCK", "wall")
    return text + (f"; clock: {clock_name} "
                   + ("(time.process_time, --clock cpu)" if clock_name == "cpu"
                      else "(time.perf_counter)"))


def command_line():
    """The exact command that is running, to paste into a shell."""
    script = os.path.relpath(sys.argv[0], REPO)
    return " ".join(shlex.quote(a) for a in ["python", script, *sys.argv[1:]])


def clock(name=None):
    """The timer the benchmarks use: BENCH_CLOCK or `name`, "wall" or "cpu".

    "wall" is time.perf_counter. "cpu" is time.process_time, the CPU time of
    all the threads of the process: on a machine shared with other jobs it
    leaves out the time the process waits for a core, so with one thread per
    library (--threads 1) it measures the work itself. It also counts the
    time threads spin while waiting, so use it with --threads 1.
    """
    name = name or os.environ.get("BENCH_CLOCK", "wall")
    return {"wall": time.perf_counter, "cpu": time.process_time}[name]


def time_side_by_side(fns, min_time=0.05, rounds=5, max_seconds=2.0,
                      stats=False):
    """Seconds per call of each of `fns` (a dict), measured interleaved.

    Each round times a batch of calls of every function, in turn, so that a
    change of load on the machine hits all of them alike and their ratios stay
    meaningful. Returns the best (minimum) batch mean of the rounds: other
    processes only ever add time, so the minimum is the least disturbed.
    A function whose rounds have taken `max_seconds` stops after 3 rounds.
    """
    timer = clock()
    numbers = {}
    for name, fn in fns.items():
        fn()
        start = timer()
        fn()
        once = timer() - start
        numbers[name] = max(1, int(min_time / max(once, 1e-6)))
    samples = {name: [] for name in fns}
    for round_index in range(rounds):
        for name, fn in fns.items():
            if (round_index >= 3 and samples[name][0] * numbers[name]
                    * round_index > max_seconds):
                continue  # slow call: three rounds are enough
            start = timer()
            for _ in range(numbers[name]):
                fn()
            samples[name].append((timer() - start) / numbers[name])
    if stats:  # median, and the spread (min, max) of the rounds
        return {name: (sorted(s)[len(s) // 2], min(s), max(s))
                for name, s in samples.items()}
    return {name: min(s) for name, s in samples.items()}


def emit_rows(rows):
    """Child side: hand the rows (a list of dicts) to the parent."""
    print(_ROWS_MARKER + json.dumps(rows), flush=True)


def run_backend_child(script, backend, args, timeout):
    """Runs `script --child args` under KERAS_BACKEND=backend; returns its rows.

    Returns `(rows, error)`; `error` is a short description when the child
    failed (its last lines of output), else None.
    """
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.pop("TF_USE_LEGACY_KERAS", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, str(script), "--child", *args]
    try:
        proc = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout} s"
    for line in proc.stdout.splitlines():
        if line.startswith(_ROWS_MARKER):
            return json.loads(line[len(_ROWS_MARKER):]), None
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-6:]
    return [], f"exit {proc.returncode}: " + " | ".join(tail)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return lines


def write_report(name, title, sections, bandwidth, output=None):
    """Prints the report and writes it to `output` (default results/<name>.md)."""
    lines = [f"# {title}", "", f"Command: `{command_line()}`", ""]
    lines += machine_info(bandwidth)
    lines.append(f"- Load average at end: {load_average()}")
    lines.append("")
    for section in sections:
        lines += section
        lines.append("")
    text = "\n".join(lines)
    print(text)
    path = pathlib.Path(output) if output else RESULTS_DIR / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"\n(written to {os.path.relpath(path, REPO)})")
    return path


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024


def fmt_time(seconds):
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"
