import dataclasses
import json

import numpy as np
import pytest

from applications.sign_language import compare as compare_lib

# The run store and the statistics table (training on each backend: test_train.py);
# runs in one backend's pass only (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


def test_compare_writes_table_and_plot_and_reuses_runs(
    tiny_config, tmp_path, monkeypatch
):
    config = tiny_config(epochs=1, plots=False)
    out = tmp_path / "compare"
    summary = compare_lib.compare(config, ["apalu", "relu"], [0, 1], out, command="cmd")
    table = (out / "results.md").read_text()
    assert "| apalu |" in table and "| relu |" in table and "`cmd`" in table
    assert "apalu − relu" in table
    assert (out / "comparison.png").stat().st_size > 0
    runs = json.loads((out / "results.json").read_text())["runs"]
    for row in summary:
        accs = [r["test_accuracy"] for r in runs[row["activation"]]]
        assert row["acc_mean"] == pytest.approx(np.mean(accs))
        assert row["acc_std"] == pytest.approx(np.std(accs, ddof=1))
    assert [r["seed"] for r in runs["relu"]] == [0, 1]
    # Every run shares the split: same test files.
    tests = {
        (out / a / f"seed{s}" / "split.json").read_text()
        for a in ("apalu", "relu")
        for s in (0, 1)
    }
    assert len(tests) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("finished runs must be reused")

    monkeypatch.setattr(compare_lib, "train", no_training)
    again = compare_lib.compare(config, ["apalu", "relu"], [0, 1], out)
    assert [r["acc_mean"] for r in again] == [r["acc_mean"] for r in summary]
    with pytest.raises(ValueError, match="other settings"):
        compare_lib.compare(
            dataclasses.replace(config, image_size=32), ["relu"], [0], out
        )
