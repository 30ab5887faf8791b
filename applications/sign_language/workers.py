"""Data-parallel training across worker processes (and machines).

Every worker runs the same command. Which worker it is comes from the
environment variables `torchrun` (and Slurm / Kubernetes launchers
configured like it) set:

    RANK          this worker's index, 0 .. WORLD_SIZE - 1
    WORLD_SIZE    number of workers
    MASTER_ADDR   host of worker 0 (rendezvous), e.g. 127.0.0.1
    MASTER_PORT   a free TCP port on that host
    LOCAL_RANK    index on this machine (informational)

`--local-workers N` (`launch_local`) starts N such workers on this machine.

The convention (docs/distributed.md):

- `--batch-size` is the global batch: each of N workers takes `batch / N`
  images of every step, and the gradients (APALU's slopes a and b included)
  are averaged over the workers before every update, so N workers take the
  same steps as one process with the whole batch. The learning rate belongs
  to the global batch and is not rescaled.
- One epoch is one pass over the training images: one permutation per epoch
  (from the seed and the epoch number, the same on every worker), cut into
  global batches; worker r reads the r-th slice of each. Up to N - 1 images
  of an epoch are left out so that the last, partial batch divides evenly.
- Worker 0 alone writes the run folder (config, split, history, APALU
  record, checkpoints, metrics, plots, exports); every worker validates on
  the whole validation split, so all take the same early-stopping decision.

The engine-specific part (process group, gradient all-reduce, broadcast)
lives in one module per backend; this release has `workers_torch`
(torch.distributed with gloo). Under JAX and TensorFlow, asking for more
than one worker is refused with a message that says so.
"""

import dataclasses
import math
import os
import signal
import socket
import subprocess
import sys
import time

from applications.common.errors import RunFailedError
from applications.common.errors import UsageError

#: Seconds a collective (or the start-up rendezvous) waits for the other
#: workers before the job stops with an error (`--worker-timeout`).
DEFAULT_TIMEOUT = 300
#: Seconds the local launcher lets the other workers stop on their own after
#: one failed, before it terminates them.
GRACE_SECONDS = 20
_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class WorkerError(UsageError, RuntimeError):
    """Multi-worker training is not possible as asked (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class WorkerGroup:
    """Where this process stands in a data-parallel job.

    Attributes:
        rank: this worker's index (0 writes the run folder).
        size: number of workers.
        local_rank: index on this machine.
        address: `MASTER_ADDR:MASTER_PORT` of the rendezvous.
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    address: str = ""

    @property
    def is_chief(self):
        """True for worker 0, the only one that writes files."""
        return self.rank == 0

    @property
    def launched(self):
        """True when the process was started as a worker (WORLD_SIZE set)."""
        return bool(self.address)


def from_environment(environ=None):
    """The `WorkerGroup` the environment describes (one worker if none).

    Raises:
        WorkerError: WORLD_SIZE is set but the other variables are missing
            or inconsistent.
    """
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ:
        return WorkerGroup()
    missing = [name for name in _ENV if not environ.get(name)]
    if missing:
        raise WorkerError(
            f"WORLD_SIZE is set but {', '.join(missing)} is not",
            hint="set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (torchrun "
            "does), or use --local-workers N on one machine",
        )
    try:
        rank, size = int(environ["RANK"]), int(environ["WORLD_SIZE"])
        local_rank = int(environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise WorkerError(
            f"RANK={environ['RANK']!r} / WORLD_SIZE={environ['WORLD_SIZE']!r} "
            "are not integers"
        ) from None
    if size < 1 or not 0 <= rank < size:
        raise WorkerError(f"RANK={rank} is not in 0..WORLD_SIZE-1 ({size} workers)")
    address = f"{environ['MASTER_ADDR']}:{environ['MASTER_PORT']}"
    return WorkerGroup(rank, size, local_rank, address)


def per_worker_batch(batch_size, workers):
    """`batch_size / workers`, refused when it does not divide."""
    if batch_size % workers:
        raise WorkerError(
            f"--batch-size {batch_size} (the global batch) does not divide "
            f"across {workers} workers",
            hint=f"use a multiple of {workers}, e.g. {workers * max(1, batch_size // workers)}",
        )
    return batch_size // workers


def check_backend(backend):
    """Refuses, in one line, a backend without multi-worker training.

    Raises:
        WorkerError: on JAX and TensorFlow (not wired up in this release).
    """
    if backend == "torch":
        return
    raise WorkerError(
        f"multi-worker training is not available on the {backend} backend in "
        "this release (only torch.distributed is wired up)",
        hint="run with --backend torch, or use --distribute for the devices of "
        "one process",
    )


def engine(backend):
    """The backend's multi-worker module (`check_backend` refusals apply)."""
    check_backend(backend)
    from applications.sign_language import workers_torch

    return workers_torch


def epoch_shards(images, labels, batch_size, group, seed):
    """The training data of one worker as a `keras.utils.PyDataset`.

    Args:
        images, labels: the whole training split (every worker holds it;
            each reads only its slice).
        batch_size: the global batch size.
        group: the `WorkerGroup`.
        seed: seed of the per-epoch permutations.

    Returns:
        A PyDataset with `set_epoch(epoch)`; call it before each epoch
        (`EpochSetter` does).
    """
    import keras
    import numpy as np

    per_worker_batch(batch_size, group.size)

    class EpochShards(keras.utils.PyDataset):
        """Worker `rank`'s slice of every global batch of an epoch."""

        def __init__(self):
            super().__init__()
            self.epoch = 0
            self._order = None
            count = len(labels)
            self.used = count - (count % batch_size) % group.size
            self._num_batches = max(1, math.ceil(self.used / batch_size))

        @property
        def num_batches(self):
            return self._num_batches

        def __len__(self):
            return self._num_batches

        def set_epoch(self, epoch):
            if epoch != self.epoch or self._order is None:
                self.epoch = epoch
                rng = np.random.default_rng([seed, epoch])
                self._order = rng.permutation(len(labels))[: self.used]

        def __getitem__(self, index):
            if self._order is None:
                self.set_epoch(self.epoch)
            batch = self._order[index * batch_size : (index + 1) * batch_size]
            share = len(batch) // group.size
            mine = np.sort(batch[group.rank * share : (group.rank + 1) * share])
            return images[mine].astype("float32"), labels[mine]

    return EpochShards()


def epoch_setter(dataset):
    """A callback that gives `dataset` the epoch number before each epoch."""
    import keras

    class EpochSetter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            dataset.set_epoch(epoch)

    return EpochSetter()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def strip_option(argv, name):
    """`argv` without `name VALUE` / `name=VALUE`."""
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == name:
            skip = True
        elif not token.startswith(name + "="):
            out.append(token)
    return out


def launch_local(argv, count, module, *, threads=None, stream=None):
    """Runs `python -m module argv` as `count` workers on this machine.

    Each worker gets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
    MASTER_ADDR=127.0.0.1 and a free MASTER_PORT, and `OMP_NUM_THREADS`
    (the cores shared out, unless set). Worker 0's output is shown; the
    others' standard output is discarded (their errors are shown).

    Returns:
        0 when every worker succeeded.

    Raises:
        RunFailedError: a worker failed (the others are stopped within
            GRACE_SECONDS); names the worker and how it ended.
        KeyboardInterrupt: after stopping the workers on Ctrl-C.
    """
    stream = sys.stderr if stream is None else stream
    port = _free_port()
    threads = threads or max(1, (os.cpu_count() or 1) // count)
    print(
        f"starting {count} local workers (ranks 0-{count - 1}, rendezvous "
        f"127.0.0.1:{port}, {threads} thread(s) each)",
        file=stream,
        flush=True,
    )
    processes = []
    for rank in range(count):
        env = dict(os.environ)
        env.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(count),
            LOCAL_WORLD_SIZE=str(count),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        env.setdefault("OMP_NUM_THREADS", str(threads))
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", module, *argv],
                env=env,
                stdout=None if rank == 0 else subprocess.DEVNULL,
            )
        )
    try:
        return _wait(processes)
    except BaseException:
        _stop(processes, signal.SIGINT)
        raise


def _describe(status):
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


def _wait(processes):
    failed_at = None
    first = None
    while True:
        statuses = [process.poll() for process in processes]
        if all(status is not None for status in statuses):
            break
        for rank, status in enumerate(statuses):
            if status not in (None, 0) and first is None:
                first, failed_at = (rank, status), time.monotonic()
        if failed_at is not None and time.monotonic() - failed_at > GRACE_SECONDS:
            _stop(processes, signal.SIGTERM)
            break
        time.sleep(0.2)
    for process in processes:
        process.wait()
    if first is None:
        failures = [
            (rank, process.returncode)
            for rank, process in enumerate(processes)
            if process.returncode
        ]
        first = failures[0] if failures else None
    if first is None:
        return 0
    rank, status = first
    if status == 130:
        raise KeyboardInterrupt
    raise RunFailedError(
        f"worker {rank} of {len(processes)} {_describe(status)}; the job stopped "
        "(the other workers were stopped too)",
        hint="rerun the same command to resume from the last complete epoch",
    )


def _stop(processes, sig):
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
