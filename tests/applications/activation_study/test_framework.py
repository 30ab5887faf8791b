"""The activation study's framework: run folders, statistics, datasets, activations."""

import json
import math

import keras
import numpy as np
import pytest
from scipy import stats as scipy_stats

from applications.activation_study import activations
from applications.activation_study import data
from applications.activation_study import report
from applications.common import stats


# -- statistics and the report (run folders and statistics themselves: ----
# tests/applications/common) --------------------------------------------------
def _welch_reference(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    t = (x.mean() - y.mean()) / math.sqrt(vx + vy)
    dof = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    return 2.0 * scipy_stats.t.sf(abs(t), dof)


@pytest.mark.backend_independent
def test_comparison_table_marks_the_best_and_tests_against_references():
    values = {
        "relu": [1.0, 1.2, 1.1],
        "gelu": [0.5, 0.6, 0.55],
        "apalu": [0.9, 1.0, 0.95],
    }
    lower = report.comparison_table(values, "loss", higher_is_better=False)
    rows = {line.split("|")[1].strip(): line for line in lower.splitlines()[2:]}
    assert "**0.5500 ± 0.0500**" in rows["gelu"]
    assert "**" not in rows["relu"] + rows["apalu"]
    p_relu = stats.format_p(_welch_reference(values["apalu"], values["relu"]))
    p_gelu = stats.format_p(_welch_reference(values["apalu"], values["gelu"]))
    assert rows["apalu"].endswith(f"| 3 | {p_relu} | {p_gelu} |")
    assert rows["relu"].split("|")[4].strip() == "-"
    higher = report.comparison_table(values, "accuracy", higher_is_better=True)
    assert "**1.1000 ± 0.1000**" in higher
    assert stats.format_p(0.0004) == "<0.001" and stats.format_p(None) == "-"
    one_seed = report.comparison_table(
        {"relu": [1.0], "apalu": [0.9, 0.8]}, "loss", False
    )
    assert "| relu | 1.0000 (n=1) | 1 | - | - |" in one_seed
    assert "| apalu | **0.8500 ± 0.0707** | 2 | - | - |" in one_seed


@pytest.mark.backend_independent
def test_write_results_writes_markdown_and_json(tmp_path):
    path = report.write_results(
        tmp_path / "r",
        "Title",
        [("Table", "| a |\n|---|")],
        {"x": np.float32(1.5), "y": np.arange(2)},
        "python -m x",
        "1 min on 2 cores",
    )
    text = path.read_text()
    assert text.startswith("# Title\n") and "python -m x" in text
    assert "Budget: 1 min on 2 cores" in text and "## Table\n\n| a |" in text
    payload = json.loads((tmp_path / "r" / "results.json").read_text())
    assert payload["data"] == {"x": 1.5, "y": [0, 1]}
    assert payload["command"] == "python -m x"


# -- datasets ---------------------------------------------------------------
def test_digits_split_is_stratified_and_scaled():
    d = data.digits(seed=1)
    sizes = [len(d[f"y_{p}"]) for p in ("train", "val", "test")]
    assert sizes == [1077, 360, 360] and d["num_classes"] == 10
    assert d["x_train"].dtype == np.float32 and d["y_train"].dtype == np.int32
    assert d["x_train"].min() >= 0.0 and d["x_train"].max() <= 1.0
    for part in ("train", "test"):
        counts = (
            np.bincount(d[f"y_{part}"], minlength=10)
            / sizes[0 if part == "train" else 2]
        )
        np.testing.assert_allclose(counts, 0.1, atol=0.01)
    assert not np.array_equal(data.digits(seed=2)["y_test"], d["y_test"])


def test_regression_data_is_standardised_with_training_statistics():
    d = data.diabetes(seed=0)
    assert d["task"] == "regression" and d["x_train"].shape[1] == 10
    assert len(d["y_train"]) + len(d["y_val"]) + len(d["y_test"]) == 442
    assert abs(float(d["y_train"].mean())) < 1e-5
    assert float(d["y_train"].std()) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(d["x_train"].mean(axis=0), 0.0, atol=1e-5)


def test_synthetic_regression_noise_only_on_training_and_validation():
    clean = data.synthetic_regression(seed=3, n=500, noise=0.0)
    noisy = data.synthetic_regression(seed=3, n=500, noise=0.2)
    np.testing.assert_array_equal(clean["y_test"], noisy["y_test"])
    np.testing.assert_array_equal(clean["x_train"], noisy["x_train"])
    residual = noisy["y_train"].astype(np.float64) - clean["y_train"]
    assert residual.std() == pytest.approx(0.2, rel=0.15)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        data.synthetic_regression(noise=-1)


@pytest.mark.slow
def test_sign_language_fraction_keeps_whole_training_signers(sign_language_dir):
    full = data.sign_language(
        image_size=16, train_fraction=1.0, data_dir=sign_language_dir
    )
    part = data.sign_language(
        image_size=16, train_fraction=0.25, seed=4, data_dir=sign_language_dir
    )
    assert part["x_train"].shape[1:] == (16, 16, 1) and part["x_train"].max() <= 1.0
    total = full["train_signers_total"]
    assert len(full["signers_train"]) == total
    assert len(part["signers_train"]) == max(1, round(0.25 * total))
    kept = set(part["signers_train"])
    assert kept <= set(full["signers_train"])
    # Whole signers: every training image of a kept signer is there, no other.
    assert set(part["signers"]["train"]) == kept
    assert len(part["y_train"]) == int(
        np.isin(full["signers"]["train"], list(kept)).sum()
    )
    # Validation and test: unchanged, and no signer of them in training.
    for other in ("val", "test"):
        np.testing.assert_array_equal(part[f"y_{other}"], full[f"y_{other}"])
        assert not kept & set(part["signers"][other])
        assert not set(full["signers"]["train"]) & set(full["signers"][other])
    with pytest.raises(ValueError, match="train_fraction"):
        data.sign_language(train_fraction=0.0, data_dir=sign_language_dir)


# -- activations ------------------------------------------------------------
def test_every_activation_is_a_fresh_layer_that_runs():
    from keras_apalu import initialization
    from keras_apalu.layers import APALU

    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    for name in activations.ACTIVATIONS:
        first, second = (
            activations.make_activation(name),
            activations.make_activation(name),
        )
        assert first is not second
        assert keras.ops.convert_to_numpy(first(x)).shape == (3, 4)
    fit = activations.make_activation("apalu_fit")
    fit.build((None, 4))
    a, b = (keras.ops.convert_to_numpy(v) for v in fit.slopes())
    expected = initialization.fit("gelu")
    np.testing.assert_allclose(a, expected.a, rtol=1e-6)
    np.testing.assert_allclose(b, expected.b, rtol=1e-6)
    smooth = activations.make_activation("apalu_smooth")
    assert isinstance(smooth, APALU) and smooth.smooth
    layer = activations.make_activation("prelu", shared_axes=[1, 2])
    assert list(layer.shared_axes) == [1, 2]
    with pytest.raises(ValueError, match="Unknown activation 'swishy'"):
        activations.make_activation("swishy")
    with pytest.raises(ValueError, match="Unknown activation"):
        activations.check_names(["relu", "nope"])
