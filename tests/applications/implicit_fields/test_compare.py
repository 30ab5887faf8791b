"""Models at equal parameter count, the resumable comparison and the CLI."""

import json

import numpy as np
import pytest
from keras import ops

from applications.implicit_fields import __main__ as cli
from applications.implicit_fields import compare as compare_lib
from applications.implicit_fields import data
from applications.implicit_fields import fit as fit_lib
from applications.implicit_fields import models


@pytest.mark.parametrize("name", models.MODELS)
def test_models_meet_the_parameter_target(name):
    model, width = models.build(name, 1500, seed=0)
    count = models.trainable_count(model)
    assert abs(count - 1500) <= 0.1 * 1500, (name, width, count)
    out = ops.convert_to_numpy(model(np.zeros((5, 2), "float32")))
    assert out.shape == (5, 1) and np.isfinite(out).all()


@pytest.mark.parametrize("name", models.MODELS)
def test_parameter_formula_counts_the_built_network(name):
    for width in (3, 7):
        built = models.trainable_count(models.network(name, width))
        assert models.parameter_count(name, width) == built


@pytest.mark.parametrize("size", [32, 64, 256])
def test_fourier_features_stay_below_the_grid_nyquist_frequency(size):
    # Regression: a fixed sigma of 5 cycles per unit put 11 % of the 32 px
    # network's frequencies above the grid's Nyquist frequency (size / 4
    # cycles per unit), where they alias; relu_ff then fitted the 32 px
    # cameraman no better than a constant image.
    model = models.network("relu_ff", 4, seed=0, size=size)
    layer = next(
        layer for layer in model.layers if isinstance(layer, models.FourierFeatures)
    )
    frequencies = ops.convert_to_numpy(layer.frequencies)
    assert frequencies.shape == (2, models.FOURIER_FEATURES)
    assert np.mean(np.abs(frequencies) > size / 4) < 0.01
    # ... and they still reach a good part of the band.
    assert np.abs(frequencies).max() > size / 32


@pytest.mark.slow
@pytest.mark.parametrize("name", models.MODELS)
def test_models_start_near_the_scale_of_the_target(name):
    # Regression: apalu_mlp (Glorot kernels, APALU's a, b ~ U(0, 2)) started
    # with outputs of RMS 2.5 to 10 against targets in [-1, 1], and after
    # 200 steps still scored below a constant image.
    coords = data.grid(16)
    rms = [
        np.sqrt(
            np.mean(
                np.square(
                    ops.convert_to_numpy(
                        models.build(name, 1500, seed, size=16)[0](coords)
                    )
                )
            )
        )
        for seed in range(3)
    ]
    assert np.all(np.isfinite(rms)) and np.mean(rms) < 2.5, rms


def test_lrnn_second_layer_inner_weights_follow_siren_hidden_rule():
    # Regression: the second ProductDense layer's inner weights u had the
    # first layer's U(-1, 1), so sin(30 (u z + a)) of its unit-variance
    # inputs z was noise-like (CT images below a constant one). SIREN's
    # hidden-layer rule at fan-in 1 bounds them by sqrt(6) / omega_0.
    import math

    from keras_apalu.layers import ProductDense

    model = models.network("lrnn_sin", 6, seed=0)
    first, second = [
        ops.convert_to_numpy(layer.function_kernel)
        for layer in model.layers
        if isinstance(layer, ProductDense)
    ]
    limit = math.sqrt(6.0) / models.SIREN_OMEGA_0
    assert np.abs(second).max() <= limit
    assert np.abs(second).max() > 0.8 * limit  # uniform, not tiny
    assert np.abs(first).max() > 0.8  # first layer: U(-1, 1)


def test_unknown_model_is_rejected():
    for build in (models.network, models.parameter_count):
        with pytest.raises(ValueError, match="unknown model"):
            build("transformer", 8)


@pytest.mark.slow
def test_comparison_writes_table_and_pictures_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    kwargs = dict(
        model_names=["siren"],
        seeds=[0, 1],
        size=8,
        steps=4,
        params=300,
        eval_every=2,
        angles=4,
        verbose=False,
    )
    rows = compare_lib.compare("ct", tmp_path, **kwargs)
    task_dir = tmp_path / "ct-4"
    table = (task_dir / "results.md").read_text()
    for name in ("siren", "fbp (iradon)"):
        assert f"| {name} |" in table
    for picture in ("reconstructions.png", "curves.png"):
        assert (task_dir / picture).stat().st_size > 0
    runs = [
        json.loads((task_dir / "per_run" / f"{m}_seed{s}.json").read_text())["record"]
        for m in ("siren",)
        for s in (0, 1)
    ]
    assert [len(r["curve"]) for r in runs] == [2] * 2
    psnr = [r["psnr"] for r in runs]
    assert rows[0]["psnr"] == pytest.approx(np.mean(psnr))
    assert rows[0]["psnr_std"] == pytest.approx(np.std(psnr, ddof=1))
    assert (
        f"| siren | 300 | {np.mean(psnr):.2f} ± {np.std(psnr, ddof=1):.2f} |"
        in table.replace(f"| {rows[0]['params']:,} |", "| 300 |")
    )
    # results.json alone rebuilds the table: every run's scores and curve.
    summary = json.loads((task_dir / "results.json").read_text())
    assert [r["psnr"] for r in summary["runs"]] == psnr
    assert summary["rows"][0]["psnr_values"] == psnr

    def no_training(*args, **kwargs):
        raise AssertionError("finished runs must be reused")

    monkeypatch.setattr(fit_lib, "fit", no_training)
    again = compare_lib.compare("ct", tmp_path, **kwargs)
    assert [r["psnr"] for r in again] == [r["psnr"] for r in rows]
    with pytest.raises(ValueError, match="other settings"):
        compare_lib.compare("ct", tmp_path, **{**kwargs, "steps": 6})


def test_quick_mode_and_defaults_of_the_command_line():
    args = cli.parse(["image", "--quick"])
    assert (args.size, args.steps, args.seeds) == (16, 20, [0])
    args = cli.parse(["ct", "--quick", "--steps", "30"])
    assert args.steps == 30 and args.angles == [10]
    args = cli.parse(["ct"])
    assert args.angles == [50, 100] and args.models == list(models.MODELS)
    with pytest.raises(SystemExit):
        cli.parse(["image", "--steps", "25", "--eval-every", "10"])


@pytest.mark.slow
def test_image_command_runs_end_to_end(tmp_path, capsys):
    # On mini-batches of 16 of the 64 pixels: the evaluations render the
    # whole image.
    assert (
        cli.main(
            [
                "image",
                "--quick",
                "--size",
                "8",
                "--steps",
                "4",
                "--eval-every",
                "2",
                "--params",
                "300",
                "--models",
                "relu_ff",
                "--quiet",
                "--no-plots",
                "--batch-pixels",
                "16",
                "--run-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| relu_ff |" in out
    assert "steps of 16 pixels" in (tmp_path / "image" / "results.md").read_text()
    summary = json.loads((tmp_path / "image" / "results.json").read_text())
    assert summary["meta"]["batch_pixels"] == 16
    run = json.loads(
        (tmp_path / "image" / "per_run" / "relu_ff_seed0.json").read_text()
    )["record"]
    assert [row[0] for row in run["curve"]] == [2, 4]
    image = np.load(tmp_path / "image" / "per_run" / "relu_ff_seed0.npy")
    assert image.shape == (8, 8) and np.isfinite(image).all()


def test_pixel_batches_draw_every_pixel_once_per_pass():
    batches = fit_lib._pixel_batches(10, 4, 7, seed=3)
    assert batches.shape == (7, 4)
    flat = batches.ravel()
    for start in range(0, 20, 10):  # two full passes over 10 pixels
        assert sorted(flat[start : start + 10]) == list(range(10))
    assert not np.array_equal(flat[:10], flat[10:20])
    again = fit_lib._pixel_batches(10, 4, 7, seed=3)
    assert np.array_equal(batches, again)


def test_pixel_batches_are_for_the_image_task_and_fit_the_image():
    truth = data.cameraman(8)
    network, _ = models.build("siren", 300, seed=0, size=8)
    with pytest.raises(ValueError, match="image task only"):
        fit_lib.fit(
            network,
            truth,
            truth.ravel(),
            2,
            1e-3,
            2,
            projection=np.ones((3, 64), "float32"),
            verbose=False,
            batch_pixels=16,
        )
    for bad in (0, 65):
        with pytest.raises(ValueError, match="batch_pixels"):
            fit_lib.fit(
                network,
                truth,
                truth.ravel(),
                2,
                1e-3,
                2,
                verbose=False,
                batch_pixels=bad,
            )
