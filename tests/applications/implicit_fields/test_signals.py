"""The signals, the Radon matrix and the scores of the implicit-fields app."""

import numpy as np
import pytest
from keras import ops

from applications.implicit_fields import data
from applications.implicit_fields import projection
from applications.implicit_fields.fit import FieldModel
from applications.implicit_fields.fit import scores


def test_images_are_small_unit_range_squares():
    for image in (data.cameraman(12), data.phantom(12)):
        assert image.shape == (12, 12)
        assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.05
    with pytest.raises(ValueError, match="size"):
        data.cameraman(2)


def test_grid_is_row_major_pixel_centres():
    coords = data.grid(4)
    assert coords.shape == (16, 2)
    np.testing.assert_allclose(coords[1], [-0.75, -0.25])  # row 0, column 1
    np.testing.assert_allclose(coords[4], [-0.25, -0.75])  # row 1, column 0
    np.testing.assert_allclose(coords[-1], [0.75, 0.75])


def test_radon_matrix_reproduces_skimage_radon(rng, tmp_path):
    from skimage.transform import radon

    theta = projection.angles(6)
    np.testing.assert_allclose(theta, [0, 30, 60, 90, 120, 150])
    matrix = projection.radon_matrix(8, theta, cache_dir=tmp_path, progress=False)
    image = rng.uniform(0, 1, (8, 8))
    want = radon(image, theta=theta, circle=False)
    np.testing.assert_allclose(
        matrix @ image.ravel(), want.ravel(), rtol=1e-5, atol=1e-5
    )
    # Cached, and the cache is reused.
    assert len(list(tmp_path.glob("radon_8_6_*.npy"))) == 1
    again = projection.radon_matrix(8, theta, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again, matrix)


def test_ct_targets_and_cached_matrices_differ_per_angle_set(tmp_path):
    # Guards the suspicion raised by equal CT scores at 50 and 100 angles:
    # the task's sinogram and Radon matrix are those of its own angles, also
    # when both sets share the cache (the 3 angles are a subset of the 6).
    from applications.implicit_fields.compare import task_signals

    signals = {n: task_signals("ct", 8, n, cache_dir=tmp_path) for n in (3, 6)}
    (_, target3, matrix3, theta3), (_, target6, matrix6, theta6) = (
        signals[3],
        signals[6],
    )
    assert matrix3.shape[0] * 2 == matrix6.shape[0] == target6.size
    assert len(list(tmp_path.glob("radon_8_*.npy"))) == 2
    # Angles 0, 60, 120 are columns 0, 2, 4 of the 6-angle sinogram.
    np.testing.assert_allclose(theta6[::2], theta3)
    np.testing.assert_allclose(
        target6.reshape(-1, 6)[:, ::2].ravel(), target3, rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        matrix6.reshape(-1, 6, 64)[:, ::2].reshape(-1, 64),
        matrix3,
        rtol=1e-6,
        atol=1e-6,
    )
    assert not np.allclose(target6.reshape(-1, 6)[:, 1::2].ravel(), target3)


def test_field_model_projects_its_image_with_the_matrix(rng):
    import keras

    theta = projection.angles(5)
    matrix = projection.radon_matrix(6, theta, progress=False)
    network = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(8, "tanh"), keras.layers.Dense(1)]
    )
    field = FieldModel(network, data.grid(6), matrix)
    image = ops.convert_to_numpy(field.image()).astype(np.float64)
    np.testing.assert_allclose(
        image.ravel(),
        0.5 * (ops.convert_to_numpy(network(data.grid(6))).ravel() + 1.0),
        rtol=1e-6,
    )
    sino = ops.convert_to_numpy(field(np.zeros((3, 1), "float32")))
    assert sino.shape == (3, matrix.shape[0])
    want = projection.sinogram(image.reshape(6, 6), theta).ravel()
    np.testing.assert_allclose(sino[2], want, rtol=1e-4, atol=1e-4)


def test_scores_are_psnr_and_ssim_of_the_clipped_estimate(rng):
    truth = rng.uniform(0, 1, (16, 16))
    noisy = truth + rng.normal(0, 0.05, truth.shape)
    psnr, ssim = scores(truth, noisy)
    mse = np.mean((np.clip(noisy, 0, 1) - truth) ** 2)
    assert psnr == pytest.approx(10 * np.log10(1.0 / mse))
    assert 0.0 < ssim < 1.0
    assert scores(truth, truth + 0.5)[0] < psnr


def test_fbp_baseline_recovers_the_phantom_roughly():
    truth = data.phantom(32)
    theta = projection.angles(60)
    fbp = projection.filtered_back_projection(
        projection.sinogram(truth, theta), theta, 32
    )
    assert fbp.shape == (32, 32)
    assert scores(truth, fbp)[0] > 15.0
