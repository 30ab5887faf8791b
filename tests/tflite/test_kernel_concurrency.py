"""The threaded kernel with several interpreters at once, and across fork().

The kernel's thread pool is process-wide: interpreters invoked from several
Python threads share it (LiteRT releases the GIL during invoke; an invoke
that finds the pool busy computes on its own thread), and a forked child
starts without the parent's worker threads (a pthread_atfork handler resets
the pool). Every result is checked against the float64 reference.
"""

import os
import signal
import threading

import numpy as np

from keras_apalu import tflite
from tests.tflite.native_build import once_per_suite
from tests.tflite.reference import apalu_flatbuffer
from tests.tflite.reference import apalu_reference
from tests.tflite.reference import run

pytestmark = once_per_suite

# Big enough to be split over threads (parts of >= 32,768 elements).
SHAPE = (3, 37, 41, 29)


def _model(rng, a_shape=(29,), b_shape=(37, 1, 29)):
    a = rng.uniform(0.05, 2.0, size=a_shape).astype(np.float32)
    b = rng.uniform(0.05, 2.0, size=b_shape).astype(np.float32)
    return apalu_flatbuffer(SHAPE, a, b), a, b


def _x(rng):
    return rng.normal(scale=4.0, size=SHAPE).astype(np.float32)


def _close(y, x, a, b):
    return np.allclose(y, apalu_reference(x, a, b), rtol=2e-6, atol=1e-6)


def test_interpreters_invoked_from_several_python_threads(rng):
    workers, invokes = 4, 6
    models = [_model(rng) for _ in range(workers)]
    inputs = [[_x(rng) for _ in range(invokes)] for _ in range(workers)]
    interpreters = [
        tflite.interpreter(model_content=content, num_threads=threads)
        for (content, _, _), threads in zip(models, [2, 3, 4, 2])
    ]
    start = threading.Barrier(workers)
    results = [[None] * invokes for _ in range(workers)]
    errors = []

    def work(w):
        try:
            start.wait()
            for i, x in enumerate(inputs[w]):
                results[w][i] = run(interpreters[w], x).copy()
        except Exception as error:  # reported below, with the thread
            errors.append((w, repr(error)))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
    assert not errors, errors
    for w, (_, a, b) in enumerate(models):
        for i, x in enumerate(inputs[w]):
            assert _close(results[w][i], x, a, b), (w, i)


def _in_child(check):
    """Runs `check()` in a forked child; returns its exit status (0: the
    check passed; a watchdog kills a child that hangs)."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            signal.alarm(120)
            code = 0 if check() else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def test_fork_after_first_use(rng):
    content, a, b = _model(rng)
    interpreter = tflite.interpreter(model_content=content, num_threads=3)
    x0, x1, x2 = _x(rng), _x(rng), _x(rng)
    # First use: the pool's worker threads start.
    assert _close(run(interpreter, x0), x0, a, b)

    def child():
        # The same interpreter, and a new one, in the child, threaded.
        fresh = tflite.interpreter(model_content=content, num_threads=4)
        return (
            _close(run(interpreter, x1), x1, a, b)
            and _close(run(fresh, x2), x2, a, b)
            and _close(run(interpreter, x2), x2, a, b)
        )

    status = _in_child(child)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    # The parent's pool still works after the fork.
    assert _close(run(interpreter, x1), x1, a, b)


def test_fork_while_other_threads_invoke(rng):
    # Threads keep invoking while the main thread forks, so the pool may be
    # held, mid-job, at the fork: the child must still run threaded invokes.
    content, a, b = _model(rng)
    busy = [tflite.interpreter(model_content=content, num_threads=2) for _ in range(2)]
    x = _x(rng)
    stop = threading.Event()
    errors = []

    def keep_invoking(interpreter):
        try:
            while not stop.is_set():
                if not _close(run(interpreter, x), x, a, b):
                    errors.append("wrong result in the parent")
        except Exception as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=keep_invoking, args=(it,)) for it in busy]
    for thread in threads:
        thread.start()
    try:
        statuses = []
        for _ in range(3):

            def child():
                fresh = tflite.interpreter(model_content=content, num_threads=3)
                return all(_close(run(fresh, x), x, a, b) for _ in range(3))

            statuses.append(_in_child(child))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=300)
    assert not errors, errors
    for status in statuses:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
