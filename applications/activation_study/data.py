"""The study's datasets, as dicts of numpy arrays.

Every loader returns `x_train, y_train, x_val, y_val, x_test, y_test`
(float32 inputs; int32 labels for classification, float32 targets for
regression), `task` (`"classification"` or `"regression"`) and, for
classification, `num_classes`. Every dataset ships with the project or a
dependency: scikit-learn's bundled digits and diabetes data, a synthetic
function, and the Sign Language Digits images (`applications.sign_language`).
"""

import numpy as np

#: Shares of the validation and test parts of the sklearn datasets.
VAL_FRACTION = 0.2
TEST_FRACTION = 0.2


def _three_way(n, seed, stratify=None):
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    rest, test = train_test_split(
        index,
        test_size=TEST_FRACTION,
        random_state=seed,
        stratify=None if stratify is None else stratify,
    )
    train, val = train_test_split(
        rest,
        test_size=VAL_FRACTION / (1.0 - TEST_FRACTION),
        random_state=seed,
        stratify=None if stratify is None else stratify[rest],
    )
    return train, val, test


def _pack(x, y, parts, task, **extra):
    data = {"task": task, **extra}
    for name, index in zip(("train", "val", "test"), parts):
        data[f"x_{name}"] = x[index]
        data[f"y_{name}"] = y[index]
    return data


def digits(seed=0):
    """scikit-learn's 8x8 digits (1797 images, 64 inputs, 10 classes).

    Pixel values 0..16 are scaled to [0, 1]; the split is stratified,
    60 / 20 / 20 % (1077 / 360 / 360 images), chosen by `seed`.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int32)
    return _pack(
        x, y, _three_way(len(y), seed, stratify=y), "classification", num_classes=10
    )


def _standardise(data):
    """Scales x and y by the training part's mean and std (in place)."""
    x_mean = data["x_train"].mean(axis=0)
    x_std = data["x_train"].std(axis=0)
    x_std = np.where(x_std > 0, x_std, 1.0)
    y_mean, y_std = data["y_train"].mean(), data["y_train"].std()
    for name in ("train", "val", "test"):
        data[f"x_{name}"] = ((data[f"x_{name}"] - x_mean) / x_std).astype(np.float32)
        data[f"y_{name}"] = ((data[f"y_{name}"] - y_mean) / y_std).astype(np.float32)
    data["y_scale"] = float(y_std)
    return data


def diabetes(seed=0):
    """scikit-learn's diabetes regression data (442 patients, 10 inputs).

    Random 60 / 20 / 20 % split by `seed` (265 / 88 / 89); x and y are
    standardised with the training part's mean and std, so an MSE of 1 is
    that of predicting the training mean. `y_scale` is the std of y used.
    """
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    x = bunch.data.astype(np.float64)
    y = bunch.target.astype(np.float64)
    return _standardise(_pack(x, y, _three_way(len(y), seed), "regression"))


def synthetic_regression(seed=0, n=2000, noise=0.1):
    """A smooth nonlinear function of 5 inputs plus Gaussian noise.

    Friedman's function #1 (`sklearn.datasets.make_friedman1`, inputs
    uniform on [0, 1]^5):

        f(x) = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5

    x and f are standardised with the training part's statistics, then
    Gaussian noise of std `noise` (in units of f's std) is added to the
    TRAINING and VALIDATION targets only: the test targets are noise-free,
    so the test MSE is the error in learning f itself (0 is perfect).
    Split 60 / 20 / 20 % by `seed`, which also draws the inputs and noise.
    """
    from sklearn.datasets import make_friedman1

    if n < 10:
        raise ValueError(f"synthetic_regression needs n >= 10; got {n}.")
    if noise < 0:
        raise ValueError(f"noise must be >= 0; got {noise}.")
    x, y = make_friedman1(n_samples=n, n_features=5, noise=0.0, random_state=seed)
    data = _standardise(_pack(x, y, _three_way(n, seed), "regression"))
    rng = np.random.default_rng(seed + 1)
    for name in ("train", "val"):
        target = data[f"y_{name}"]
        data[f"y_{name}"] = (target + noise * rng.standard_normal(target.shape)).astype(
            np.float32
        )
    data["noise"] = float(noise)
    return data


def sign_language(
    image_size=32,
    train_fraction=1.0,
    seed=0,
    data_dir=None,
    cache_dir=None,
    verify=True,
):
    """The Sign Language Digits images with the application's signer split.

    The split is the sign-language application's (`split.make_split`,
    method "signer", 15 % val, 15 % test, split seed 0): fixed, whatever
    `seed`. `train_fraction` keeps that fraction of the TRAINING SIGNERS
    (rounded, at least one), drawn with `seed`; validation and test are
    always the whole parts, so their signers never meet the training ones.

    Args:
        image_size: side of the square grey images (scaled to [0, 1], shape
            `(N, image_size, image_size, 1)`).
        train_fraction: share of the training signers kept, in (0, 1].
        seed: which training signers are kept (unused at 1.0).
        data_dir: dataset folder; default as the application's
            `resolve_data_dir` (environment variable, Keras cache, download).
        cache_dir: decoded-image cache folder (default the application's).
        verify: check the images against the application's SHA-256 manifest.

    Returns:
        The dict described in the module docstring, plus `signers_train`
        (the training signer ids kept) and `train_signers_total`.
    """
    from applications.sign_language import data as app_data
    from applications.sign_language import split as app_split

    if not 0.0 < float(train_fraction) <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1]; got {train_fraction}.")
    root = app_data.resolve_data_dir(data_dir)
    files = app_data.verified_files(root) if verify else None
    loaded = app_data.load_dataset(
        root, image_size, "grayscale", cache_dir=cache_dir, files=files
    )
    record = app_split.make_split(
        loaded["files"], loaded["labels"], "signer", 0.15, 0.15, seed=0
    )
    parts = app_split.indices_of(record, loaded["files"])
    signers = app_split.signer_groups(loaded["files"], loaded["labels"])
    train_signers = np.asarray(record["train"]["signers"])
    keep_count = max(1, int(round(float(train_fraction) * len(train_signers))))
    kept = np.sort(np.random.default_rng(seed).permutation(train_signers)[:keep_count])
    train = parts["train"][np.isin(signers[parts["train"]], kept)]
    x = loaded["images"].astype(np.float32) / 255.0
    y = loaded["labels"].astype(np.int32)
    data = _pack(
        x, y, (train, parts["val"], parts["test"]), "classification", num_classes=10
    )
    data["signers_train"] = kept.tolist()
    data["train_signers_total"] = int(len(train_signers))
    data["signers"] = {
        "train": signers[train],
        "val": signers[parts["val"]],
        "test": signers[parts["test"]],
    }
    return data
