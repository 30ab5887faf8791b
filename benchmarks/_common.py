"""What every benchmark shares: options, child processes, timing, reports.

Each benchmark runs every Keras backend in its own child process (the backend
is chosen by KERAS_BACKEND before keras is imported): the parent re-runs
`python -m benchmarks <name> <options> --child` per backend, collects the
child's rows as JSON and writes one report, a markdown file and a JSON
sidecar with the same rows, the machine and the exact command.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import shlex
import statistics
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
#: The names of benchmarks/activations.py (here, so that the parent process
#: can check --activations without importing keras).
ACTIVATION_NAMES = (
    "ReLU",
    "GELU",
    "GELU (tanh)",
    "ELU",
    "PReLU",
    "APALU",
    "APALU (plain)",
)
REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"

# Marks the child's JSON line among whatever the libraries print to stdout.
_ROWS_MARKER = "@@BENCH_ROWS@@"
_START_LOAD = "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())


# --------------------------------------------------------------------------
# Options.
# --------------------------------------------------------------------------


def add_common_arguments(parser):
    """The options every benchmark takes (`python -m benchmarks NAME -h`)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per library (default 1; 0: the libraries' defaults)",
    )
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="cpu (default): CPU time of the process, which leaves out "
        "waiting for a core on a shared machine (use with --threads 1); "
        "wall: the wall clock",
    )
    parser.add_argument("--rounds", type=int, help="interleaved timing rounds")
    parser.add_argument(
        "--min-time", type=float, help="seconds per timed batch of calls"
    )
    parser.add_argument(
        "--activations",
        nargs="+",
        metavar="NAME",
        help="the candidates to compare (default: all of the benchmark's)",
    )
    parser.add_argument(
        "--backends", nargs="+", choices=BACKENDS, help="default: all three"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, few rounds: a smoke run"
    )
    parser.add_argument(
        "--output",
        help="markdown report to write, with a .json sidecar "
        "(default benchmarks/results/<name>.md)",
    )
    parser.add_argument(
        "--timeout", type=int, default=1800, help="seconds per backend process"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)


def check_names(parser, given, valid, option="--activations"):
    """Exits with status 2 (argparse's usage error) on a name not in `valid`."""
    unknown = [name for name in given or () if name not in valid]
    if unknown:
        parser.error(
            f"{option}: unknown {', '.join(map(repr, unknown))}; valid: "
            + ", ".join(map(repr, valid))
        )


# --------------------------------------------------------------------------
# Threads and clock (set in the parent's environment for the children).
# --------------------------------------------------------------------------


def limit_threads(threads):
    """Sets the environment so that every library uses `threads` threads.

    Must run before tensorflow, jax or torch is imported (in the child).
    0 or None leaves each library's default (all cores).
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


def clock():
    """The timer of --clock: time.process_time ("cpu") or perf_counter."""
    name = os.environ.get("BENCH_CLOCK", "cpu")
    return {"wall": time.perf_counter, "cpu": time.process_time}[name]


def time_side_by_side(fns, min_time=0.05, rounds=5, max_seconds=2.0):
    """Seconds per call of each of `fns` (a dict), measured interleaved.

    Each round times a batch of calls of every function in turn, so a change
    of load hits all of them alike and their ratios stay meaningful. A
    function whose rounds have taken `max_seconds` stops after 3 rounds.

    Returns:
        `{name: (median, min, max)}` over the rounds' per-call means.
    """
    timer = clock()
    numbers = {}
    for name, fn in fns.items():
        fn()
        start = timer()
        fn()
        numbers[name] = max(1, int(min_time / max(timer() - start, 1e-6)))
    samples = {name: [] for name in fns}
    for round_index in range(rounds):
        for name, fn in fns.items():
            spent = (
                samples[name][0] * numbers[name] * round_index if samples[name] else 0
            )
            if round_index >= 3 and spent > max_seconds:
                continue  # slow call: three rounds are enough
            start = timer()
            for _ in range(numbers[name]):
                fn()
            samples[name].append((timer() - start) / numbers[name])
    return {name: spread(s) for name, s in samples.items()}


def spread(samples):
    """`(median, min, max)` of `samples`."""
    return statistics.median(samples), min(samples), max(samples)


# --------------------------------------------------------------------------
# Child processes.
# --------------------------------------------------------------------------


def emit_rows(rows):
    """Child side: hand the rows (a list of dicts) to the parent."""
    print(_ROWS_MARKER + json.dumps(rows), flush=True)


def run_children(args, backends=None):
    """The parent side: one child process per backend; returns the rows.

    Applies --threads and --clock for the children and runs
    `python -m benchmarks <args.argv> --child` under each of `backends`
    (default: --backends, else all three). Returns `(rows, failures)`:
    the children's rows and a line per backend whose process failed.
    """
    limit_threads(args.threads)
    os.environ["BENCH_CLOCK"] = args.clock
    rows, failures = [], []
    for backend in backends or args.backends or BACKENDS:
        print(f"{args.name}: running {backend} ...", file=sys.stderr, flush=True)
        env = dict(os.environ, KERAS_BACKEND=backend)
        env.pop("TF_USE_LEGACY_KERAS", None)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), env.get("PYTHONPATH")) if p
        )
        command = [sys.executable, "-m", "benchmarks", *args.argv, "--child"]
        try:
            proc = subprocess.run(
                command,
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=args.timeout,
            )
        except subprocess.TimeoutExpired:
            failures.append(f"{backend}: timed out after {args.timeout} s")
            continue
        found = [
            line for line in proc.stdout.splitlines() if line.startswith(_ROWS_MARKER)
        ]
        if found:
            rows += json.loads(found[-1][len(_ROWS_MARKER) :])
        else:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-6:]
            failures.append(f"{backend}: exit {proc.returncode}: " + " | ".join(tail))
    return rows, failures


# --------------------------------------------------------------------------
# Reports.
# --------------------------------------------------------------------------


def memory_bandwidth(megabytes=256, repeats=5):
    """Copy bandwidth in bytes/s: best of `repeats` copies of a large array
    (bytes read plus bytes written; one thread, as numpy copies)."""
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


def _cpu_model():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(args):
    """The machine, libraries, settings and load, as a dict."""
    versions = {}
    for name in ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": f"{_cpu_model()}, {os.cpu_count()} logical cores "
        f"({platform.system()} {platform.release()})",
        "python": platform.python_version(),
        "versions": versions,
        "threads": args.threads or "library defaults",
        "clock": args.clock,
        "load_at_start": _START_LOAD,
        "load_at_end": "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg()),
    }


def command_line(args):
    """The exact command that ran, to paste into a shell."""
    return " ".join(shlex.quote(a) for a in ["python", "-m", "benchmarks", *args.argv])


def write_report(args, title, sections, rows, failures=(), extra=None):
    """Prints the markdown report and writes it with its JSON sidecar.

    Args:
        args: the parsed options (for --output, the command and settings).
        title: the report's heading.
        sections: lists of markdown lines, one list per section.
        rows: the measurements (JSON-serialisable dicts) for the sidecar.
        failures: lines naming backend processes that failed.
        extra: more keys for the sidecar (e.g. the copy bandwidth).

    Returns:
        The markdown file's path.
    """
    info = machine(args)
    if extra:
        info.update(extra)
    lines = [f"# {title}", "", f"Command: `{command_line(args)}`", ""]
    lines += [
        f"- Date: {info['date']}; CPU: {info['cpu']}",
        f"- Python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"- Threads per library: {info['threads']}; clock: {info['clock']}",
        f"- Load average (1/5/15 min): {info['load_at_start']} at start, "
        f"{info['load_at_end']} at end",
    ]
    if "bandwidth" in info:
        lines.append(
            f"- Copy bandwidth (numpy, 1 thread): {info['bandwidth'] / 1e9:.1f} GB/s"
        )
    lines.append("")
    if failures:
        sections = [
            *sections,
            ["## Failures", "", *(f"- `{line}`" for line in failures)],
        ]
    for section in sections:
        lines += [*section, ""]
    text = "\n".join(lines)
    print(text)
    path = pathlib.Path(args.output or RESULTS_DIR / f"{args.name}.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    sidecar = path.with_suffix(".json")
    sidecar.write_text(
        json.dumps(
            {
                "benchmark": args.name,
                "command": command_line(args),
                "machine": info,
                "failures": list(failures),
                "rows": rows,
            },
            indent=1,
        )
    )
    print(f"\n(written to {path} and {sidecar.name})")
    return path


def exit_status(rows, failures):
    """1 when a backend process failed or a row records an error, else 0."""
    return 1 if failures or any(r.get("error") for r in rows) else 0


def markdown_table(header, rows):
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def fmt_time(seconds):
    if seconds is None:
        return "n/a"
    if seconds < 1e-5:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_spread(stats):
    """`median (min-max)` of a `(median, min, max)` triple, or "n/a"."""
    if not stats:
        return "n/a"
    median, low, high = stats
    return f"{fmt_time(median)} ({fmt_time(low)}-{fmt_time(high)})"


def ratio(a, b):
    return "n/a" if not a or not b else f"{a / b:.2f}"
