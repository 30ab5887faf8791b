"""Resumable run folders: one JSON record per finished run.

A study is a list of jobs (one model trained with one activation, setting
and seed); each finished job's record is written at once, atomically, to
`<folder>/per_run/<key>.json`. Run again with the same command, a study
skips every finished job, so an interrupted study loses only the job in
flight. The folder's `settings.json` pins the settings: a folder made with
other settings is refused rather than mixed.
"""

import json
import os
import pathlib
import platform
import time
import urllib.parse


def _normalise(settings):
    # JSON round trip: tuples become lists, keys strings, as when read back.
    return json.loads(json.dumps(settings, sort_keys=True))


def _write_json(path, value):
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(partial, path)


class RunFolder:
    """A run folder pinned to one set of settings.

    Args:
        path: the folder (created if missing).
        settings: JSON-serialisable dict of everything that changes the
            results (model sizes, epochs, seeds, activations...).

    Raises:
        ValueError: the folder was made with other settings; the message
            names the keys that differ.
    """

    SETTINGS = "settings.json"
    PER_RUN = "per_run"

    def __init__(self, path, settings):
        self.path = pathlib.Path(path)
        self.settings = _normalise(settings)
        settings_file = self.path / self.SETTINGS
        if settings_file.exists():
            previous = json.loads(settings_file.read_text())
            changed = sorted(
                key for key in set(previous) | set(self.settings)
                if previous.get(key) != self.settings.get(key)
            )
            if changed:
                raise ValueError(
                    f"{self.path} holds runs made with other settings "
                    f"(changed: {', '.join(changed)}); use another --run-dir "
                    "or delete that folder."
                )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            _write_json(settings_file, self.settings)
        (self.path / self.PER_RUN).mkdir(exist_ok=True)

    def _file(self, key):
        if not isinstance(key, str) or not key:
            raise ValueError(f"A run key must be a non-empty string; got {key!r}.")
        return self.path / self.PER_RUN / (urllib.parse.quote(key, safe="") + ".json")

    def has(self, key):
        """Whether the run `key` has finished."""
        return self._file(key).exists()

    def get(self, key):
        """The record of the finished run `key` (KeyError if there is none)."""
        path = self._file(key)
        if not path.exists():
            raise KeyError(f"No finished run {key!r} in {self.path}.")
        return json.loads(path.read_text())["record"]

    def put(self, key, record):
        """Stores `record` (a JSON-serialisable dict) as the run `key`, atomically."""
        _write_json(self._file(key), {"key": key, "record": record})

    def records(self):
        """`{key: record}` of every finished run, by key."""
        found = {}
        for path in sorted((self.path / self.PER_RUN).glob("*.json")):
            entry = json.loads(path.read_text())
            found[entry["key"]] = entry["record"]
        return found


def run_jobs(folder, jobs, verbose=True):
    """Runs the unfinished jobs of a study, in order, with a progress bar.

    Args:
        folder: a `RunFolder`.
        jobs: list of `(key, callable)`; the callable takes no argument and
            returns the run's record (a JSON-serialisable dict). The run's
            wall time in seconds is added to it as `job_seconds` (unless the
            record has that key).
        verbose: show a `keras.utils.Progbar` over all jobs.

    Returns:
        `{key: record}` for every job, finished earlier or now.

    Raises:
        ValueError: two jobs share a key.
    """
    import keras

    keys = [key for key, _ in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError("run_jobs: job keys must be unique.")
    bar = keras.utils.Progbar(len(jobs), unit_name="run",
                                stateful_metrics=["resumed"]) if verbose else None
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

    return (f"{platform.machine()} {platform.processor() or ''}".strip()
            + f", {os.cpu_count()} CPUs visible, {platform.system()}, "
            f"Python {platform.python_version()}, keras {keras.__version__} "
            f"({keras.backend.backend()} backend)")


def compute_seconds(records):
    """Sum of the records' `job_seconds` (the compute time of a study, resumes included)."""
    return float(sum(r.get("job_seconds", 0.0) for r in records.values()))
