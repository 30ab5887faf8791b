"""Data-parallel training throughput with 1 and 2 worker processes (torch).

    python -m benchmarks workers
    python -m benchmarks workers --quick

Trains the sign-language network (APALU, the application's default size:
64x64 RGB, width 16, 4 blocks; --quick: 16x16, width 4, 2 blocks) on
random images through the application's multi-worker path
(`applications.sign_language.workers`: torch.distributed with gloo, one
gradient all-reduce per step) and reports training images per second of
the global batch, timed on worker 0's wall clock over the second epoch (the
first warms up). Configurations, run in interleaved rounds, each a fresh
group of processes on this machine:

- 1 worker x 2 threads and 2 workers x 1 thread: the same two cores;
- 1 worker x 1 thread: the single-core reference.

Each worker processes `global batch / workers` images per step. The wall
clock is the only fair clock here (the all-reduce waits are part of the
cost); on a shared machine the load figures in the header matter.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

from benchmarks import _common

TITLE = "Data-parallel training: images/s with 1 and 2 worker processes (torch)"
CANDIDATES = None
CONFIGS = ((1, 2), (2, 1), (1, 1))  # (workers, threads per worker)


def add_arguments(parser):
    parser.add_argument("--batch-size", type=int, help="global batch (default 32)")
    parser.add_argument("--steps", type=int, help="steps per epoch (default 12)")
    parser.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)


def settle(args):
    args.batch_size = args.batch_size or (16 if args.quick else 32)
    args.steps = args.steps or (4 if args.quick else 12)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.clock = "wall"  # the all-reduce waits are part of the cost
    args.threads = 0  # set per configuration (the table's threads column)


def child(args):
    import keras
    import numpy as np
    import torch

    from applications.sign_language import workers
    from applications.sign_language.model import build_model
    from applications.sign_language.train import compile_model

    torch.set_num_threads(args.worker_threads or 1)
    group = workers.from_environment()
    engine = workers.engine(keras.backend.backend())
    engine.join(group, timeout=120)
    size, width, blocks = (16, 4, 2) if args.quick else (64, 16, 4)
    count = args.batch_size * args.steps
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (count, size, size, 3)).astype("float32")
    labels = rng.integers(0, 10, count)
    keras.utils.set_random_seed(0)
    model = build_model((size, size, 3), width=width, blocks=blocks, augment=0.0)
    data = workers.epoch_shards(images, labels, args.batch_size, group, seed=0)

    class Settings:
        learning_rate, weight_decay, epochs = 1e-3, 1e-4, 2

    compile_model(model, Settings, data.num_batches)
    engine.average_gradients(model, group)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(
        data,
        epochs=2,
        callbacks=[engine.SyncFromChief(), workers.epoch_setter(data), Timer()],
        verbose=0,
    )
    if group.is_chief:
        _common.emit_rows(
            [
                {
                    "workers": group.size,
                    "threads": args.worker_threads or 1,
                    "images": count,
                    "seconds": times[-1],
                    "images_per_second": count / times[-1],
                    "gradient_bytes": engine.gradient_bytes(model),
                }
            ]
        )
    engine.leave()


def _port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group(args, workers, threads):
    port = _port()
    command = [
        sys.executable,
        "-m",
        "benchmarks",
        *args.argv,
        "--child",
        "--worker-threads",
        str(threads),
    ]
    processes = []
    for rank in range(workers):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(workers),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            KERAS_BACKEND="torch",
            OMP_NUM_THREADS=str(threads),
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONPATH=os.pathsep.join(
                p for p in (str(_common.REPO), os.environ.get("PYTHONPATH")) if p
            ),
        )
        processes.append(
            subprocess.Popen(
                command,
                cwd=_common.REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=args.timeout) for p in processes]
    for line in outputs[0][0].splitlines():
        if line.startswith(_common._ROWS_MARKER):  # noqa: SLF001
            return json.loads(line[len(_common._ROWS_MARKER) :]), None  # noqa: SLF001
    tail = " | ".join((outputs[0][0] + outputs[0][1]).strip().splitlines()[-4:])
    return [], f"{workers} x {threads}: exit {processes[0].returncode}: {tail}"


def main(args):
    rows, failures = [], []
    for round_ in range(args.rounds):
        for workers, threads in CONFIGS:
            print(
                f"workers: round {round_ + 1}, {workers} worker(s) x {threads} thread(s)",
                file=sys.stderr,
                flush=True,
            )
            found, failure = _group(args, workers, threads)
            rows += [dict(row, round=round_ + 1) for row in found]
            if failure:
                failures.append(failure)
    lines = [
        "| workers x threads | images/s median (min-max) | rounds | gradient bytes per worker per step |",
        "|---|---|---|---|",
    ]
    for workers, threads in CONFIGS:
        mine = [
            r["images_per_second"]
            for r in rows
            if (r["workers"], r["threads"]) == (workers, threads)
        ]
        if not mine:
            continue
        grad = next(
            r["gradient_bytes"]
            for r in rows
            if (r["workers"], r["threads"]) == (workers, threads)
        )
        lines.append(
            f"| {workers} x {threads} | {statistics.median(mine):.0f} "
            f"({min(mine):.0f}-{max(mine):.0f}) | {len(mine)} | {grad:,} |"
        )
    settings = [
        f"Global batch {args.batch_size}, {args.steps} steps per epoch, "
        "the second epoch timed (wall clock of worker 0)."
    ]
    _common.write_report(
        args, TITLE, [["## Throughput", "", *lines], settings], rows, failures
    )
    return _common.exit_status(rows, failures)
