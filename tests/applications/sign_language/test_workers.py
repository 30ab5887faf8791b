"""Data-parallel training across worker processes (`workers`, `workers_torch`).

Workers are separate Python processes, configured the way torchrun
configures them (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so every
multi-worker check starts processes; they run on the torch backend only
(the only engine wired up), and the other backends check their refusal.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from applications.sign_language import workers
from applications.sign_language.__main__ import main as app_main
from tests.applications import cli_checks
from tests.applications.sign_language import equivalence_worker

REPO = pathlib.Path(__file__).resolve().parents[3]
torch_only = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="multi-worker training is wired up on torch only; the other "
    "backends' refusal is checked below",
)


def _port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(argv, rank, size, port, **popen):
    env = dict(
        os.environ,
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        KERAS_BACKEND="torch",
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(REPO),
    )
    return subprocess.Popen(
        [sys.executable, "-m", *argv], env=env, cwd=REPO, text=True, **popen
    )


def _run_group(argv, size, timeout=240):
    port = _port()
    processes = [
        _start(argv, rank, size, port, stderr=subprocess.PIPE) for rank in range(size)
    ]
    errors = [process.communicate(timeout=timeout)[1] for process in processes]
    for process, err in zip(processes, errors):
        assert process.returncode == 0, err[-2000:]


@pytest.mark.backend_independent
def test_environment_is_read_like_torchrun():
    assert workers.from_environment({}) == workers.WorkerGroup()
    group = workers.from_environment(
        dict(RANK="1", WORLD_SIZE="3", MASTER_ADDR="h", MASTER_PORT="9", LOCAL_RANK="0")
    )
    assert (group.rank, group.size, group.local_rank, group.is_chief) == (
        1,
        3,
        0,
        False,
    )
    assert group.address == "h:9"
    with pytest.raises(workers.WorkerError, match="MASTER_PORT"):
        workers.from_environment(dict(RANK="0", WORLD_SIZE="2", MASTER_ADDR="h"))
    with pytest.raises(workers.WorkerError, match="RANK=2"):
        workers.from_environment(
            dict(RANK="2", WORLD_SIZE="2", MASTER_ADDR="h", MASTER_PORT="9")
        )
    with pytest.raises(workers.WorkerError, match="does not divide across 3"):
        workers.per_worker_batch(16, 3)
    assert workers.strip_option(
        ["train", "--local-workers", "2", "--quick", "--local-workers=3"],
        "--local-workers",
    ) == ["train", "--quick"]


@pytest.mark.backend_independent
def test_shards_cover_each_global_batch_once():
    """Worker r reads the r-th slice of every global batch; together the
    workers read one permutation per epoch (the same for any worker count)."""
    images = np.arange(23, dtype="float32").reshape(23, 1)
    labels = np.arange(23)
    for size in (1, 2):
        shards = [
            workers.epoch_shards(images, labels, 6, workers.WorkerGroup(r, size), 5)
            for r in range(size)
        ]
        for epoch in (0, 1):
            seen = []
            for index in range(shards[0].num_batches):
                batch = []
                for shard in shards:
                    shard.set_epoch(epoch)
                    x, y = shard[index]
                    np.testing.assert_array_equal(x[:, 0], y)
                    assert len(y) == len(shards[0][index][1])
                    batch.extend(y)
                seen.append(sorted(batch))
            order = np.random.default_rng([5, epoch]).permutation(23)
            used = 23 - (23 % 6) % size
            expected = [sorted(order[i : i + 6][: used - i]) for i in range(0, used, 6)]
            assert seen == expected


def _refusal(backend):
    return (
        f"error: multi-worker training is not available on the {backend} backend "
        "in this release (only torch.distributed is wired up)"
    )


def test_other_backends_refuse_in_one_line(capsys, tmp_path):
    backend = keras.backend.backend()
    if backend == "torch":
        workers.check_backend("torch")
        for other in ("jax", "tensorflow"):
            with pytest.raises(workers.WorkerError) as error:
                workers.check_backend(other)
            assert f"error: {error.value}" == _refusal(other)
        return
    code, out, err = cli_checks.run(
        app_main,
        capsys,
        [
            "train",
            "--backend",
            backend,
            "--local-workers",
            "2",
            "--run-dir",
            str(tmp_path),
        ],
    )
    assert code == 2
    assert err[0] == _refusal(backend)
    assert len(err) == 2 and err[1].startswith("hint: run with --backend torch")


@torch_only
@pytest.mark.slow
def test_two_workers_take_the_steps_of_one_process_with_both_batches(tmp_path):
    """2 workers x batch 4 reach the weights (APALU a and b included) of one
    process with batch 8, after 8 AdamW steps from the same seed."""
    module = "tests.applications.sign_language.equivalence_worker"
    _run_group([module, str(tmp_path / "two.npz"), "8"], 2)
    two = np.load(tmp_path / "two.npz")
    one = equivalence_worker.train_tiny(8, workers.WorkerGroup())
    assert sorted(one) == sorted(two)
    slopes = [name for name in one if name.endswith(("/a", "/b"))]
    assert len(slopes) == 2
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-5, atol=1e-6)
    # The check can fail: training moved every slope far beyond the tolerance.
    assert np.all(np.abs(one[slopes[0]] - 0.5) > 1e-3)
    assert np.all(np.abs(one[slopes[1]] - 1.0) > 1e-3)


@pytest.mark.backend_independent
def test_launcher_stops_the_job_when_a_worker_dies(monkeypatch):
    """One worker killed: the launcher stops the others within the grace
    period and names the worker and the signal."""
    monkeypatch.setattr(workers, "GRACE_SECONDS", 1)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    victim = subprocess.Popen(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 9)"]
    )
    start = time.monotonic()
    with pytest.raises(workers.RunFailedError) as error:
        workers._wait([sleeper, victim])  # noqa: SLF001
    assert time.monotonic() - start < 15
    assert sleeper.returncode is not None
    assert str(error.value) == (
        "worker 1 of 2 was killed by SIGKILL; the job stopped (the other "
        "workers were stopped too)"
    )
    assert error.value.hint.startswith("rerun the same command to resume")


def _history_epochs(path):
    if not path.exists():
        return []
    rows = path.read_text().splitlines()[1:]
    return [int(row.split(",")[0]) for row in rows if row]


@torch_only
@pytest.mark.slow
def test_a_killed_worker_stops_the_job_and_the_rerun_resumes(tiny_dataset, tmp_path):
    """Worker 1 killed mid-run: worker 0 stops with a clear error well within
    --worker-timeout; rerunning (with --local-workers 2) resumes after the
    last complete epoch and loses nothing."""
    run_dir = tmp_path / "run"
    argv = [
        "applications.sign_language",
        "train",
        "--quick",
        "--quiet",
        "--no-plots",
        "--epochs",
        "30",
        "--data-dir",
        str(tiny_dataset),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--run-dir",
        str(run_dir),
        "--worker-timeout",
        "30",
    ]
    port = _port()
    chief = _start(argv, 0, 2, port, stderr=subprocess.PIPE)
    other = _start(argv, 1, 2, port, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not _history_epochs(run_dir / "history.csv"):
        assert chief.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    other.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    _, err = chief.communicate(timeout=120)
    assert time.monotonic() - killed < 60
    assert chief.returncode == 1, err[-2000:]
    lines = err.strip().splitlines()
    assert lines[-2].startswith(
        "error: worker 0 of 2 lost contact with the other workers ("
    ), err[-2000:]
    assert lines[-1] == (
        "hint: rerun the same command to resume from the last complete epoch"
    )
    done = _history_epochs(run_dir / "history.csv")
    assert 1 <= len(done) < 30, "the kill came after the last epoch"
    assert not (run_dir / "metrics.json").exists()

    rerun = subprocess.run(
        [sys.executable, "-m", *argv, "--local-workers", "2"],
        env=dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(REPO)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "starting 2 local workers" in rerun.stderr
    assert "data-parallel training on 2 workers" in rerun.stdout
    assert _history_epochs(run_dir / "history.csv") == list(range(30))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed"] and metrics["workers"] == 2
