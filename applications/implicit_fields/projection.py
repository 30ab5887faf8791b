"""Parallel-beam CT: scikit-image's Radon transform as a matrix, and FBP.

`skimage.transform.radon` rotates the image (bilinear interpolation) and sums
its columns, which is linear in the image, so its matrix is the Radon
transform of the basis images: column `k` is `radon(e_k)`. Applying the matrix
with `keras.ops.matmul` gives the differentiable projection the networks are
fitted through, identical (to rounding) to the sinogram scikit-image computes
from the phantom. `circle=False`: the image is padded to its diagonal, so
every pixel is seen by the rays.
"""

import hashlib
import pathlib

import numpy as np


def angles(count):
    """`count` projection angles in degrees, evenly spaced over [0, 180)."""
    if count < 1:
        raise ValueError(f"the number of angles must be >= 1; got {count}.")
    return np.linspace(0.0, 180.0, count, endpoint=False)


def sinogram(image, theta):
    """`radon(image, theta, circle=False)`, shape `(detectors, len(theta))`."""
    from skimage.transform import radon

    return radon(np.asarray(image, np.float64), theta=theta, circle=False)


def radon_matrix(size, theta, cache_dir=None, progress=True):
    """Dense float32 matrix `A` with `A @ image.ravel() == sinogram.ravel()`.

    Shape `(detectors * len(theta), size * size)`, rows in the order of
    `sinogram(image, theta).ravel()` (detector-major). Built from the Radon
    transform of each basis image (`size**2` calls of `radon`); with
    `cache_dir` it is stored there as `.npy` and reused.
    """
    theta = np.asarray(theta, np.float64)
    path = None
    if cache_dir is not None:
        key = hashlib.sha1(theta.round(9).tobytes()).hexdigest()[:10]
        path = pathlib.Path(cache_dir) / f"radon_{size}_{len(theta)}_{key}.npy"
        if path.exists():
            return np.load(path)
    basis = np.zeros((size, size))
    columns = []
    bar = None
    if progress:
        import keras

        print(
            f"Radon matrix {size}x{size}, {len(theta)} angles "
            f"({size * size} basis images):"
        )
        bar = keras.utils.Progbar(size * size)
    for k in range(size * size):
        basis.flat[k] = 1.0
        columns.append(sinogram(basis, theta).ravel().astype("float32"))
        basis.flat[k] = 0.0
        if bar is not None and (k + 1) % size == 0:
            bar.update(k + 1)
    matrix = np.stack(columns, axis=1)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, matrix)
        tmp.replace(path)
    return matrix


def filtered_back_projection(sino, theta, size):
    """The classical baseline: `iradon` with the ramp filter, `size x size`."""
    from skimage.transform import iradon

    return iradon(sino, theta=theta, filter_name="ramp", circle=False, output_size=size)
