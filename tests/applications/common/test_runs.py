"""The shared run store: pinned settings, atomic records, resuming."""

import json

import pytest

from applications.common import runs
from applications.common.errors import UsageError

pytestmark = pytest.mark.backend_independent


def test_run_folder_refuses_other_settings_and_names_them(tmp_path):
    runs.RunFolder(tmp_path, {"epochs": 3, "depths": (4, 8), "lr": 0.1})
    # The same settings (a tuple read back as a list) are accepted.
    runs.RunFolder(tmp_path, {"epochs": 3, "depths": [4, 8], "lr": 0.1})
    with pytest.raises(
        UsageError, match=r"other settings \(changed: depths, extra\)"
    ) as caught:
        runs.RunFolder(tmp_path, {"epochs": 3, "depths": [4], "lr": 0.1, "extra": 1})
    assert caught.value.exit_status == 2 and "--run-dir" in caught.value.hint
    # The refused call changed nothing.
    assert json.loads((tmp_path / "settings.json").read_text()) == {
        "depths": [4, 8],
        "epochs": 3,
        "lr": 0.1,
    }


def test_unwritable_run_folder_is_a_usage_error_naming_it(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(
        UsageError, match="cannot write the run folder .*a_file"
    ) as caught:
        runs.RunFolder(blocker / "run", {"a": 1})
    assert "--run-dir" in caught.value.hint


def test_corrupt_settings_file_is_a_usage_error(tmp_path):
    (tmp_path / "settings.json").write_text("{trunc")
    with pytest.raises(UsageError, match="settings.json is not valid JSON"):
        runs.RunFolder(tmp_path, {"a": 1})


def test_records_are_written_atomically_and_read_back(tmp_path):
    folder = runs.RunFolder(tmp_path, {"a": 1})
    folder.put("x/1 y", {"value": [1, 2]})
    assert folder.has("x/1 y") and not folder.has("x/2")
    assert folder.get("x/1 y") == {"value": [1, 2]}
    # One file per record, keys quoted into safe file names, no leftovers.
    names = sorted(p.name for p in (tmp_path / "per_run").iterdir())
    assert names == ["x%2F1%20y.json"]
    assert folder.side_file("x/1 y", ".npy").name == "x%2F1%20y.npy"
    folder.write_text("results.md", "# table\n")
    assert (tmp_path / "results.md").read_text() == "# table\n"
    assert not list(tmp_path.rglob("*.partial"))
    with pytest.raises(ValueError, match="non-empty string"):
        folder.put("", {})


def test_run_jobs_runs_only_missing_jobs_and_resumes(tmp_path):
    calls = []

    def job(value):
        def run():
            calls.append(value)
            return {"value": value}

        return run

    folder = runs.RunFolder(tmp_path, {"a": 1})
    folder.put("x/1", {"value": 10})  # finished by an earlier run
    jobs = [("x/1", job(1)), ("x/2", job(2)), ("y 3", job(3))]
    results = runs.run_jobs(folder, jobs, verbose=False)
    assert calls == [2, 3]
    assert results["x/1"] == {"value": 10}
    assert results["x/2"]["value"] == 2 and results["x/2"]["job_seconds"] >= 0
    assert set(folder.records()) == {"x/1", "x/2", "y 3"}
    # A rerun of the same study runs nothing and returns the same records.
    again = runs.run_jobs(runs.RunFolder(tmp_path, {"a": 1}), jobs, verbose=False)
    assert calls == [2, 3] and again == results
    assert not list(tmp_path.rglob("*.partial"))
    with pytest.raises(KeyError, match="No finished run"):
        folder.get("missing")
    with pytest.raises(ValueError, match="unique"):
        runs.run_jobs(folder, [("k", job(1)), ("k", job(2))], verbose=False)


@pytest.mark.parametrize("stop", [RuntimeError("diverged"), KeyboardInterrupt()])
def test_an_interrupted_study_loses_only_the_job_in_flight(tmp_path, stop):
    folder = runs.RunFolder(tmp_path, {})
    calls = []

    def fails():
        calls.append("b")
        raise stop

    jobs = [
        ("a", lambda: calls.append("a") or {"v": 1}),
        ("b", fails),
        ("c", lambda: calls.append("c") or {"v": 3}),
    ]
    with pytest.raises(type(stop)):
        runs.run_jobs(folder, jobs, verbose=False)
    assert set(folder.records()) == {"a"} and not folder.has("b")
    jobs[1] = ("b", lambda: calls.append("b") or {"v": 2})
    assert [r["v"] for r in runs.run_jobs(folder, jobs, verbose=False).values()] == [
        1,
        2,
        3,
    ]
    assert calls == ["a", "b", "b", "c"]
