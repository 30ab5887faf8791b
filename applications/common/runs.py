"""One resumable run store for every study: a folder of one record per job.

A study is a list of jobs (for example one model trained with one activation
and seed). Each finished job's record is written at once, atomically, to
`<folder>/per_run/<key>.json`; run again with the same command, a study
skips every finished job, so an interrupted study loses only the job in
flight. The folder's `settings.json` pins the settings: a folder made with
other settings is refused (naming the changed keys) rather than mixed.
`records()` gives every finished record, from which a study rebuilds its
summary (results.md, results.json, plots) at any time.

Layout of a run folder:

    settings.json          the settings the folder is pinned to
    per_run/<key>.json     {"key": key, "record": {...}}, one per finished job
    per_run/<key>.<ext>    optional side files of a job (`side_file`)
    results.md, results.json, *.png   the study's summary (rewritten)
"""

import json
import os
import pathlib
import platform
import time
import urllib.parse

from applications.common.errors import UsageError

SETTINGS = "settings.json"
PER_RUN = "per_run"


def _normalise(settings):
    # JSON round trip: tuples become lists, keys strings, as when read back.
    return json.loads(json.dumps(settings, sort_keys=True))


def write_atomic(path, text):
    """Writes `text` to `path` through a temporary file and a rename, so a
    reader (or a rerun after Ctrl-C) sees the old or the new file, never half."""
    path = pathlib.Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _unwritable(path, error):
    return UsageError(
        f"cannot write the run folder {path} ({error.strerror or error})",
        hint="choose a folder you can write to with --run-dir DIR",
    )


class RunFolder:
    """A run folder pinned to one set of settings.

    Args:
        path: the folder (created if missing).
        settings: JSON-serialisable dict of everything that changes the
            results (model sizes, epochs, learning rates...).

    Raises:
        UsageError: the folder was made with other settings (the message
            names the keys that differ), or it cannot be written.
    """

    def __init__(self, path, settings):
        self.path = pathlib.Path(path)
        self.settings = _normalise(settings)
        settings_file = self.path / SETTINGS
        try:
            if settings_file.exists():
                previous = json.loads(settings_file.read_text())
                changed = sorted(
                    key
                    for key in set(previous) | set(self.settings)
                    if previous.get(key) != self.settings.get(key)
                )
                if changed:
                    raise UsageError(
                        f"{self.path} holds runs made with other settings "
                        f"(changed: {', '.join(changed)})",
                        hint="use another --run-dir, or delete that folder to start over",
                    )
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                write_atomic(
                    settings_file, json.dumps(self.settings, indent=1, sort_keys=True)
                )
            (self.path / PER_RUN).mkdir(exist_ok=True)
            probe = self.path / PER_RUN / ".write-test"
            probe.write_text("")
            probe.unlink()
        except (
            PermissionError,
            IsADirectoryError,
            NotADirectoryError,
            FileExistsError,
        ) as error:
            raise _unwritable(self.path, error) from error
        except json.JSONDecodeError as error:
            raise UsageError(
                f"{settings_file} is not valid JSON ({error.msg})",
                hint="delete that run folder or use another --run-dir",
            ) from None

    def _file(self, key, suffix=".json"):
        if not isinstance(key, str) or not key:
            raise ValueError(f"A run key must be a non-empty string; got {key!r}.")
        return self.path / PER_RUN / (urllib.parse.quote(key, safe="") + suffix)

    def has(self, key):
        """Whether the job `key` has finished."""
        return self._file(key).exists()

    def get(self, key):
        """The record of the finished job `key` (KeyError if there is none)."""
        path = self._file(key)
        if not path.exists():
            raise KeyError(f"No finished run {key!r} in {self.path}.")
        return json.loads(path.read_text())["record"]

    def put(self, key, record):
        """Stores `record` (a JSON-serialisable dict) as the job `key`, atomically."""
        path = self._file(key)
        try:
            write_atomic(
                path,
                json.dumps({"key": key, "record": record}, indent=1, sort_keys=True),
            )
        except PermissionError as error:
            raise _unwritable(self.path, error) from error

    def side_file(self, key, suffix):
        """Path of a side file of job `key` (e.g. `.npy`): write it before
        `put(key, ...)`, so that a finished job always has it."""
        return self._file(key, suffix)

    def records(self):
        """`{key: record}` of every finished job, in key order."""
        found = {}
        for path in sorted((self.path / PER_RUN).glob("*.json")):
            entry = json.loads(path.read_text())
            found[entry["key"]] = entry["record"]
        return found

    def write_text(self, name, text):
        """Writes a summary file `name` of the folder atomically."""
        try:
            write_atomic(self.path / name, text)
        except PermissionError as error:
            raise _unwritable(self.path, error) from error


def run_jobs(folder, jobs, verbose=True, unit="run"):
    """Runs the unfinished jobs of a study, in order, with a progress bar.

    Args:
        folder: a `RunFolder`.
        jobs: list of `(key, callable)`; the callable takes no argument and
            returns the job's record (a JSON-serialisable dict). The job's
            wall time in seconds is added to it as `job_seconds` (unless the
            record has that key).
        verbose: show a `keras.utils.Progbar` over all jobs.
        unit: what a job is called in the progress bar.

    Returns:
        `{key: record}` for every job, finished earlier or now.

    Raises:
        ValueError: two jobs share a key.
    """
    import keras

    keys = [key for key, _ in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError("run_jobs: job keys must be unique.")
    bar = (
        keras.utils.Progbar(len(jobs), unit_name=unit, stateful_metrics=["resumed"])
        if verbose and jobs
        else None
    )
    results = {}
    done_before = 0
    for number, (key, job) in enumerate(jobs, start=1):
        if folder.has(key):
            results[key] = folder.get(key)
            done_before += 1
        else:
            keras.backend.clear_session()
            start = time.perf_counter()
            record = job()
            record.setdefault("job_seconds", time.perf_counter() - start)
            folder.put(key, record)
            results[key] = record
        if bar is not None:
            bar.update(number, [("resumed", done_before)], finalize=number == len(jobs))
    return results


def describe_machine():
    """One line naming the machine the runs took place on."""
    import keras

    return (
        f"{platform.machine()} {platform.processor() or ''}".strip()
        + f", {os.cpu_count()} CPUs visible, {platform.system()}, "
        f"Python {platform.python_version()}, keras {keras.__version__} "
        f"({keras.backend.backend()} backend)"
    )


def compute_seconds(records):
    """Sum of the records' `job_seconds` (a study's compute time, resumes included)."""
    return float(sum(r.get("job_seconds", 0.0) for r in records.values()))
