"""The signals: scikit-image's cameraman and Shepp-Logan phantom, and the grid."""

import numpy as np


def _square(image, size):
    from skimage.transform import resize

    if size < 4:
        raise ValueError(f"size must be >= 4 pixels; got {size}.")
    image = np.asarray(image, np.float64)
    if image.max() > 1.0:
        image = image / 255.0
    return np.clip(resize(image, (size, size), anti_aliasing=True), 0.0, 1.0)


def cameraman(size):
    """`skimage.data.camera()` resized to `size x size`, float64 in [0, 1]."""
    from skimage import data

    return _square(data.camera(), size)


def phantom(size):
    """`skimage.data.shepp_logan_phantom()` at `size x size`, in [0, 1]."""
    from skimage import data

    return _square(data.shepp_logan_phantom(), size)


def grid(size):
    """Pixel-centre coordinates in [-1, 1]^2, shape `(size * size, 2)`.

    Row-major like `image.ravel()`: entry `i * size + j` is `(y_i, x_j)`.
    """
    axis = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    y, x = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([y.ravel(), x.ravel()], axis=-1).astype("float32")
