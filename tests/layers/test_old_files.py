""".keras files saved by keras_apalu 0.1.0 load, on every backend, and give
the outputs they gave when saved (fixtures written by
tests/layers/fixtures/make_fixtures.py with the 0.1.0 code)."""

import pathlib

import keras
import numpy as np
import pytest
from keras import ops

from keras_apalu import layers
from tests import reference

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
FILES = sorted(FIXTURES.glob("*/*.keras"))

#: What each 0.1.0 file's first layer loads as (the second has defaults).
LOADS_AS = {
    "fused_elementwise": "fused",
    "ops_channel_smooth": "plain",
    "autodiff_all": "plain",
    "custom_gradient_true_channel": "fused",
    "custom_gradient_false_elementwise_smooth": "plain",
    "one_exp_all_smooth": "fused",
    "ops_elementwise": "plain",
    "autodiff_channel_smooth": "plain",
    "legacy_custom_gradient_false": "plain",
    "legacy_custom_gradient_true": "fused",
}


def test_every_fixture_is_listed():
    assert len(FILES) >= 12
    assert {path.stem for path in FILES} == set(LOADS_AS)


def _slopes(layer):
    a = np.asarray(ops.convert_to_numpy(layer.a), np.float64)
    if layer.smooth:
        return a, 1.5 * a
    return a, np.asarray(ops.convert_to_numpy(layer.b), np.float64)


@pytest.mark.parametrize(
    "path", FILES, ids=[f"{p.parent.name}-{p.stem}" for p in FILES]
)
def test_old_file_loads_and_gives_its_saved_outputs(path):
    model = keras.saving.load_model(path)
    first, second = [l for l in model.layers if isinstance(l, layers.APALU)]
    assert first.implementation == LOADS_AS[path.stem]
    if path.stem == "legacy_custom_gradient_false":
        assert second.implementation == "plain"
    else:
        assert second.implementation == "fused"
    for layer in (first, second):
        config = layer.get_config()
        assert "custom_gradient" not in config
        assert config["implementation"] in ("fused", "plain")
    x = np.load(path.parent / "input.npy")
    want = np.load(path.with_name(path.stem + ".output.npy"))
    got = ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # ... and what was saved is APALU of the loaded weights (float64 NumPy).
    expected = reference.apalu(reference.apalu(x, *_slopes(first)), *_slopes(second))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
