"""keras_apalu.plotting: the drawn curves are APALU's (float64 reference)."""

import json

import keras
import numpy as np
import pytest

from keras_apalu import plotting
from keras_apalu.layers import APALU
from tests import reference

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _record():
    return {
        "layers": ["first", "second"],
        "stats": {
            str(e): {
                name: {
                    p: {
                        "mean": 0.5 + 0.1 * e + k,
                        "min": 0.1 * e,
                        "max": 1.0 + 0.1 * e + k,
                    }
                    for p in ("a", "b")
                }
                for k, name in enumerate(["first", "second"])
            }
            for e in range(3)
        },
        "epochs": {
            "0": {
                "first": {"a": [0.5, 0.7], "b": [1.0, 1.2]},
                "second": {"a": [0.3], "b": [0.4]},
            },
            "2": {
                "first": {"a": [0.9, 0.6], "b": [0.8, 1.5]},
                "second": {"a": [1.1], "b": [0.2]},
            },
        },
    }


def test_curves_from_a_record_file(tmp_path):
    path = tmp_path / "record.json"
    path.write_text(json.dumps(_record()))
    out = tmp_path / "curves.png"
    figure = plotting.plot_apalu_curves(path, out, x_range=(-3.0, 3.0), points=50)
    assert out.read_bytes()[:8] == PNG_MAGIC
    axes = [axis for axis in figure.axes if axis.lines]
    assert [axis.get_title() for axis in axes] == ["first", "second"]
    lines = axes[0].lines
    # Two channels (thin), the mean of the last epoch (thick), the first (dashed).
    assert len(lines) == 4
    x = lines[2].get_xdata()
    np.testing.assert_allclose(x, np.linspace(-3, 3, 50))
    np.testing.assert_allclose(lines[0].get_ydata(), reference.apalu(x, 0.9, 0.8))
    np.testing.assert_allclose(lines[1].get_ydata(), reference.apalu(x, 0.6, 1.5))
    np.testing.assert_allclose(lines[2].get_ydata(), reference.apalu(x, 0.75, 1.15))
    np.testing.assert_allclose(lines[3].get_ydata(), reference.apalu(x, 0.6, 1.1))
    assert "epoch 2" in lines[2].get_label() and lines[3].get_label() == "epoch 0"


def test_curves_of_a_model_show_its_current_slopes():
    model = keras.Sequential(
        [
            keras.Input((4, 4, 3)),
            APALU(shared_axes=[1, 2], name="per_channel"),
            APALU(smooth=True, shared_axes="all", name="smooth"),
        ]
    )
    figure = plotting.plot_apalu_curves(model, points=30)
    axes = [axis for axis in figure.axes if axis.lines]
    assert len(axes) == 2
    a = keras.ops.convert_to_numpy(model.layers[0].a).ravel()
    b = keras.ops.convert_to_numpy(model.layers[0].b).ravel()
    lines = axes[0].lines
    assert len(lines) == 3 + 1  # three channels and their mean
    x = lines[0].get_xdata()
    for k in range(3):
        np.testing.assert_allclose(
            lines[k].get_ydata(), reference.apalu(x, a[k], b[k]), rtol=1e-6
        )
    a_smooth = float(keras.ops.convert_to_numpy(model.layers[1].a).ravel()[0])
    np.testing.assert_allclose(
        axes[1].lines[-1].get_ydata(),
        reference.apalu(x, a_smooth, 1.5 * a_smooth),
        rtol=1e-6,
    )


def test_evolution_draws_the_recorded_statistics(tmp_path):
    out = tmp_path / "evolution.png"
    figure = plotting.plot_apalu_evolution(_record(), out)
    assert out.read_bytes()[:8] == PNG_MAGIC
    axes = [axis for axis in figure.axes if axis.lines]
    assert len(axes) == 2
    a_line, b_line = axes[1].lines
    np.testing.assert_allclose(a_line.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(a_line.get_ydata(), [1.5, 1.6, 1.7])
    assert b_line.get_label() == "b"
    assert len(axes[1].collections) == 2  # the min-max bands


def test_errors():
    empty = {"layers": [], "epochs": {}, "stats": {}}
    with pytest.raises(ValueError, match="no APALU layer"):
        plotting.plot_apalu_curves(empty)
    with pytest.raises(ValueError, match="no APALU statistics"):
        plotting.plot_apalu_evolution({"layers": ["x"], "epochs": {}})
