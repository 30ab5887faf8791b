"""The data: a fixed subset of scikit-learn's bundled 8x8 handwritten digits.

1797 images of 8x8 pixels (values 0-16) ship inside scikit-learn, so no
download is needed. `digits(n, seed)` draws n images (stratified: the same
number per class up to rounding), scales the pixels to [0, 1] and centres
every pixel over the whole set; inputs are 64-vectors, labels 0-9.
"""

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def _load():
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "neural_ode needs scikit-learn for its bundled 8x8 digits: "
            "pip install scikit-learn (or the project's [app] extra)."
        ) from error
    bunch = load_digits()
    return bunch.data, bunch.target


def digits(n, seed=0, dtype="float32"):
    """`(x, y)`: n digits as an (n, 64) float array and integer labels.

    Args:
        n: number of samples, 10 <= n <= 1797.
        seed: seed of the draw (the same seed gives the same subset).
        dtype: the dtype of x.
    """
    images, labels = _load()
    if not 10 <= int(n) <= len(labels):
        raise ValueError(f"neural_ode: n must be in 10..{len(labels)}; got {n}.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    # Interleave the classes so that every prefix is (nearly) balanced.
    rank = np.empty(len(labels), dtype=int)
    for digit in range(10):
        members = order[labels[order] == digit]
        rank[members] = np.arange(len(members)) * 10 + digit
    chosen = np.argsort(rank, kind="stable")[: int(n)]
    chosen = np.sort(chosen)
    x = images[chosen] / 16.0
    x = x - images.mean(axis=0) / 16.0
    return x.astype(dtype), labels[chosen].astype("int32")
